// The one export surface of the kernels module. Every kernel is a pure function over linear
// memory (layout.ts); the host reads the layout, statuses and counter indices through the
// exported constants. Each concern keeps its own block below.

export * from './layout';
export * from './status';
export * from './counters';

// Queue state shared by every ring (netif/ring.ts).
export { QS_TX_REQ_CONS, QS_TX_RSP_PROD_PVT, QS_RX_REQ_CONS, QS_RX_RSP_PROD_PVT, QS_FLAGS, QS_FATAL_STATUS, QS_FLAG_DISABLED } from './netif/ring';

// Raw Internet checksum (csum/inet.ts).
export { inet_checksum, bench_inet_checksum } from './csum/inet';

// Header parsing shared by checksum setup, segmentation and hashing (net/).
export { parse_headers } from './net/headers';

// Checksum offload: checksum setup, completion, GSO fix-up; virtio_net_hdr mapping (csum/offload.ts, vnet.ts).

// Segmentation (gso/tso.ts).
export { tso_segment, tso_resume_offset, bench_tso, SEG_HEADROOM } from './gso/tso';

// Guest TX ring: attach, build, commit, multicast list (netif/ring.ts, netif/tx.ts, netif/extra.ts).

// Guest RX ring: attach, pack, commit (netif/rx.ts).

// Toeplitz hashing (hash/toeplitz.ts).

// The end of the compiler's static data, so the host can check it stays below LAYOUT_BASE.
export function static_data_end(): usize {
  return __heap_base;
}
