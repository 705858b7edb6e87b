// The one export surface of the kernels module. Every kernel is a pure function over linear
// memory (layout.ts); the host reads the layout, statuses and counter indices through the
// exported constants. Each concern keeps its own block below.

export * from './layout';
export * from './status';
export * from './counters';

// The grant-copy op format both ring plans use (netif/defs.ts).
export { GNTOP_SIZE, GNTOP_GREF, GNTOP_GUEST_OFFSET as GNTOP_GUEST_OFF, GNTOP_LEN, GNTOP_LOCAL, GNTOP_STATUS, GNTOP_FLAGS, GNTOP_F_TO_GUEST } from './netif/defs';

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
export { tso_segment, tso_resume_offset, bench_tso, SEG_HEADROOM } from './gso/tso';

// Guest TX ring: attach, build, commit, multicast list (netif/ring.ts, netif/tx.ts, netif/extra.ts).
export {
  tx_attach, tx_build, tx_commit, tx_packet_count, tx_op_count, tx_slots_consumed, tx_credit_used, tx_credit_blocked,
  tx_drops, tx_mcast_edits, tx_req_cons, tx_rsp_prod_pvt, bench_tx_parse,
  QS_TX_PENDING, QS_TX_PKT_COUNT, QS_TX_OP_COUNT, QS_TX_SLOTS, QS_TX_CREDIT_USED, QS_TX_CREDIT_BLOCKED, QS_TX_BUF_USED, QS_TX_DROPS,
  TXC_STATUS, TXC_KIND, TXC_KIND_PLAIN, TXC_KIND_OP,
  TXPKT_DATA, TXPKT_LEN, TXPKT_FLAGS, TXPKT_GSO_TYPE, TXPKT_HASH_TYPE, TXPKT_GSO_SIZE, TXPKT_HASH_PRESENT, TXPKT_EXTRA_COUNT,
  TXPKT_HASH_VALUE, TXPKT_FIRST_SLOT, TXPKT_SLOT_COUNT, TXPKT_FIRST_OP, TXPKT_OP_COUNT, TXPKT_STATUS,
} from './netif/tx';
export { mcast_contains, mcast_count, mcast_load, mcast_save, MCAST_RECORD_SIZE, QS_TX_MCAST_COUNT } from './netif/extra';

// Guest RX ring: attach, pack, commit (netif/rx.ts).
export {
  rx_attach, rx_slots_needed, rx_slots_available, rx_set_headroom, rx_pending_requests, rx_op_count, rx_packet_count, rx_pack, rx_commit, bench_rx_pack,
  QS_RX_BATCH_OPS, QS_RX_BATCH_PKTS, QS_RX_BATCH_BYTES, QS_RX_XDP_HEADROOM, RX_PKT_F_CSUM_PARTIAL, RX_PKT_F_DATA_VALIDATED, RX_HASH_NONE,
  RX_STAGE_REQ_ID, RX_STAGE_OP, RX_STAGE_REQ_GREF, RX_STAGE_RSP, RX_STAGE_NO_OP,
  RX_DESC_FIRST_INDEX, RX_DESC_SLOTS, RX_DESC_DATA_SLOTS, RX_DESC_LEN, RX_DESC_FIRST_OP, RX_XDP_HEADROOM_MAX,
} from './netif/rx';

// Toeplitz hashing (hash/toeplitz.ts).
export { toeplitz_hash, toeplitz_hash_value, bench_toeplitz, TOEPLITZ_KEY_MAX, TOEPLITZ_INPUT_MAX } from './hash/toeplitz';

// Control ring, hash state, flow hashing and queue selection (netif/ctrl.ts).
export {
  ctrl_attach, ctrl_process, ctrl_commit, ctrl_op_address, ctrl_req_cons, ctrl_hash_algorithm, ctrl_hash_flags,
  ctrl_hash_mapping_size, ctrl_hash_mapping, flow_hash, flow_hash_value, select_queue, bench_flow_hash,
  QS_CTRL_REQ_CONS, QS_CTRL_RSP_PROD_PVT, QS_CTRL_NUM_QUEUES, QS_CTRL_PENDING, QS_CTRL_REQ, QS_CTRL_HASH_ALG,
  QS_CTRL_HASH_FLAGS, QS_CTRL_HASH_SIZE, QS_CTRL_MAPPING_SEL, QS_CTRL_HASH_VALUE, QS_CTRL_ATTACHED,
  CTRL_OP, CTRL_KEY_STAGE, CTRL_KEY, CTRL_MAPPING, CTRL_MAPPING_STRIDE, CTRL_HASH_INPUT,
  CTRL_R_COPY, CTRL_R_NOTIFY, CTRL_R_MORE, FLOW_HASH_NONE,
} from './netif/ctrl';

// The end of the compiler's static data, so the host can check it stays below LAYOUT_BASE.
export function static_data_end(): usize {
  return __heap_base;
}
