// The control ring and the vif's receive-side hashing: every xen_netif_ctrl_request answered as
// Linux netback answers it, the hash state (algorithm, flags, key, double-buffered mapping table)
// kept in Wasm memory, and the flow hash / queue selection of frames for the guest.
// see: netback.c process_ctrl_request, xenvif_ctrl_action; hash.c; interface.c xenvif_select_queue
//
// SET_HASH_KEY and SET_HASH_MAPPING need the frontend's page, so they run in two phases:
// ctrl_process stops at such a request with one grant-copy op planned at CTRL_OP (guest page →
// private memory), the host executes it, and ctrl_commit validates the private copy, applies it
// and answers. Requests are answered strictly in ring order, one response per request.
//
//   host loop:  r = ctrl_process()            (answers every immediate request, pushes)
//               r & CTRL_R_NOTIFY → notify
//               r & CTRL_R_COPY   → grant copy CTRL_OP (1 op), r = ctrl_commit(), notify if asked
//               r & (CTRL_R_COPY | CTRL_R_MORE) → call ctrl_process again (bounded by the host)

import { CTRL_RING_OFFSET, CTRL_STATE_OFFSET, QUEUE_STATE_OFFSET, TOEPLITZ_TABLE_OFFSET } from '../layout';
import { countAdd } from '../count';
import { COUNTER_CTRL_REJECTED, COUNTER_CTRL_REQUESTS } from '../counters';
import { STATUS_BAD_ARGUMENT, STATUS_BAD_STATE, STATUS_FATAL_RING_INCONSISTENT, STATUS_FATAL_RING_OVERFLOW, STATUS_OK } from '../status';
import { inGuestRxFrameRegion } from '../region';
import { toeplitzTableBuild, toeplitzTableHash } from '../hash/toeplitz';
import { ETH_P_IP, ETH_P_IPV6, ethL3Offset, loadBe16 } from '../net/eth';
import {
  CTRL_RING_SLOTS, CTRL_SLOT_SIZE, CTRLREQ_DATA0, CTRLREQ_DATA1, CTRLREQ_DATA2, CTRLREQ_ID, CTRLREQ_TYPE, CTRLRSP_DATA,
  CTRLRSP_ID, CTRLRSP_STATUS, CTRLRSP_TYPE, GNTOP_FLAGS, GNTOP_GREF, GNTOP_GUEST_OFFSET, GNTOP_LEN, GNTOP_LOCAL,
  GNTOP_STATUS, GNTST_OKAY, RING_ENTRIES, XEN_NETBK_MAX_HASH_KEY_SIZE, XEN_NETBK_MAX_HASH_MAPPING_SIZE,
  XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_CTRL_HASH_MASK_ALL,
  XEN_NETIF_CTRL_HASH_MASK_IPV4, XEN_NETIF_CTRL_HASH_MASK_IPV4_TCP, XEN_NETIF_CTRL_HASH_MASK_IPV6,
  XEN_NETIF_CTRL_HASH_MASK_IPV6_TCP, XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
  XEN_NETIF_CTRL_HASH_TYPE_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
  XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
  XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
  XEN_PAGE_SIZE,
} from './defs';
import { finalCheckForRequests, pushResponsesCheckNotify, readReqProd, readRspProd, stateLoad, stateStore } from './ring';

// Queue-state fields owned by the control ring (0x300-0x3FF, see ring.ts).
export const QS_CTRL_REQ_CONS: u32 = 0x300;
export const QS_CTRL_RSP_PROD_PVT: u32 = 0x304;
export const QS_CTRL_NUM_QUEUES: u32 = 0x308;   // the vif's queue count: mapping entries must be below it
export const QS_CTRL_PENDING: u32 = 0x30C;      // 1 while a request waits for its grant copy
export const QS_CTRL_REQ: u32 = 0x310;          // 16 bytes: the private copy of the current request
export const QS_CTRL_HASH_ALG: u32 = 0x320;     // XEN_NETIF_CTRL_HASH_ALGORITHM_*
export const QS_CTRL_HASH_FLAGS: u32 = 0x324;   // XEN_NETIF_CTRL_HASH_TYPE_* mask
export const QS_CTRL_HASH_SIZE: u32 = 0x328;    // mapping table entries in use (0..128)
export const QS_CTRL_MAPPING_SEL: u32 = 0x32C;  // which half of the double buffer is active (0/1)
export const QS_CTRL_HASH_VALUE: u32 = 0x330;   // the last flow_hash value (0 when none)
export const QS_CTRL_ATTACHED: u32 = 0x334;     // 1 after ctrl_attach

// CTRL_STATE region (layout.ts): offsets inside it.
export const CTRL_OP: u32 = 0x000;              // one GNTOP (16 bytes) for the pending request
export const CTRL_KEY_STAGE: u32 = 0x040;       // 40 bytes: SET_HASH_KEY lands here first
export const CTRL_KEY: u32 = 0x080;             // 40 bytes: the key in use (zero-padded)
export const CTRL_MAPPING: u32 = 0x100;         // 2 × 128 u32: mapping[sel] at CTRL_MAPPING + sel * 512
export const CTRL_MAPPING_STRIDE: u32 = XEN_NETBK_MAX_HASH_MAPPING_SIZE * 4;
export const CTRL_HASH_INPUT: u32 = 0x500;      // up to 36 bytes: the Toeplitz input being built

// ctrl_process / ctrl_commit result bits.
export const CTRL_R_COPY: i32 = 0x1;   // one op waits at CTRL_OP: copy it, then ctrl_commit
export const CTRL_R_NOTIFY: i32 = 0x2; // responses were pushed and the frontend asked for an event
export const CTRL_R_MORE: i32 = 0x4;   // the per-call budget ran out with requests left

// flow_hash result when the frame gets no hash (no HASH extra; Linux's raw hash is then 0).
export const FLOW_HASH_NONE: i32 = 4;

// At most this many IPv6 extension headers are walked. see: flow_dissector.c MAX_FLOW_DISSECT_HDRS
const MAX_FLOW_DISSECT_HDRS: u32 = 15;
const IPPROTO_TCP: u32 = 6;
const NEXTHDR_HOP: u32 = 0;
const NEXTHDR_ROUTING: u32 = 43;
const NEXTHDR_FRAGMENT: u32 = 44;
const NEXTHDR_DEST: u32 = 60;

// @ts-ignore: decorator
@inline function ctrlState(offset: u32): usize {
  return <usize>CTRL_STATE_OFFSET + <usize>offset;
}

// @ts-ignore: decorator
@inline function activeMapping(): usize {
  return ctrlState(CTRL_MAPPING) + <usize>(stateLoad(QS_CTRL_MAPPING_SEL) & 1) * <usize>CTRL_MAPPING_STRIDE;
}

// @ts-ignore: decorator
@inline function inactiveMapping(): usize {
  return ctrlState(CTRL_MAPPING) + <usize>((stateLoad(QS_CTRL_MAPPING_SEL) & 1) ^ 1) * <usize>CTRL_MAPPING_STRIDE;
}

// The private copy of the request being answered (copy-once: the ring slot is read once).
// @ts-ignore: decorator
@inline function req(): usize {
  return <usize>QUEUE_STATE_OFFSET + <usize>QS_CTRL_REQ;
}

function zero(address: usize, bytes: u32): void {
  memory.fill(address, 0, <usize>bytes);
}

function resetHashState(): void {
  stateStore(QS_CTRL_HASH_ALG, XEN_NETIF_CTRL_HASH_ALGORITHM_NONE);
  stateStore(QS_CTRL_HASH_FLAGS, 0);
  stateStore(QS_CTRL_HASH_SIZE, 0);
  stateStore(QS_CTRL_MAPPING_SEL, 0);
  stateStore(QS_CTRL_HASH_VALUE, 0);
  zero(ctrlState(CTRL_KEY_STAGE), XEN_NETBK_MAX_HASH_KEY_SIZE);
  zero(ctrlState(CTRL_KEY), XEN_NETBK_MAX_HASH_KEY_SIZE);
  zero(ctrlState(CTRL_MAPPING), 2 * CTRL_MAPPING_STRIDE);
  toeplitzTableBuild(ctrlState(CTRL_KEY), XEN_NETBK_MAX_HASH_KEY_SIZE, <usize>TOEPLITZ_TABLE_OFFSET);
}

// At connect: attach at the frontend's rsp_prod (refusing a ring whose indices are already
// impossible) and start with no hashing, as a fresh vif does. `numQueues` bounds mapping entries.
// see: interface.c xenvif_connect_ctrl; hash.c xenvif_init_hash
export function ctrl_attach(numQueues: u32): i32 {
  if (numQueues == 0 || numQueues > 0xFFFF) return STATUS_BAD_ARGUMENT;
  const ring = <usize>CTRL_RING_OFFSET;
  const rspProd = readRspProd(ring);
  const reqProd = readReqProd(ring);
  if (reqProd - rspProd > CTRL_RING_SLOTS) return STATUS_FATAL_RING_INCONSISTENT;
  stateStore(QS_CTRL_REQ_CONS, rspProd);
  stateStore(QS_CTRL_RSP_PROD_PVT, rspProd);
  stateStore(QS_CTRL_NUM_QUEUES, numQueues);
  stateStore(QS_CTRL_PENDING, 0);
  stateStore(QS_CTRL_ATTACHED, 1);
  resetHashState();
  return STATUS_OK;
}

// Writes the response to the request copy into the next response slot (the slot of a request
// already consumed). see: netback.c make_ctrl_response
function respond(status: u32, data: u32): void {
  const pvt = stateLoad(QS_CTRL_RSP_PROD_PVT);
  const rsp = <usize>CTRL_RING_OFFSET + <usize>RING_ENTRIES + <usize>((pvt & (CTRL_RING_SLOTS - 1)) * CTRL_SLOT_SIZE);
  store<u16>(rsp + <usize>CTRLRSP_ID, load<u16>(req() + <usize>CTRLREQ_ID));
  store<u16>(rsp + <usize>CTRLRSP_TYPE, load<u16>(req() + <usize>CTRLREQ_TYPE));
  store<u32>(rsp + <usize>CTRLRSP_STATUS, status);
  store<u32>(rsp + <usize>CTRLRSP_DATA, data);
  stateStore(QS_CTRL_RSP_PROD_PVT, pvt + 1);
  countAdd(COUNTER_CTRL_REQUESTS, 1);
  if (status != XEN_NETIF_CTRL_STATUS_SUCCESS) countAdd(COUNTER_CTRL_REJECTED, 1);
}

function planCopy(gref: u32, len: u32, local: usize): void {
  const op = ctrlState(CTRL_OP);
  store<u32>(op + <usize>GNTOP_GREF, gref);
  store<u16>(op + <usize>GNTOP_GUEST_OFFSET, 0); // netback copies from the start of the page
  store<u16>(op + <usize>GNTOP_LEN, <u16>len);
  store<u32>(op + <usize>GNTOP_LOCAL, <u32>local);
  store<i16>(op + <usize>GNTOP_STATUS, -1); // stays failed unless the host copies
  store<u16>(op + <usize>GNTOP_FLAGS, 0);   // guest page → local
}

// see: hash.c xenvif_set_hash_alg
function setHashAlgorithm(alg: u32): u32 {
  if (alg != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE && alg != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) {
    return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  }
  stateStore(QS_CTRL_HASH_ALG, alg);
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

// see: hash.c xenvif_set_hash_flags (unknown bits are checked before the algorithm)
function setHashFlags(flags: u32): u32 {
  if ((flags & ~XEN_NETIF_CTRL_HASH_MASK_ALL) != 0) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  if (stateLoad(QS_CTRL_HASH_ALG) == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  stateStore(QS_CTRL_HASH_FLAGS, flags);
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

// The key's unspecified tail is zeroed. see: hash.c xenvif_set_hash_key
function applyKey(len: u32): void {
  memory.copy(ctrlState(CTRL_KEY), ctrlState(CTRL_KEY_STAGE), <usize>len);
  zero(ctrlState(CTRL_KEY) + <usize>len, XEN_NETBK_MAX_HASH_KEY_SIZE - len);
  toeplitzTableBuild(ctrlState(CTRL_KEY), XEN_NETBK_MAX_HASH_KEY_SIZE, <usize>TOEPLITZ_TABLE_OFFSET);
}

// see: hash.c xenvif_set_hash_mapping_size (zeroes the active table's first `size` entries)
function setMappingSize(size: u32): u32 {
  if (size > XEN_NETBK_MAX_HASH_MAPPING_SIZE) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  stateStore(QS_CTRL_HASH_SIZE, size);
  zero(activeMapping(), size * 4);
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

// Entries [off, off + len) of the inactive table must name a queue; then the tables flip, so a
// frame never sees a half-written or unchecked table (XSA-270). see: hash.c xenvif_set_hash_mapping
function commitMapping(off: u32, len: u32): u32 {
  const table = inactiveMapping();
  const queues = stateLoad(QS_CTRL_NUM_QUEUES);
  for (let i: u32 = 0; i < len; i++) {
    if (load<u32>(table + <usize>((off + i) << 2)) >= queues) return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
  }
  stateStore(QS_CTRL_MAPPING_SEL, (stateLoad(QS_CTRL_MAPPING_SEL) & 1) ^ 1);
  return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

// Answers the request copy at once, or plans its grant copy (returns true: the caller stops).
// see: netback.c process_ctrl_request
function dispatch(): bool {
  const type = <u32>load<u16>(req() + <usize>CTRLREQ_TYPE);
  const data0 = load<u32>(req() + <usize>CTRLREQ_DATA0);
  const data1 = load<u32>(req() + <usize>CTRLREQ_DATA1);
  const data2 = load<u32>(req() + <usize>CTRLREQ_DATA2);
  let status = XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
  let data: u32 = 0;
  if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM) {
    status = setHashAlgorithm(data0);
  } else if (type == XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS) {
    // see: hash.c xenvif_get_hash_flags (every type is offered once an algorithm is set)
    if (stateLoad(QS_CTRL_HASH_ALG) != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) {
      status = XEN_NETIF_CTRL_STATUS_SUCCESS;
      data = XEN_NETIF_CTRL_HASH_MASK_ALL;
    }
  } else if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS) {
    status = setHashFlags(data0);
  } else if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_KEY) {
    // Linux answers INVALID_PARAMETER for a key longer than its 40 bytes (netif.h says BUFFER_OVERFLOW).
    if (data1 > XEN_NETBK_MAX_HASH_KEY_SIZE) {
      status = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    } else if (data1 == 0) {
      applyKey(0);
      status = XEN_NETIF_CTRL_STATUS_SUCCESS;
    } else {
      planCopy(data0, data1, ctrlState(CTRL_KEY_STAGE));
      return true;
    }
  } else if (type == XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE) {
    status = XEN_NETIF_CTRL_STATUS_SUCCESS;
    data = XEN_NETBK_MAX_HASH_MAPPING_SIZE;
  } else if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE) {
    status = setMappingSize(data0);
  } else if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING) {
    const len = data1;
    const off = data2;
    const size = stateLoad(QS_CTRL_HASH_SIZE);
    if (off + len < off || off + len > size || len > XEN_PAGE_SIZE / 4) {
      status = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    } else {
      // entries outside [off, off + len) carry over from the active table
      memory.copy(inactiveMapping(), activeMapping(), <usize>(size << 2));
      if (len == 0) {
        status = commitMapping(off, 0);
      } else {
        planCopy(data0, len << 2, inactiveMapping() + <usize>(off << 2));
        return true;
      }
    }
  }
  // GET_GREF_MAPPING_SIZE, ADD/DEL_GREF_MAPPING (staging grants), INVALID and unknown types:
  // Linux netback implements none of them.
  respond(status, data);
  return false;
}

function pushAndFlags(oldPvt: u32): i32 {
  const pvt = stateLoad(QS_CTRL_RSP_PROD_PVT);
  if (pvt == oldPvt) return 0;
  return pushResponsesCheckNotify(<usize>CTRL_RING_OFFSET, pvt) ? CTRL_R_NOTIFY : 0;
}

// Answers requests in ring order, at most one ring's worth per call, and pushes the responses.
// Returns CTRL_R_* bits. see: netback.c xenvif_ctrl_action
export function ctrl_process(): i32 {
  if (stateLoad(QS_CTRL_ATTACHED) == 0 || stateLoad(QS_CTRL_PENDING) != 0) return STATUS_BAD_STATE;
  const ring = <usize>CTRL_RING_OFFSET;
  const oldPvt = stateLoad(QS_CTRL_RSP_PROD_PVT);
  let cons = stateLoad(QS_CTRL_REQ_CONS);
  let budget = CTRL_RING_SLOTS;
  for (;;) {
    const prod = readReqProd(ring);
    // More unanswered requests than the ring holds: no honest frontend can publish that, and
    // answering them all (Linux does) lets a frontend make us process up to 2^32 garbage
    // requests. Deviation: treated like a data ring overflow, fatal for the vif.
    // see: netback.c xenvif_tx_build_gops (the data-ring check this mirrors)
    if (prod - cons > CTRL_RING_SLOTS) {
      stateStore(QS_CTRL_REQ_CONS, cons);
      return STATUS_FATAL_RING_OVERFLOW;
    }
    while (cons != prod) {
      if (budget == 0) {
        stateStore(QS_CTRL_REQ_CONS, cons);
        return pushAndFlags(oldPvt) | CTRL_R_MORE;
      }
      budget--;
      const slot = ring + <usize>RING_ENTRIES + <usize>((cons & (CTRL_RING_SLOTS - 1)) * CTRL_SLOT_SIZE);
      v128.store(req(), v128.load(slot)); // RING_COPY_REQUEST: the one read of the slot
      cons++;
      if (dispatch()) {
        stateStore(QS_CTRL_REQ_CONS, cons);
        stateStore(QS_CTRL_PENDING, 1);
        return pushAndFlags(oldPvt) | CTRL_R_COPY;
      }
    }
    stateStore(QS_CTRL_REQ_CONS, cons);
    // see: netback.c xenvif_ctrl_action: req_event = req_cons + 1, then look again
    if (!finalCheckForRequests(ring, cons)) break;
  }
  return pushAndFlags(oldPvt);
}

// After the host executed the op at CTRL_OP: validate the private copy, apply it, answer, push.
export function ctrl_commit(): i32 {
  if (stateLoad(QS_CTRL_PENDING) == 0) return STATUS_BAD_STATE;
  stateStore(QS_CTRL_PENDING, 0);
  const oldPvt = stateLoad(QS_CTRL_RSP_PROD_PVT);
  const copied = load<i16>(ctrlState(CTRL_OP) + <usize>GNTOP_STATUS) == GNTST_OKAY;
  const type = <u32>load<u16>(req() + <usize>CTRLREQ_TYPE);
  let status = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER; // a failed copy (see: hash.c)
  if (copied) {
    if (type == XEN_NETIF_CTRL_TYPE_SET_HASH_KEY) {
      applyKey(load<u32>(req() + <usize>CTRLREQ_DATA1));
      status = XEN_NETIF_CTRL_STATUS_SUCCESS;
    } else {
      status = commitMapping(load<u32>(req() + <usize>CTRLREQ_DATA2), load<u32>(req() + <usize>CTRLREQ_DATA1));
    }
  }
  respond(status, 0);
  return pushAndFlags(oldPvt);
}

// Address of the pending request's grant-copy op (one op).
export function ctrl_op_address(): usize {
  return ctrlState(CTRL_OP);
}

export function ctrl_req_cons(): u32 {
  return stateLoad(QS_CTRL_REQ_CONS);
}

export function ctrl_hash_algorithm(): u32 {
  return stateLoad(QS_CTRL_HASH_ALG);
}

export function ctrl_hash_flags(): u32 {
  return stateLoad(QS_CTRL_HASH_FLAGS);
}

export function ctrl_hash_mapping_size(): u32 {
  return stateLoad(QS_CTRL_HASH_SIZE);
}

// Entry `index` of the active mapping table (0 outside the table).
export function ctrl_hash_mapping(index: u32): u32 {
  if (index >= XEN_NETBK_MAX_HASH_MAPPING_SIZE) return 0;
  return load<u32>(activeMapping() + <usize>(index << 2));
}

// Fills the Toeplitz input from the frame's headers and returns the hash-type bit number, or
// FLOW_HASH_NONE. Mirrors what skb_flow_dissect_flow_keys gives xenvif_set_skb_hash: addresses
// as they appear in the header, ports only for unfragmented TCP (0 when the header is cut
// short), IPv6 hop-by-hop / routing / destination options walked, a fragment hashed at L3.
// VLAN tags are looked through (Linux selects the queue while the tag is still offloaded).
// see: hash.c xenvif_set_skb_hash; flow_dissector.c __skb_flow_dissect
function buildHashInput(frame: usize, len: u32, flags: u32): i32 {
  const l3 = ethL3Offset(frame, len);
  if (l3 == 0) return FLOW_HASH_NONE;
  const etherType = loadBe16(frame + <usize>l3 - 2);
  const input = ctrlState(CTRL_HASH_INPUT);
  const ip = frame + <usize>l3;
  let l4: u32;
  let isTcp: bool;
  if (etherType == ETH_P_IP) {
    if ((flags & (XEN_NETIF_CTRL_HASH_MASK_IPV4 | XEN_NETIF_CTRL_HASH_MASK_IPV4_TCP)) == 0) return FLOW_HASH_NONE;
    if (l3 + 20 > len) return FLOW_HASH_NONE;
    const ihl = <u32>load<u8>(ip) & 0xF;
    if (ihl < 5) return FLOW_HASH_NONE;
    memory.copy(input, ip + 12, 8); // saddr, daddr
    const fragment = (loadBe16(ip + 6) & 0x3FFF) != 0; // MF or offset
    isTcp = <u32>load<u8>(ip + 9) == IPPROTO_TCP && !fragment;
    l4 = l3 + (ihl << 2);
    if (isTcp && (flags & XEN_NETIF_CTRL_HASH_MASK_IPV4_TCP) != 0) {
      copyPorts(frame, len, l4, input + 8);
      return <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
    }
    return (flags & XEN_NETIF_CTRL_HASH_MASK_IPV4) != 0 ? <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV4 : FLOW_HASH_NONE;
  }
  if (etherType != ETH_P_IPV6) return FLOW_HASH_NONE;
  if ((flags & (XEN_NETIF_CTRL_HASH_MASK_IPV6 | XEN_NETIF_CTRL_HASH_MASK_IPV6_TCP)) == 0) return FLOW_HASH_NONE;
  if (l3 + 40 > len) return FLOW_HASH_NONE;
  memory.copy(input, ip + 8, 32); // saddr, daddr
  let next = <u32>load<u8>(ip + 6);
  l4 = l3 + 40;
  isTcp = false;
  let headers: u32 = 0;
  let walking = true;
  while (walking) {
    if (next == IPPROTO_TCP) {
      isTcp = true;
      walking = false;
    } else if (headers < MAX_FLOW_DISSECT_HDRS && (next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST)) {
      if (l4 + 2 > len) return FLOW_HASH_NONE; // the dissector fails: no hash at all
      const length = (<u32>load<u8>(frame + <usize>l4 + 1) + 1) << 3;
      next = <u32>load<u8>(frame + <usize>l4);
      l4 += length;
      headers++;
    } else {
      if (next == NEXTHDR_FRAGMENT && l4 + 8 > len) return FLOW_HASH_NONE;
      walking = false; // a fragment header, too many headers, any other protocol: no ports
    }
  }
  if (isTcp && (flags & XEN_NETIF_CTRL_HASH_MASK_IPV6_TCP) != 0) {
    copyPorts(frame, len, l4, input + 32);
    return <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
  }
  return (flags & XEN_NETIF_CTRL_HASH_MASK_IPV6) != 0 ? <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV6 : FLOW_HASH_NONE;
}

// Source and destination port as on the wire; zeros when the frame stops first.
// see: flow_dissector.c __skb_flow_get_ports
function copyPorts(frame: usize, len: u32, l4: u32, to: usize): void {
  if (<u64>l4 + 4 <= <u64>len) store<u32>(to, load<u32>(frame + <usize>l4));
  else store<u32>(to, 0);
}

// The netif hash of a frame (in RX_BUF, SEG_BUF or SCRATCH) under the configured algorithm,
// flags and key: returns the hash-type bit number (0..3) with the value at QS_CTRL_HASH_VALUE
// (flow_hash_value), or FLOW_HASH_NONE with the value 0 (no algorithm, no enabled type, not IP).
// see: hash.c xenvif_set_skb_hash, xenvif_find_hash (the whole 40-byte key is used)
export function flow_hash(frame: usize, len: u32): i32 {
  if (!inGuestRxFrameRegion(frame, <usize>len)) return STATUS_BAD_ARGUMENT;
  stateStore(QS_CTRL_HASH_VALUE, 0);
  if (stateLoad(QS_CTRL_HASH_ALG) != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) return FLOW_HASH_NONE;
  const type = buildHashInput(frame, len, stateLoad(QS_CTRL_HASH_FLAGS));
  if (type == FLOW_HASH_NONE) return type;
  const inputLen: u32 = type == <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV4 ? 8
    : type == <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP ? 12
    : type == <i32>XEN_NETIF_CTRL_HASH_TYPE_IPV6 ? 32 : 36;
  stateStore(QS_CTRL_HASH_VALUE, toeplitzTableHash(<usize>TOEPLITZ_TABLE_OFFSET, ctrlState(CTRL_HASH_INPUT), inputLen));
  return type;
}

export function flow_hash_value(): u32 {
  return stateLoad(QS_CTRL_HASH_VALUE);
}

// The queue for a hashed frame: mapping[hash % size], or hash % queues without a table. An entry
// is always below the ctrl ring's queue count (checked before the flip); one at or above
// `numQueues` is folded as xenvif_start_xmit folds a bad index. see: interface.c xenvif_select_queue
export function select_queue(hash: u32, numQueues: u32): i32 {
  if (numQueues == 0 || numQueues > 0xFFFF) return STATUS_BAD_ARGUMENT;
  const size = stateLoad(QS_CTRL_HASH_SIZE);
  if (size == 0 || size > XEN_NETBK_MAX_HASH_MAPPING_SIZE) return <i32>(hash % numQueues);
  const queue = load<u32>(activeMapping() + <usize>((hash % size) << 2));
  return <i32>(queue < numQueues ? queue : queue % numQueues);
}

// Benchmark: flow_hash `iterations` times over the same frame.
export function bench_flow_hash(frame: usize, len: u32, iterations: u32): u32 {
  if (!inGuestRxFrameRegion(frame, <usize>len)) return <u32>STATUS_BAD_ARGUMENT;
  let acc: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) {
    acc += <u32>flow_hash(frame, len);
    acc ^= stateLoad(QS_CTRL_HASH_VALUE);
  }
  return acc;
}
