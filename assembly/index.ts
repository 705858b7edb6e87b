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
export {
  csum_complete, csum_fill, csum_setup, csum_setup_start, csum_setup_offset, bench_csum_complete,
  QS_OFFLOAD_INFO, QS_CSUM_START, QS_CSUM_FIELD, QS_VNET_OUT,
} from './csum/offload';
export {
  vnet_from_netif, vnet_to_netif, VNETH_FLAGS, VNETH_GSO_TYPE, VNETH_HDR_LEN, VNETH_GSO_SIZE, VNETH_CSUM_START,
  VNETH_CSUM_OFF, VNETH_SIZE, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_GSO_ECN, VNET_OPT_NO_TAP_CSUM, FRONTEND_CSUM_V4, FRONTEND_CSUM_V6, FRONTEND_GSO_V4, FRONTEND_GSO_V6,
  FRONTEND_SG, VNET_OUT_FLAGS, VNET_OUT_GSO_TYPE, VNET_OUT_SEGMENT, VNET_OUT_GSO_SIZE, VNET_OUT_L4, VNET_OUT_HDR_LEN,
  VNET_OUT_SW_CSUM, VNET_OUT_SIZE,
} from './vnet';

// Segmentation (gso/tso.ts).

// Guest TX ring: attach, build, commit, multicast list (netif/ring.ts, netif/tx.ts, netif/extra.ts).

// Guest RX ring: attach, pack, commit (netif/rx.ts).

// Toeplitz hashing (hash/toeplitz.ts).

// The end of the compiler's static data, so the host can check it stays below LAYOUT_BASE.
export function static_data_end(): usize {
  return __heap_base;
}
