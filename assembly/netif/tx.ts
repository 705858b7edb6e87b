// Guest TX ring (frontend → backend): one batch is build → host executes the grant-copy plan →
// commit. build copies each request slot once into TX_REQ_COPY (XSA-155), applies Linux
// netback's fatal/drop rules in Linux's order (netif-protocol.md §6.1-6.2), and writes a
// grant-copy op per non-empty data slot plus a descriptor per accepted packet. commit turns op
// statuses into per-slot responses, written in consumed-slot order at rsp_prod_pvt.
//
// Deviations from Linux that change no response: Linux ends a NAPI batch at the first dropped
// packet and resumes on the next poll; here the batch goes on. Linux answers zero-length
// followers and mcast/dropped requests at once and copied slots later; here every response of
// the batch is written at commit, in slot order (netfront matches responses by id).

import {
  PKT_HEADROOM, TX_BUF_OFFSET, TX_BUF_SIZE, TX_OPS_OFFSET, TX_PKT_DESC_OFFSET, TX_PKT_DESC_STRIDE,
  TX_REQ_COPY_OFFSET, TX_REQ_COPY_STRIDE, TX_RING_OFFSET, SCRATCH_OFFSET, SCRATCH_SIZE,
} from '../layout';
import {
  STATUS_BAD_STATE, STATUS_DROP_COPY_FAILED, STATUS_DROP_FIRST_TOO_SMALL, STATUS_DROP_FRAG_OVERSIZE,
  STATUS_DROP_TOO_MANY_SLOTS, STATUS_FATAL_CHAIN_UNPUBLISHED, STATUS_FATAL_DISABLED, STATUS_FATAL_EXTRA_BAD_TYPE,
  STATUS_FATAL_EXTRA_MISSING, STATUS_FATAL_FIRST_CROSSES_PAGE, STATUS_FATAL_FRAG_CROSSES_PAGE,
  STATUS_FATAL_RING_INCONSISTENT, STATUS_FATAL_RING_OVERFLOW, STATUS_FATAL_TOO_MANY_SLOTS, STATUS_OK,
} from '../status';
import { countAdd } from '../count';
import {
  COUNTER_TX_CREDIT_BLOCKED, COUNTER_TX_DROP_COPY_FAILED, COUNTER_TX_DROP_FIRST_TOO_SMALL,
  COUNTER_TX_DROP_FRAG_OVERSIZE, COUNTER_TX_DROP_TOO_MANY_SLOTS, COUNTER_TX_FATAL, COUNTER_TX_MCAST_ADD,
  COUNTER_TX_MCAST_DEL, COUNTER_TX_MCAST_FULL, COUNTER_TX_RING_BYTES, COUNTER_TX_RING_PACKETS,
  COUNTER_TX_RING_SLOTS, COUNTER_TX_ZERO_LENGTH_SLOTS,
} from '../counters';
import {
  ETH_HLEN, EXTRA_FLAGS, EXTRA_GSO_SIZE, EXTRA_GSO_TYPE, EXTRA_HASH_TYPE, EXTRA_HASH_VALUE, EXTRA_MCAST_ADDR,
  EXTRA_TYPE, GNTOP_FLAGS, GNTOP_GREF, GNTOP_GUEST_OFFSET, GNTOP_LEN, GNTOP_LOCAL, GNTOP_SIZE, GNTOP_STATUS,
  NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO,
  NETTXF_MORE_DATA, RING_ENTRIES, RING_RSP_PROD, TXREQ_FLAGS, TXREQ_GREF, TXREQ_ID, TXREQ_OFFSET, TXREQ_SIZE, TXRSP_ID,
  TXRSP_STATUS, TX_RING_SLOTS, TX_SLOT_SIZE, XEN_NETBK_LEGACY_SLOTS_MAX, XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_PAGE_SIZE,
} from './defs';
import {
  QS_FATAL_STATUS, QS_FLAGS, QS_TX_REQ_CONS, QS_TX_RSP_PROD_PVT, disableQueue, finalCheckForRequests,
  pushResponsesCheckNotify, queueDisabled, readReqProd, readRspProd, stateLoad, stateStore,
} from './ring';
import { checkGsoExtra, extraTypeValid, hashTypeKnown, mcastAdd, mcastDel, mcastReset } from './extra';

// Queue-state fields (guest-TX range 0x100-0x1FF of netif/ring.ts). The host reads them through
// the tx_* getters below; all describe the batch of the last tx_build until tx_commit.
export const QS_TX_PENDING: u32 = 0x100;        // 1 between tx_build and tx_commit
export const QS_TX_PKT_COUNT: u32 = 0x104;      // descriptors written
export const QS_TX_OP_COUNT: u32 = 0x108;       // grant-copy ops written
export const QS_TX_SLOTS: u32 = 0x10C;          // request slots consumed (= responses commit writes)
export const QS_TX_CREDIT_USED: u32 = 0x110;    // bytes debited: first-request sizes consumed
export const QS_TX_CREDIT_BLOCKED: u32 = 0x114; // size of the packet that exceeded the credit, 0 if none
export const QS_TX_BUF_USED: u32 = 0x118;       // bytes of TX_BUF the batch's packets occupy
export const QS_TX_DROPS: u32 = 0x11C;          // packets dropped while building (error responses)
export const QS_TX_MCAST_EDITS: u32 = 0x120;    // multicast list changes (MCAST_ADD / MCAST_DEL that changed it)

// TX_REQ_COPY entry (TX_REQ_COPY_STRIDE = 16 bytes, indexed by position in the batch, i.e. ring
// index minus the batch's first index): the 12 request bytes as the frontend wrote them, then
// the staged response.
export const TXC_STATUS: u32 = 12; // s16 NETIF_RSP_* to answer this slot with
export const TXC_KIND: u32 = 14;   // u8 TXC_KIND_*
export const TXC_KIND_PLAIN: u8 = 0; // answered with TXC_STATUS as staged
export const TXC_KIND_OP: u8 = 1;    // carried a grant op: ERROR at commit if its packet's copy failed

// Packet descriptor (TX_PKT_DESC_STRIDE = 32 bytes), one per accepted packet, in slot order.
export const TXPKT_DATA: u32 = 0;         // u32 Wasm address of the first frame byte; PKT_HEADROOM free bytes before it
export const TXPKT_LEN: u32 = 4;          // u32 frame length (the first request's declared size)
export const TXPKT_FLAGS: u32 = 8;        // u16 first request's NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED
export const TXPKT_GSO_TYPE: u32 = 10;    // u8 XEN_NETIF_GSO_TYPE_* (0: no GSO extra)
export const TXPKT_HASH_TYPE: u32 = 11;   // u8 hash-type bit number (valid when TXPKT_HASH_PRESENT)
export const TXPKT_GSO_SIZE: u32 = 12;    // u16 MSS
export const TXPKT_HASH_PRESENT: u32 = 14; // u8 1 if a HASH extra with a known type came
export const TXPKT_EXTRA_COUNT: u32 = 15; // u8 extra slots after the first request
export const TXPKT_HASH_VALUE: u32 = 16;  // u32 hash value
export const TXPKT_FIRST_SLOT: u32 = 20;  // u16 batch position of the first request
export const TXPKT_SLOT_COUNT: u32 = 22;  // u16 slots consumed: first + extras + followers
export const TXPKT_FIRST_OP: u32 = 24;    // u16 index of the first op in TX_OPS
export const TXPKT_OP_COUNT: u32 = 26;    // u16 ops (zero-length followers have none)
export const TXPKT_STATUS: u32 = 28;      // i32 STATUS_OK, or STATUS_DROP_COPY_FAILED after commit


// An op is "failed" until the host overwrites its status, so a plan that was never executed
// drops its packets instead of delivering stale buffer bytes. see: grant_table.h GNTST_general_error
const GNTST_NOT_EXECUTED: i16 = -1;
const CREDIT_UNLIMITED: u32 = 0xFFFFFFFF;
const NO_EXTRA: usize = 0;
const TX_BUF_END: usize = <usize>TX_BUF_OFFSET + <usize>TX_BUF_SIZE;

// @ts-ignore: decorator
@inline function copyAddress(pos: u32): usize {
  return <usize>TX_REQ_COPY_OFFSET + <usize>(pos * TX_REQ_COPY_STRIDE);
}

// @ts-ignore: decorator
@inline function ringSlot(index: u32): usize {
  return <usize>TX_RING_OFFSET + <usize>RING_ENTRIES + <usize>((index & (TX_RING_SLOTS - 1)) * TX_SLOT_SIZE);
}

// The one read of a shared slot; everything after uses the copy. see: ring.h RING_COPY_REQUEST
// @ts-ignore: decorator
@inline function copySlot(index: u32, pos: u32, status: i16): usize {
  const src = ringSlot(index);
  const dst = copyAddress(pos);
  store<u64>(dst, load<u64>(src));
  store<u32>(dst + 8, load<u32>(src + 8));
  store<i16>(dst + <usize>TXC_STATUS, status);
  store<u8>(dst + <usize>TXC_KIND, TXC_KIND_PLAIN);
  store<u8>(dst + 15, 0);
  return dst;
}

// @ts-ignore: decorator
@inline function stage(pos: u32, status: i16, kind: u8): void {
  const c = copyAddress(pos);
  store<i16>(c + <usize>TXC_STATUS, status);
  store<u8>(c + <usize>TXC_KIND, kind);
}

// A change of the multicast list in this batch: the host copies the list to the vif's other queues.
// @ts-ignore: decorator
@inline function countMcastEdit(): void {
  stateStore(QS_TX_MCAST_EDITS, stateLoad(QS_TX_MCAST_EDITS) + 1);
}

// Answers a dropped packet: the first request ERROR, its extras NULL (already staged), every
// following slot ERROR. see: netback.c xenvif_tx_err
function stageDrop(firstPos: u32, extraCount: u32, followers: u32): void {
  stage(firstPos, NETIF_RSP_ERROR, TXC_KIND_PLAIN);
  const from = firstPos + 1 + extraCount;
  for (let i: u32 = 0; i < followers; i++) stage(from + i, NETIF_RSP_ERROR, TXC_KIND_PLAIN);
  stateStore(QS_TX_DROPS, stateLoad(QS_TX_DROPS) + 1);
}

// @ts-ignore: decorator
@inline function writeOp(op: u32, copy: usize, len: u32, local: usize): void {
  const p = <usize>TX_OPS_OFFSET + <usize>(op * GNTOP_SIZE);
  store<u32>(p + <usize>GNTOP_GREF, load<u32>(copy + <usize>TXREQ_GREF));
  store<u16>(p + <usize>GNTOP_GUEST_OFFSET, load<u16>(copy + <usize>TXREQ_OFFSET));
  store<u16>(p + <usize>GNTOP_LEN, <u16>len);
  store<u32>(p + <usize>GNTOP_LOCAL, <u32>local);
  store<i16>(p + <usize>GNTOP_STATUS, GNTST_NOT_EXECUTED);
  store<u16>(p + <usize>GNTOP_FLAGS, 0);
}

// A fatal rule fired: the packet in progress is abandoned (no response), the packets built
// before it stay in the plan so the host may still execute and commit them, as Linux submits
// what it had queued. see: netback.c xenvif_fatal_tx_err
function fatal(status: i32): i32 {
  countAdd(COUNTER_TX_FATAL, 1);
  return disableQueue(status);
}

// see: netback.c xenvif_map_frontend_data_rings (BACK_RING_ATTACH, then the -EIO check)
export function tx_attach(): i32 {
  const ring = <usize>TX_RING_OFFSET;
  const rspProd = readRspProd(ring);
  const reqProd = readReqProd(ring);
  if (reqProd - rspProd > TX_RING_SLOTS) return STATUS_FATAL_RING_INCONSISTENT;
  stateStore(QS_TX_REQ_CONS, rspProd);
  stateStore(QS_TX_RSP_PROD_PVT, rspProd);
  stateStore(QS_FLAGS, 0);
  stateStore(QS_FATAL_STATUS, 0);
  for (let f: u32 = QS_TX_PENDING; f <= QS_TX_MCAST_EDITS; f += 4) stateStore(f, 0);
  mcastReset();
  return STATUS_OK;
}

// One batch of at most `maxPackets` accepted packets. `credit` is the remaining byte credit
// (0xFFFFFFFF: unlimited); `fatalSlots` is the fatal_skb_slots module parameter.
// Returns the number of packet descriptors, or a fatal status (the queue is then disabled).
// see: netback.c xenvif_tx_build_gops, xenvif_count_requests, xenvif_get_extras
export function tx_build(maxPackets: u32, credit: u32, fatalSlots: u32): i32 {
  if (queueDisabled()) return STATUS_FATAL_DISABLED;
  const start = stateLoad(QS_TX_REQ_CONS);
  if (stateLoad(QS_TX_PENDING) != 0 || stateLoad(QS_TX_RSP_PROD_PVT) != start) return STATUS_BAD_STATE;
  // see: netback.c netback_init (fatal_skb_slots bumped to XEN_NETBK_LEGACY_SLOTS_MAX)
  if (fatalSlots < XEN_NETBK_LEGACY_SLOTS_MAX) fatalSlots = XEN_NETBK_LEGACY_SLOTS_MAX;
  for (let f: u32 = QS_TX_PKT_COUNT; f <= QS_TX_MCAST_EDITS; f += 4) stateStore(f, 0);
  stateStore(QS_TX_PENDING, 1);

  const reqProd = readReqProd(<usize>TX_RING_OFFSET);
  // Checked once: req_cons only grows within the batch and req_prod is not re-read.
  if (reqProd - start > TX_RING_SLOTS) return fatal(STATUS_FATAL_RING_OVERFLOW);

  let cons = start;        // next unread slot
  let packets: u32 = 0;
  let ops: u32 = 0;
  let used: u32 = 0;       // credit debited
  let buf: usize = <usize>TX_BUF_OFFSET;
  let status: i32 = STATUS_OK;

  while (packets < maxPackets) {
    // At batch start rsp_prod_pvt == req_cons, so the unconsumed count is req_prod - req_cons.
    let work = reqProd - cons;
    if (work == 0) break;
    const packetStart = cons;
    const firstPos = cons - start;
    const first = copySlot(cons, firstPos, NETIF_RSP_OKAY);
    const declared = <u32>load<u16>(first + <usize>TXREQ_SIZE);

    // see: netback.c tx_credit_exceeded (the host owns the window and the timer)
    if (credit != CREDIT_UNLIMITED && declared > credit - used) {
      stateStore(QS_TX_CREDIT_BLOCKED, declared);
      countAdd(COUNTER_TX_CREDIT_BLOCKED, 1);
      break;
    }
    used += declared;
    work--;
    cons++;

    const flags = <u32>load<u16>(first + <usize>TXREQ_FLAGS);
    let extraCount: u32 = 0;
    let gso: usize = NO_EXTRA, mcastAddExtra: usize = NO_EXTRA, mcastDelExtra: usize = NO_EXTRA, hash: usize = NO_EXTRA;
    if (flags & NETTXF_EXTRA_INFO) {
      let more = false;
      do {
        if (work == 0) { status = fatal(STATUS_FATAL_EXTRA_MISSING); break; }
        work--;
        const e = copySlot(cons, cons - start, NETIF_RSP_NULL);
        cons++;
        extraCount++;
        const type = <u32>load<u8>(e + <usize>EXTRA_TYPE);
        if (!extraTypeValid(type)) { status = fatal(STATUS_FATAL_EXTRA_BAD_TYPE); break; }
        // A later extra of the same type replaces an earlier one; XDP (5) is ignored.
        if (type == <u32>XEN_NETIF_EXTRA_TYPE_GSO) gso = e;
        else if (type == <u32>XEN_NETIF_EXTRA_TYPE_MCAST_ADD) mcastAddExtra = e;
        else if (type == <u32>XEN_NETIF_EXTRA_TYPE_MCAST_DEL) mcastDelExtra = e;
        else if (type == <u32>XEN_NETIF_EXTRA_TYPE_HASH) hash = e;
        more = (load<u8>(e + <usize>EXTRA_FLAGS) & XEN_NETIF_EXTRA_FLAG_MORE) != 0;
      } while (more);
      if (status < 0) { cons = packetStart; used -= declared; break; }
    }

    // A multicast request is answered and builds no packet; ADD wins when both are present.
    if (mcastAddExtra != NO_EXTRA) {
      if (mcastAdd(mcastAddExtra + <usize>EXTRA_MCAST_ADDR)) {
        countAdd(COUNTER_TX_MCAST_ADD, 1);
        countMcastEdit();
      } else {
        stage(firstPos, NETIF_RSP_ERROR, TXC_KIND_PLAIN);
        countAdd(COUNTER_TX_MCAST_FULL, 1);
      }
      continue;
    }
    if (mcastDelExtra != NO_EXTRA) {
      if (mcastDel(mcastDelExtra + <usize>EXTRA_MCAST_ADDR)) countMcastEdit();
      countAdd(COUNTER_TX_MCAST_DEL, 1);
      continue;
    }

    // see: netback.c xenvif_count_requests
    let firstSize = declared; // becomes the first slot's own payload
    let followers: u32 = 0;
    let drop: i32 = STATUS_OK;
    if (flags & NETTXF_MORE_DATA) {
      let more = false;
      do {
        if (followers >= work) { status = STATUS_FATAL_CHAIN_UNPUBLISHED; break; }
        if (followers >= fatalSlots) { status = STATUS_FATAL_TOO_MANY_SLOTS; break; }
        if (drop == STATUS_OK && followers >= XEN_NETBK_LEGACY_SLOTS_MAX) drop = STATUS_DROP_TOO_MANY_SLOTS;
        const f = copySlot(cons + followers, cons + followers - start, NETIF_RSP_OKAY);
        const size = <u32>load<u16>(f + <usize>TXREQ_SIZE);
        if (drop == STATUS_OK && size > firstSize) drop = STATUS_DROP_FRAG_OVERSIZE;
        firstSize = (firstSize - size) & 0xFFFF; // u16 arithmetic as in Linux; unused once dropping
        followers++;
        if (<u32>load<u16>(f + <usize>TXREQ_OFFSET) + size > XEN_PAGE_SIZE) { status = STATUS_FATAL_FRAG_CROSSES_PAGE; break; }
        more = (load<u16>(f + <usize>TXREQ_FLAGS) & NETTXF_MORE_DATA) != 0;
      } while (more);
      if (status < 0) { fatal(status); cons = packetStart; used -= declared; break; }
    }
    if (drop != STATUS_OK) {
      stageDrop(firstPos, extraCount, followers);
      countAdd(drop == STATUS_DROP_TOO_MANY_SLOTS ? COUNTER_TX_DROP_TOO_MANY_SLOTS : COUNTER_TX_DROP_FRAG_OVERSIZE, 1);
      cons += followers;
      continue;
    }
    if (firstSize < ETH_HLEN) {
      stageDrop(firstPos, extraCount, followers);
      countAdd(COUNTER_TX_DROP_FIRST_TOO_SMALL, 1);
      cons += followers;
      continue;
    }
    // No crossing a page: the first slot's payload must not fragment.
    if (<u32>load<u16>(first + <usize>TXREQ_OFFSET) + firstSize > XEN_PAGE_SIZE) {
      status = fatal(STATUS_FATAL_FIRST_CROSSES_PAGE);
      cons = packetStart; used -= declared;
      break;
    }
    if (gso != NO_EXTRA) {
      const g = checkGsoExtra(gso);
      if (g < 0) { status = fatal(g); cons = packetStart; used -= declared; break; }
    }

    // Cannot trigger while a batch holds at most 256 slots (TX_BUF is sized for that); kept so a
    // layout change cannot turn into an overrun: the packet is left for the next batch.
    const data = buf + <usize>PKT_HEADROOM;
    const end = (data + <usize>declared + 15) & ~<usize>15;
    if (end > TX_BUF_END) { cons = packetStart; used -= declared; break; }

    // see: netback.c xenvif_get_requests (zero-length followers: OKAY, no op; XSA-448)
    const firstOp = ops;
    writeOp(ops++, first, firstSize, data);
    stage(firstPos, NETIF_RSP_OKAY, TXC_KIND_OP);
    let at = data + <usize>firstSize;
    const followPos = firstPos + 1 + extraCount;
    for (let i: u32 = 0; i < followers; i++) {
      const f = copyAddress(followPos + i);
      const size = <u32>load<u16>(f + <usize>TXREQ_SIZE);
      if (size == 0) { countAdd(COUNTER_TX_ZERO_LENGTH_SLOTS, 1); continue; }
      writeOp(ops++, f, size, at);
      stage(followPos + i, NETIF_RSP_OKAY, TXC_KIND_OP);
      at += <usize>size;
    }

    const d = <usize>TX_PKT_DESC_OFFSET + <usize>(packets * TX_PKT_DESC_STRIDE);
    store<u32>(d + <usize>TXPKT_DATA, <u32>data);
    store<u32>(d + <usize>TXPKT_LEN, declared);
    store<u16>(d + <usize>TXPKT_FLAGS, <u16>(flags & <u32>(NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED)));
    store<u8>(d + <usize>TXPKT_GSO_TYPE, gso != NO_EXTRA ? load<u8>(gso + <usize>EXTRA_GSO_TYPE) : 0);
    store<u16>(d + <usize>TXPKT_GSO_SIZE, gso != NO_EXTRA ? load<u16>(gso + <usize>EXTRA_GSO_SIZE) : 0);
    const hashed = hash != NO_EXTRA && hashTypeKnown(hash);
    store<u8>(d + <usize>TXPKT_HASH_TYPE, hashed ? load<u8>(hash + <usize>EXTRA_HASH_TYPE) : 0);
    store<u8>(d + <usize>TXPKT_HASH_PRESENT, hashed ? 1 : 0);
    store<u8>(d + <usize>TXPKT_EXTRA_COUNT, <u8>extraCount);
    store<u32>(d + <usize>TXPKT_HASH_VALUE, hashed ? load<u32>(hash + <usize>EXTRA_HASH_VALUE) : 0);
    store<u16>(d + <usize>TXPKT_FIRST_SLOT, <u16>firstPos);
    store<u16>(d + <usize>TXPKT_SLOT_COUNT, <u16>(1 + extraCount + followers));
    store<u16>(d + <usize>TXPKT_FIRST_OP, <u16>firstOp);
    store<u16>(d + <usize>TXPKT_OP_COUNT, <u16>(ops - firstOp));
    store<i32>(d + <usize>TXPKT_STATUS, STATUS_OK);

    packets++;
    buf = end;
    cons += followers;
  }

  stateStore(QS_TX_REQ_CONS, cons);
  stateStore(QS_TX_PKT_COUNT, packets);
  stateStore(QS_TX_OP_COUNT, ops);
  stateStore(QS_TX_SLOTS, cons - start);
  stateStore(QS_TX_CREDIT_USED, used);
  stateStore(QS_TX_BUF_USED, <u32>(buf - <usize>TX_BUF_OFFSET));
  return status < 0 ? status : <i32>packets;
}

// Turns op statuses into responses, one per consumed slot, and publishes them.
// Returns bit 0: notify the frontend; bit 1: more requests are already pending.
// see: netback.c xenvif_tx_check_gop, _make_tx_response, push_tx_responses,
// xenvif_napi_schedule_or_enable_events
export function tx_commit(): i32 {
  if (stateLoad(QS_TX_PENDING) == 0) return STATUS_BAD_STATE;
  const start = stateLoad(QS_TX_RSP_PROD_PVT);
  const end = stateLoad(QS_TX_REQ_CONS);
  const packets = stateLoad(QS_TX_PKT_COUNT);
  const ops = stateLoad(QS_TX_OP_COUNT);
  if (end - start > TX_RING_SLOTS || packets > TX_RING_SLOTS || ops > TX_RING_SLOTS) return STATUS_BAD_STATE;
  stateStore(QS_TX_PENDING, 0);

  for (let p: u32 = 0; p < packets; p++) {
    const d = <usize>TX_PKT_DESC_OFFSET + <usize>(p * TX_PKT_DESC_STRIDE);
    const firstOp = <u32>load<u16>(d + <usize>TXPKT_FIRST_OP);
    const opCount = <u32>load<u16>(d + <usize>TXPKT_OP_COUNT);
    let failed = false;
    for (let o: u32 = 0; o < opCount; o++) {
      const op = firstOp + o;
      if (op >= ops || load<i16>(<usize>TX_OPS_OFFSET + <usize>(op * GNTOP_SIZE) + <usize>GNTOP_STATUS) < 0) { failed = true; break; }
    }
    if (failed) {
      store<i32>(d + <usize>TXPKT_STATUS, STATUS_DROP_COPY_FAILED);
      const firstSlot = <u32>load<u16>(d + <usize>TXPKT_FIRST_SLOT);
      const slotCount = <u32>load<u16>(d + <usize>TXPKT_SLOT_COUNT);
      for (let s: u32 = firstSlot; s < firstSlot + slotCount && s < TX_RING_SLOTS; s++) {
        const c = copyAddress(s);
        if (load<u8>(c + <usize>TXC_KIND) == TXC_KIND_OP) store<i16>(c + <usize>TXC_STATUS, NETIF_RSP_ERROR);
      }
      countAdd(COUNTER_TX_DROP_COPY_FAILED, 1);
    } else {
      countAdd(COUNTER_TX_RING_PACKETS, 1);
      countAdd(COUNTER_TX_RING_BYTES, <u64>load<u32>(d + <usize>TXPKT_LEN));
    }
  }

  const count = end - start;
  for (let pos: u32 = 0; pos < count; pos++) {
    const c = copyAddress(pos);
    const status = load<i16>(c + <usize>TXC_STATUS);
    const r = ringSlot(start + pos);
    // Extra slots get only a status: their id bytes are part of the extra record.
    // see: netback.c _make_tx_response
    if (status != NETIF_RSP_NULL) store<u16>(r + <usize>TXRSP_ID, load<u16>(c + <usize>TXREQ_ID));
    store<i16>(r + <usize>TXRSP_STATUS, status);
  }
  countAdd(COUNTER_TX_RING_SLOTS, <u64>count);
  stateStore(QS_TX_RSP_PROD_PVT, end);

  const ring = <usize>TX_RING_OFFSET;
  let result: i32 = 0;
  if (count != 0 && pushResponsesCheckNotify(ring, end)) result |= 1;
  if (readReqProd(ring) != end || finalCheckForRequests(ring, end)) result |= 2;
  return result;
}

// Getters for the batch of the last tx_build (valid until the next tx_build).
export function tx_packet_count(): i32 { return <i32>stateLoad(QS_TX_PKT_COUNT); }
export function tx_op_count(): i32 { return <i32>stateLoad(QS_TX_OP_COUNT); }
export function tx_slots_consumed(): i32 { return <i32>stateLoad(QS_TX_SLOTS); }
export function tx_credit_used(): u32 { return stateLoad(QS_TX_CREDIT_USED); }
export function tx_credit_blocked(): u32 { return stateLoad(QS_TX_CREDIT_BLOCKED); }
export function tx_drops(): i32 { return <i32>stateLoad(QS_TX_DROPS); }
// Non-zero: the last build changed the multicast list, which the host then copies to the vif's other queues.
export function tx_mcast_edits(): i32 { return <i32>stateLoad(QS_TX_MCAST_EDITS); }
export function tx_req_cons(): u32 { return stateLoad(QS_TX_REQ_CONS); }
export function tx_rsp_prod_pvt(): u32 { return stateLoad(QS_TX_RSP_PROD_PVT); }

// Benchmark: the ring as the harness filled it is saved to SCRATCH once and restored before each
// round (commit overwrites request bytes with responses), then build + commit run with every op
// marked okay. Returns the slots processed (0 if a round fails); the ring and indices are left as
// found, so repeated calls measure the same work.
export function bench_tx_parse(iterations: u32): u32 {
  const ring = <usize>TX_RING_OFFSET;
  const slots = <usize>(TX_RING_SLOTS * TX_SLOT_SIZE);
  if (slots + 16 > <usize>SCRATCH_SIZE) return 0;
  const saved = <usize>SCRATCH_OFFSET;
  const start = stateLoad(QS_TX_REQ_CONS);
  const rspProd = readRspProd(ring);
  memory.copy(saved, ring + <usize>RING_ENTRIES, slots);
  let total: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) {
    memory.copy(ring + <usize>RING_ENTRIES, saved, slots);
    atomic.store<u32>(ring + <usize>RING_RSP_PROD, rspProd);
    stateStore(QS_TX_REQ_CONS, start);
    stateStore(QS_TX_RSP_PROD_PVT, start);
    stateStore(QS_TX_PENDING, 0);
    const built = tx_build(TX_RING_SLOTS, CREDIT_UNLIMITED, 20);
    if (built < 0) return 0;
    const ops = stateLoad(QS_TX_OP_COUNT);
    for (let o: u32 = 0; o < ops; o++) store<i16>(<usize>TX_OPS_OFFSET + <usize>(o * GNTOP_SIZE) + <usize>GNTOP_STATUS, 0);
    if (tx_commit() < 0) return 0;
    total += stateLoad(QS_TX_SLOTS);
  }
  // Leave the ring and the indices as found, so the next call measures the same work.
  memory.copy(ring + <usize>RING_ENTRIES, saved, slots);
  atomic.store<u32>(ring + <usize>RING_RSP_PROD, rspProd);
  stateStore(QS_TX_REQ_CONS, start);
  stateStore(QS_TX_RSP_PROD_PVT, start);
  return total;
}
