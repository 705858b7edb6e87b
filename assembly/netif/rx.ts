// Guest RX (backend → frontend): packs frames into the RX requests the frontend posted, as Linux
// netback does — each data slot filled up to a page, the first data slot first, the extras after
// it, the remaining data slots after them, every response in the slot of the request consumed
// for it — and writes one grant-copy op per data slot. The host executes the ops; rx_commit turns
// failed copies into negative statuses, publishes the responses and says whether to notify.
// see: rx.c xenvif_rx_skb, netif-protocol.md §2.3-2.5, §6.3

import {
  RX_OPS_OFFSET, RX_OPS_SIZE, RX_PKT_DESC_OFFSET, RX_PKT_DESC_STRIDE, RX_RING_OFFSET, RX_SLOT_STAGE_OFFSET,
  RX_SLOT_STAGE_STRIDE,
} from '../layout';
import {
  STATUS_BAD_ARGUMENT, STATUS_DROP_GSO_BAD_SIZE, STATUS_DROP_TOO_BIG, STATUS_FATAL_DISABLED,
  STATUS_FATAL_RING_INCONSISTENT, STATUS_NO_SPACE, STATUS_OK,
} from '../status';
import { countAdd } from '../count';
import {
  COUNTER_RX_COPY_ERRORS, COUNTER_RX_DROP_TOO_BIG, COUNTER_RX_RING_BYTES,
  COUNTER_RX_RING_PACKETS, COUNTER_RX_RING_SLOTS,
} from '../counters';
import {
  EXTRA_FLAGS, EXTRA_GSO_FEATURES, EXTRA_GSO_PAD, EXTRA_GSO_SIZE, EXTRA_GSO_TYPE, EXTRA_HASH_ALG,
  EXTRA_HASH_TYPE, EXTRA_HASH_VALUE, EXTRA_TYPE, GNTOP_F_TO_GUEST, GNTOP_FLAGS, GNTOP_GREF,
  GNTOP_GUEST_OFFSET, GNTOP_LEN, GNTOP_LOCAL, GNTOP_SIZE, GNTOP_STATUS, NETRXF_CSUM_BLANK,
  NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA, RING_ENTRIES, RING_REQ_PROD, RING_RSP_PROD, RX_RING_SLOTS,
  RX_SLOT_SIZE, RXREQ_GREF, RXREQ_ID, RXRSP_FLAGS, RXRSP_ID, RXRSP_OFFSET, RXRSP_STATUS,
  XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP, XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_XDP, XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_MAX_TX_SIZE, XEN_NETIF_NR_SLOTS_MIN, XEN_PAGE_SIZE,
} from './defs';
import { inGuestRxFrameRegion } from '../region';
import { queueDisabled, QS_RX_REQ_CONS, QS_RX_RSP_PROD_PVT, readReqProd, readRspProd, pushResponsesCheckNotify, requestEventAt, stateLoad, stateStore } from './ring';

// Queue-state fields owned by the RX ring (0x200-0x2FF, see ring.ts).
export const QS_RX_BATCH_OPS: u32 = 0x200;     // grant-copy ops written since the last commit
export const QS_RX_BATCH_PKTS: u32 = 0x204;    // packets packed since the last commit
export const QS_RX_BATCH_BYTES: u32 = 0x208;   // frame bytes packed since the last commit
export const QS_RX_XDP_HEADROOM: u32 = 0x20C;  // bytes left free at the start of every data slot

// Host-side frame flags (rx_pack `flags`), mapped to the first slot's NETRXF_* bits.
// see: rx.c xenvif_rx_data_slot (CHECKSUM_PARTIAL / CHECKSUM_UNNECESSARY)
export const RX_PKT_F_CSUM_PARTIAL: u32 = 0x1;
export const RX_PKT_F_DATA_VALIDATED: u32 = 0x2;
const RX_PKT_F_ALL: u32 = RX_PKT_F_CSUM_PARTIAL | RX_PKT_F_DATA_VALIDATED;

// rx_pack `hashType` when the frame carries no hash (no HASH extra is sent).
export const RX_HASH_NONE: u32 = 0xFFFFFFFF;

// Private staging, one 16-byte entry per ring slot (a batch never covers more than the 256 slots):
// the request copied once from the ring, and the response built for that slot.
export const RX_STAGE_REQ_ID: u32 = 0;     // u16 request id (copy)
export const RX_STAGE_OP: u32 = 2;         // u16 index of this slot's grant-copy op; 0xFFFF for an extra
export const RX_STAGE_REQ_GREF: u32 = 4;   // u32 request gref (copy)
export const RX_STAGE_RSP: u32 = 8;        // 8 bytes: netif_rx_response or netif_extra_info
export const RX_STAGE_NO_OP: u16 = 0xFFFF;

// Per-packet descriptors of the current batch (RX_PKT_DESC, 32-byte stride), for the engine.
export const RX_DESC_FIRST_INDEX: u32 = 0; // u32 ring index of the packet's first slot
export const RX_DESC_SLOTS: u32 = 4;       // u32 slots used (data + extras)
export const RX_DESC_DATA_SLOTS: u32 = 8;  // u32 data slots
export const RX_DESC_LEN: u32 = 12;        // u32 frame bytes
export const RX_DESC_FIRST_OP: u32 = 16;   // u32 index of its first grant-copy op

// XEN_NETIF_MAX_XDP_HEADROOM (Linux netif.h): Linux reads xdp-headroom as %hu and clamps it to
// this. see: xenbus.c read_xenbus_frontend_xdp
export const RX_XDP_HEADROOM_MAX: u32 = 0x7FFF;

// An op the host never executed must not look like a successful copy.
const GNTST_GENERAL_ERROR: i16 = -1;
const MAX_OPS: u32 = RX_OPS_SIZE / GNTOP_SIZE;

// @ts-ignore: decorator
@inline function stage(index: u32): usize {
  return <usize>RX_SLOT_STAGE_OFFSET + (<usize>(index & (RX_RING_SLOTS - 1)) * <usize>RX_SLOT_STAGE_STRIDE);
}

// @ts-ignore: decorator
@inline function ringSlot(index: u32): usize {
  return <usize>RX_RING_OFFSET + <usize>RING_ENTRIES + (<usize>(index & (RX_RING_SLOTS - 1)) * <usize>RX_SLOT_SIZE);
}

// @ts-ignore: decorator
@inline function op(index: u32): usize {
  return <usize>RX_OPS_OFFSET + <usize>index * <usize>GNTOP_SIZE;
}

function clearBatch(): void {
  stateStore(QS_RX_BATCH_OPS, 0);
  stateStore(QS_RX_BATCH_PKTS, 0);
  stateStore(QS_RX_BATCH_BYTES, 0);
}

// At connect: attach at the frontend's rsp_prod, refusing a ring whose producer is impossible.
// see: netback.c xenvif_map_frontend_data_rings (req_prod - rsp_prod > RING_SIZE → -EIO)
export function rx_attach(): i32 {
  const ring = <usize>RX_RING_OFFSET;
  const rspProd = readRspProd(ring);
  const reqProd = readReqProd(ring);
  if (reqProd - rspProd > RX_RING_SLOTS) return STATUS_FATAL_RING_INCONSISTENT;
  stateStore(QS_RX_REQ_CONS, rspProd);
  stateStore(QS_RX_RSP_PROD_PVT, rspProd);
  clearBatch();
  // A new connection starts without headroom; the host sets it after reading xdp-headroom.
  // see: xenbus.c read_xenbus_frontend_xdp (0 when the key is absent)
  stateStore(QS_RX_XDP_HEADROOM, 0);
  return STATUS_OK;
}

// Linux's count for the head packet (the XDP extra and headroom are not counted there).
// see: rx.c xenvif_update_needed_slots
export function rx_slots_needed(len: u32, gsoType: u32, hashPresent: u32): u32 {
  let needed = (len >> 12) + <u32>((len & (XEN_PAGE_SIZE - 1)) != 0);
  if (gsoType != 0) needed++;
  if (hashPresent != 0) needed++;
  return needed;
}

// Data starts at this page offset in every data slot, the response status includes it, and an
// XDP extra carries it. see: rx.c xenvif_rx_data_slot (offset = xdp_headroom), xenvif_rx_next_skb
export function rx_set_headroom(bytes: u32): i32 {
  stateStore(QS_RX_XDP_HEADROOM, bytes > RX_XDP_HEADROOM_MAX ? RX_XDP_HEADROOM_MAX : bytes);
  return STATUS_OK;
}

// Posted but unconsumed requests, clamped to the ring size (the host's stall logic).
// see: rx.c xenvif_rx_queue_slots
export function rx_pending_requests(): u32 {
  const pending = readReqProd(<usize>RX_RING_OFFSET) - stateLoad(QS_RX_REQ_CONS);
  return pending > RX_RING_SLOTS ? RX_RING_SLOTS : pending;
}

// Whether `total` posted requests are waiting; if not, asks the frontend for an event when it
// posts more (req_event = req_prod + 1, then re-check). For a frame the host must place whole
// across several packs (software-segmented GSO). see: rx.c xenvif_rx_ring_slots_available
export function rx_slots_available(total: u32): i32 {
  const ring = <usize>RX_RING_OFFSET;
  const reqCons = stateLoad(QS_RX_REQ_CONS);
  if (readReqProd(ring) - reqCons >= total) return 1;
  requestEventAt(ring, readReqProd(ring) + 1);
  return readReqProd(ring) - reqCons >= total ? 1 : 0;
}

// Grant-copy ops written since the last commit (the plan at RX_OPS_OFFSET).
export function rx_op_count(): u32 {
  return stateLoad(QS_RX_BATCH_OPS);
}

// Packets packed since the last commit (descriptors at RX_PKT_DESC_OFFSET).
export function rx_packet_count(): u32 {
  return stateLoad(QS_RX_BATCH_PKTS);
}

// Writes extra number `n` (0-based, ascending type order as Linux emits them) into `rsp`.
// see: rx.c xenvif_rx_extra_slot (extras[] indexed by type - 1, scanned from index 0)
function writeExtra(rsp: usize, type: u8, more: bool, gsoType: u32, gsoSize: u32, hashType: u32, hashValue: u32, headroom: u32): void {
  store<u64>(rsp, 0);
  store<u8>(rsp, type, EXTRA_TYPE);
  store<u8>(rsp, more ? XEN_NETIF_EXTRA_FLAG_MORE : 0, EXTRA_FLAGS);
  if (type == XEN_NETIF_EXTRA_TYPE_GSO) {
    store<u16>(rsp + <usize>EXTRA_GSO_SIZE, <u16>gsoSize);
    store<u8>(rsp + <usize>EXTRA_GSO_TYPE, <u8>gsoType);
    store<u8>(rsp + <usize>EXTRA_GSO_PAD, 0);
    store<u16>(rsp + <usize>EXTRA_GSO_FEATURES, 0);
  } else if (type == XEN_NETIF_EXTRA_TYPE_HASH) {
    store<u8>(rsp + <usize>EXTRA_HASH_TYPE, <u8>hashType);
    store<u8>(rsp + <usize>EXTRA_HASH_ALG, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
    store<u32>(rsp + <usize>EXTRA_HASH_VALUE, hashValue); // little-endian: LSB first
  } else {
    store<u16>(rsp + 2, <u16>headroom); // xdp.headroom
  }
}

// see: rx.c xenvif_rx_skb, xenvif_rx_data_slot, xenvif_rx_extra_slot, xenvif_rx_ring_slots_available
export function rx_pack(frame: usize, len: u32, flags: u32, gsoType: u32, gsoSize: u32, hashType: u32, hashValue: u32): i32 {
  if (queueDisabled()) return STATUS_FATAL_DISABLED;
  if ((flags & ~RX_PKT_F_ALL) != 0) return STATUS_BAD_ARGUMENT;
  if (gsoType > <u32>XEN_NETIF_GSO_TYPE_TCPV6) return STATUS_BAD_ARGUMENT;
  if (hashType != RX_HASH_NONE && hashType > <u32>XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP) return STATUS_BAD_ARGUMENT;
  if (gsoSize > 0xFFFF) return STATUS_BAD_ARGUMENT;
  if (len == 0 || len > XEN_NETIF_MAX_TX_SIZE) {
    countAdd(COUNTER_RX_DROP_TOO_BIG, 1);
    return STATUS_DROP_TOO_BIG;
  }
  if (!inGuestRxFrameRegion(frame, <usize>len)) return STATUS_BAD_ARGUMENT;
  // Netfront drops a GSO extra with size 0. see: xen-netfront.c xennet_set_skb_gso
  if (gsoType != 0 && gsoSize == 0) return STATUS_DROP_GSO_BAD_SIZE;

  // Every data slot starts at the headroom, so a slot carries PAGE_SIZE - headroom bytes.
  // see: rx.c xenvif_rx_data_slot (offset starts at xdp_headroom, loops while offset < XEN_PAGE_SIZE)
  const headroom = stateLoad(QS_RX_XDP_HEADROOM);
  if (headroom >= XEN_PAGE_SIZE) {
    countAdd(COUNTER_RX_DROP_TOO_BIG, 1);
    return STATUS_DROP_TOO_BIG;
  }
  const capacity = XEN_PAGE_SIZE - headroom;
  const dataSlots = (len + capacity - 1) / capacity;
  // Netfront accepts at most 18 data slots (19 only for a first slot of <= 256 bytes).
  // see: xen-netfront.c xennet_get_responses (max = XEN_NETIF_NR_SLOTS_MIN + ...)
  if (dataSlots > XEN_NETIF_NR_SLOTS_MIN) {
    countAdd(COUNTER_RX_DROP_TOO_BIG, 1);
    return STATUS_DROP_TOO_BIG;
  }
  const hasGso = gsoType != 0;
  const hasHash = hashType != RX_HASH_NONE;
  const hasXdp = headroom != 0;
  const extras = <u32>hasGso + <u32>hasHash + <u32>hasXdp;
  const total = dataSlots + extras;

  // Slots we may take: posted requests, and response slots not yet holding an unpushed response.
  const ring = <usize>RX_RING_OFFSET;
  const reqCons = stateLoad(QS_RX_REQ_CONS);
  const rspProdPvt = stateLoad(QS_RX_RSP_PROD_PVT);
  const room = RX_RING_SLOTS - (reqCons - rspProdPvt);
  const opsUsed = stateLoad(QS_RX_BATCH_OPS);
  if (total > room || opsUsed + dataSlots > MAX_OPS) return STATUS_NO_SPACE; // commit first
  let reqProd = readReqProd(ring);
  if (reqProd - reqCons < total) {
    // see: rx.c xenvif_rx_ring_slots_available (req_event = prod + 1, barrier, re-check)
    requestEventAt(ring, reqProd + 1);
    reqProd = readReqProd(ring);
    if (reqProd - reqCons < total) return STATUS_NO_SPACE;
  }

  const firstCsum: u16 = (flags & RX_PKT_F_CSUM_PARTIAL) != 0
    ? NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED
    : (flags & RX_PKT_F_DATA_VALIDATED) != 0 ? NETRXF_DATA_VALIDATED : 0;

  const pkts = stateLoad(QS_RX_BATCH_PKTS);
  const desc = <usize>RX_PKT_DESC_OFFSET + <usize>pkts * <usize>RX_PKT_DESC_STRIDE;
  store<u32>(desc + <usize>RX_DESC_FIRST_INDEX, reqCons);
  store<u32>(desc + <usize>RX_DESC_SLOTS, total);
  store<u32>(desc + <usize>RX_DESC_DATA_SLOTS, dataSlots);
  store<u32>(desc + <usize>RX_DESC_LEN, len);
  store<u32>(desc + <usize>RX_DESC_FIRST_OP, opsUsed);

  let index = reqCons;
  let opIndex = opsUsed;
  let done: u32 = 0;
  let extrasLeft = extras;
  for (let slot: u32 = 0; slot < total; slot++, index++) {
    // Copy-once: the request is read from the shared ring exactly once (XSA-155).
    const s = stage(index);
    store<u64>(s, load<u64>(ringSlot(index)));
    const rsp = s + <usize>RX_STAGE_RSP;
    // Extras must go after the first data slot. see: rx.c xenvif_rx_skb
    if (slot != 0 && extrasLeft != 0) {
      extrasLeft--;
      const n = extras - extrasLeft - 1; // which extra, in type order GSO(1), HASH(4), XDP(5)
      let type: u8 = XEN_NETIF_EXTRA_TYPE_XDP;
      if (hasGso && n == 0) type = XEN_NETIF_EXTRA_TYPE_GSO;
      else if (hasHash && n == <u32>hasGso) type = XEN_NETIF_EXTRA_TYPE_HASH;
      writeExtra(rsp, type, extrasLeft != 0, gsoType, gsoSize, hashType, hashValue, headroom);
      store<u16>(s + <usize>RX_STAGE_OP, RX_STAGE_NO_OP);
      continue;
    }
    const remaining = len - done;
    const chunk = remaining < capacity ? remaining : capacity;
    const o = op(opIndex);
    store<u32>(o + <usize>GNTOP_GREF, load<u32>(s + <usize>RX_STAGE_REQ_GREF));
    store<u16>(o + <usize>GNTOP_GUEST_OFFSET, <u16>headroom);
    store<u16>(o + <usize>GNTOP_LEN, <u16>chunk);
    store<u32>(o + <usize>GNTOP_LOCAL, <u32>(frame + <usize>done));
    store<i16>(o + <usize>GNTOP_STATUS, GNTST_GENERAL_ERROR);
    store<u16>(o + <usize>GNTOP_FLAGS, GNTOP_F_TO_GUEST);
    store<u16>(s + <usize>RX_STAGE_OP, <u16>opIndex);
    opIndex++;
    done += chunk;
    let rflags: u16 = done < len ? NETRXF_MORE_DATA : 0;
    if (slot == 0) {
      rflags |= firstCsum;
      if (extras != 0) rflags |= NETRXF_EXTRA_INFO;
    }
    store<u16>(rsp + <usize>RXRSP_ID, load<u16>(s + <usize>RX_STAGE_REQ_ID));
    store<u16>(rsp + <usize>RXRSP_OFFSET, 0);
    store<u16>(rsp + <usize>RXRSP_FLAGS, rflags);
    // Status is the fill offset at slot end: headroom plus the bytes copied.
    store<i16>(rsp + <usize>RXRSP_STATUS, <i16>(headroom + chunk));
  }

  stateStore(QS_RX_REQ_CONS, index);
  stateStore(QS_RX_BATCH_OPS, opIndex);
  stateStore(QS_RX_BATCH_PKTS, pkts + 1);
  stateStore(QS_RX_BATCH_BYTES, stateLoad(QS_RX_BATCH_BYTES) + len);
  return <i32>total;
}

// Patches failed copies into statuses, writes every staged response into its own ring slot and
// publishes them. Returns bit 0 = notify the frontend.
// see: rx.c xenvif_rx_copy_flush, xenvif_rx_complete
export function rx_commit(): i32 {
  const ring = <usize>RX_RING_OFFSET;
  const start = stateLoad(QS_RX_RSP_PROD_PVT);
  const end = stateLoad(QS_RX_REQ_CONS);
  if (end == start) return 0;
  const ops = stateLoad(QS_RX_BATCH_OPS);
  let failed: u32 = 0;
  for (let index = start; index != end; index++) {
    const s = stage(index);
    const rsp = s + <usize>RX_STAGE_RSP;
    const opIndex = <u32>load<u16>(s + <usize>RX_STAGE_OP);
    if (opIndex != <u32>RX_STAGE_NO_OP && opIndex < ops) {
      const status = load<i16>(op(opIndex) + <usize>GNTOP_STATUS);
      // The raw grant status, as Linux writes it. see: rx.c xenvif_rx_copy_flush
      if (status != 0) {
        store<i16>(rsp + <usize>RXRSP_STATUS, status);
        failed++;
      }
    }
    store<u64>(ringSlot(index), load<u64>(rsp));
  }
  const notify = pushResponsesCheckNotify(ring, end);
  stateStore(QS_RX_RSP_PROD_PVT, end);
  countAdd(COUNTER_RX_RING_PACKETS, <u64>stateLoad(QS_RX_BATCH_PKTS));
  countAdd(COUNTER_RX_RING_BYTES, <u64>stateLoad(QS_RX_BATCH_BYTES));
  countAdd(COUNTER_RX_RING_SLOTS, <u64>(end - start));
  if (failed != 0) countAdd(COUNTER_RX_COPY_ERRORS, <u64>failed);
  clearBatch();
  return notify ? 1 : 0;
}

// Benchmark: packs and commits the same frame `iterations` times on a ring whose requests are
// re-posted in Wasm, with every op marked okay, so the JS↔Wasm call is not measured.
const BENCH_POSTED: u32 = 24;

export function bench_rx_pack(frame: usize, len: u32, iterations: u32): u32 {
  const ring = <usize>RX_RING_OFFSET;
  let slots: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) {
    atomic.store<u32>(ring + <usize>RING_REQ_PROD, 0);
    atomic.store<u32>(ring + <usize>RING_RSP_PROD, 0);
    stateStore(QS_RX_REQ_CONS, 0);
    stateStore(QS_RX_RSP_PROD_PVT, 0);
    clearBatch();
    // Enough requests for the largest frame (18 data slots + 3 extras), as a frontend reposts.
    for (let j: u32 = 0; j < BENCH_POSTED; j++) {
      const r = ringSlot(j);
      store<u16>(r + <usize>RXREQ_ID, <u16>j);
      store<u32>(r + <usize>RXREQ_GREF, j + 1);
    }
    atomic.store<u32>(ring + <usize>RING_REQ_PROD, BENCH_POSTED);
    const used = rx_pack(frame, len, RX_PKT_F_CSUM_PARTIAL, 0, 0, RX_HASH_NONE, 0);
    if (used < 0) return <u32>used;
    const ops = stateLoad(QS_RX_BATCH_OPS);
    for (let k: u32 = 0; k < ops; k++) store<i16>(op(k) + <usize>GNTOP_STATUS, 0);
    rx_commit();
    slots += <u32>used;
  }
  return slots;
}
