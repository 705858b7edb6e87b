// The linear-memory map of one queue's Wasm instance. Each instance serves exactly one queue
// (one TX ring, one RX ring, optionally the vif's control ring), so every region is a fixed
// address and the data path never allocates. Regions are chained: each starts where the one
// before it ends, on a 4 KiB page boundary, so that ring windows can be replaced by granted
// pages mapped in place (MAP_FIXED) on real Xen. Everything below LAYOUT_BASE belongs to the
// compiler's static data; the host checks `__heap_base <= LAYOUT_BASE` at load time, and that
// every *_OFFSET is page-aligned (every *_SIZE here is a multiple of PAGE_SIZE).
//
// The host reads these values through the exported globals (src/wasm/module.ts); nothing on the
// TypeScript side repeats a number from this file.

export const PAGE_SIZE: u32 = 4096;

export const LAYOUT_BASE: u32 = 0x10000;

// Shared ring pages (netif-protocol.md §1): granted by the frontend, read and written in place.
export const TX_RING_OFFSET: u32 = LAYOUT_BASE;
export const TX_RING_SIZE: u32 = PAGE_SIZE;
export const RX_RING_OFFSET: u32 = TX_RING_OFFSET + TX_RING_SIZE;
export const RX_RING_SIZE: u32 = PAGE_SIZE;
export const CTRL_RING_OFFSET: u32 = RX_RING_OFFSET + RX_RING_SIZE;
export const CTRL_RING_SIZE: u32 = PAGE_SIZE;

// Private queue state: ring consumer/producer shadows, flags, the fatal reason (struct offsets
// live in the module that owns each field, see netif/ring.ts).
export const QUEUE_STATE_OFFSET: u32 = CTRL_RING_OFFSET + CTRL_RING_SIZE;
export const QUEUE_STATE_SIZE: u32 = PAGE_SIZE;

// Per-queue counters: u64 each, indexed by the COUNTER_* numbers of counters.ts.
export const COUNTERS_OFFSET: u32 = QUEUE_STATE_OFFSET + QUEUE_STATE_SIZE;
export const COUNTERS_SIZE: u32 = PAGE_SIZE;

// Multicast filter list: up to 64 MACs, 8 bytes each (6 used); see: netback.c XEN_NETBK_MCAST_MAX.
export const MCAST_LIST_OFFSET: u32 = COUNTERS_OFFSET + COUNTERS_SIZE;
export const MCAST_LIST_SIZE: u32 = PAGE_SIZE;

// Guest TX: private copies of requests (16-byte stride, one per ring slot), packet descriptors,
// the grant-copy plan (one op per non-empty data slot: at most one per ring slot), and packet
// buffers (a batch never holds more than 256 slots of at most 4096 bytes, plus headroom for a
// virtio_net_hdr in front of each packet).
export const TX_REQ_COPY_OFFSET: u32 = MCAST_LIST_OFFSET + MCAST_LIST_SIZE;
export const TX_REQ_COPY_STRIDE: u32 = 16;
export const TX_REQ_COPY_SIZE: u32 = 256 * TX_REQ_COPY_STRIDE;
export const TX_PKT_DESC_OFFSET: u32 = TX_REQ_COPY_OFFSET + TX_REQ_COPY_SIZE;
export const TX_PKT_DESC_STRIDE: u32 = 32;
export const TX_PKT_DESC_SIZE: u32 = 256 * TX_PKT_DESC_STRIDE;
export const TX_OPS_OFFSET: u32 = TX_PKT_DESC_OFFSET + TX_PKT_DESC_SIZE;
export const TX_OPS_SIZE: u32 = 256 * 16;
export const PKT_HEADROOM: u32 = 64;
export const TX_BUF_OFFSET: u32 = TX_OPS_OFFSET + TX_OPS_SIZE;
export const TX_BUF_SIZE: u32 = 256 * (PAGE_SIZE + PKT_HEADROOM);

// Guest RX: per-slot staging of responses, packet descriptors, the grant-copy plan (one op per
// data slot), and frames from the TAP waiting to be packed (512 KiB backlog plus one maximal
// frame; see: common.h XENVIF_RX_QUEUE_BYTES).
export const RX_SLOT_STAGE_OFFSET: u32 = TX_BUF_OFFSET + TX_BUF_SIZE;
export const RX_SLOT_STAGE_STRIDE: u32 = 16;
export const RX_SLOT_STAGE_SIZE: u32 = 256 * RX_SLOT_STAGE_STRIDE;
export const RX_PKT_DESC_OFFSET: u32 = RX_SLOT_STAGE_OFFSET + RX_SLOT_STAGE_SIZE;
export const RX_PKT_DESC_STRIDE: u32 = 32;
export const RX_PKT_DESC_SIZE: u32 = 256 * RX_PKT_DESC_STRIDE;
export const RX_OPS_OFFSET: u32 = RX_PKT_DESC_OFFSET + RX_PKT_DESC_SIZE;
export const RX_OPS_SIZE: u32 = 256 * 16;
export const RX_BUF_OFFSET: u32 = RX_OPS_OFFSET + RX_OPS_SIZE;
export const RX_BUF_SIZE: u32 = 640 * 1024;

// Software segmentation output: a 64 KiB frame at MSS >= 536 fits; smaller MSS resumes.
export const SEG_BUF_OFFSET: u32 = RX_BUF_OFFSET + RX_BUF_SIZE;
export const SEG_BUF_SIZE: u32 = 256 * 1024;
export const SEG_DESC_OFFSET: u32 = SEG_BUF_OFFSET + SEG_BUF_SIZE;
export const SEG_DESC_STRIDE: u32 = 8;
export const SEG_DESC_SIZE: u32 = 512 * SEG_DESC_STRIDE;

// Control ring and hash state of the vif (netif/ctrl.ts owns the field offsets): the grant-copy
// op of a pending SET_HASH_KEY / SET_HASH_MAPPING, the key and its staging copy, the
// double-buffered mapping table, the flow-hash input buffer. Only queue 0's instance uses it.
export const CTRL_STATE_OFFSET: u32 = SEG_DESC_OFFSET + SEG_DESC_SIZE;
export const CTRL_STATE_SIZE: u32 = PAGE_SIZE;

// The Toeplitz table of the vif's hash key (hash/toeplitz.ts): one u32 per input byte position
// (36) and byte value (256), rebuilt when the key changes. Only queue 0's instance uses it.
export const TOEPLITZ_TABLE_OFFSET: u32 = CTRL_STATE_OFFSET + CTRL_STATE_SIZE;
export const TOEPLITZ_TABLE_SIZE: u32 = 9 * PAGE_SIZE;

// Scratch input/output for the embedding API (one frame of up to 64 KiB + headers, a key...).
export const SCRATCH_OFFSET: u32 = TOEPLITZ_TABLE_OFFSET + TOEPLITZ_TABLE_SIZE;
export const SCRATCH_SIZE: u32 = 128 * 1024;

export const LAYOUT_END: u32 = SCRATCH_OFFSET + SCRATCH_SIZE;
