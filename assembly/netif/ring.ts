// Shared-ring index access and event suppression, the parts of Xen's ring.h a backend uses.
// Indices are free-running u32 and compared only as unsigned differences. The frontend may write
// any value at any time, so every index is read once, with an atomic load, and the local copy is
// what gets validated. Wasm atomic loads and stores are sequentially consistent, which gives
// ring.h's barriers without a fence: an atomic store publishes every earlier write (wmb before
// the producer index), an atomic load orders the reads after it (rmb after reading req_prod), and
// two atomic accesses are never reordered (mb between the producer store and the event read).
// see: xen/include/public/io/ring.h

import { QUEUE_STATE_OFFSET } from '../layout';
import { RING_REQ_EVENT, RING_REQ_PROD, RING_RSP_EVENT, RING_RSP_PROD } from './defs';

// Private queue state (QUEUE_STATE region): the backend's shadows of the ring indices. Offsets
// 0x000-0x0FF are the ring shadows and flags below; 0x100-0x1FF belong to netif/tx.ts,
// 0x200-0x2FF to netif/rx.ts, 0x300-0x3FF to the control ring, 0x400-0x4FF to checksum offload
// and vnet mapping (csum/offload.ts: HeaderInfo scratch and the csum_setup result).
// 0x500-0x5FF belong to gso/tso.ts (HeaderInfo scratch, the resume offset), 0x600-0x6FF to
// hash/toeplitz.ts (the embedding API's hash).
export const QS_TX_REQ_CONS: u32 = 0x00;
export const QS_TX_RSP_PROD_PVT: u32 = 0x04;
export const QS_RX_REQ_CONS: u32 = 0x08;
export const QS_RX_RSP_PROD_PVT: u32 = 0x0C;
export const QS_FLAGS: u32 = 0x10;
export const QS_FATAL_STATUS: u32 = 0x14;   // the first fatal status seen (0 while healthy)

export const QS_FLAG_DISABLED: u32 = 0x1;

// @ts-ignore: decorator
@inline export function stateLoad(field: u32): u32 {
  return load<u32>(<usize>QUEUE_STATE_OFFSET + <usize>field);
}

// @ts-ignore: decorator
@inline export function stateStore(field: u32, value: u32): void {
  store<u32>(<usize>QUEUE_STATE_OFFSET + <usize>field, value);
}

// @ts-ignore: decorator
@inline export function queueDisabled(): bool {
  return (stateLoad(QS_FLAGS) & QS_FLAG_DISABLED) != 0;
}

// Disables the queue for good (until the host resets it on reconnect) and returns the status.
// see: netback.c xenvif_fatal_tx_err
export function disableQueue(status: i32): i32 {
  stateStore(QS_FLAGS, stateLoad(QS_FLAGS) | QS_FLAG_DISABLED);
  if (stateLoad(QS_FATAL_STATUS) == 0) stateStore(QS_FATAL_STATUS, <u32>status);
  return status;
}

// The frontend's request producer, read once; the slots are read after it.
// @ts-ignore: decorator
@inline export function readReqProd(ring: usize): u32 {
  return atomic.load<u32>(ring + <usize>RING_REQ_PROD);
}

// @ts-ignore: decorator
@inline export function readRspProd(ring: usize): u32 {
  return atomic.load<u32>(ring + <usize>RING_RSP_PROD);
}

// Publishes responses up to `newProd` and says whether the frontend asked to be notified: notify
// iff rsp_event lies in (old, new]. see: ring.h RING_PUSH_RESPONSES_AND_CHECK_NOTIFY
export function pushResponsesCheckNotify(ring: usize, newProd: u32): bool {
  const oldProd = atomic.load<u32>(ring + <usize>RING_RSP_PROD);
  atomic.store<u32>(ring + <usize>RING_RSP_PROD, newProd);
  const event = atomic.load<u32>(ring + <usize>RING_RSP_EVENT);
  return newProd - event < newProd - oldProd;
}

// Before sleeping: ask for an event at the next request, then re-check so a request published in
// between is not missed. Returns whether requests are pending. see: ring.h RING_FINAL_CHECK_FOR_REQUESTS
export function finalCheckForRequests(ring: usize, reqCons: u32): bool {
  if (readReqProd(ring) != reqCons) return true;
  atomic.store<u32>(ring + <usize>RING_REQ_EVENT, reqCons + 1);
  return readReqProd(ring) != reqCons;
}

// Asks for an event once the frontend's producer passes `at` (used by RX when the head packet
// needs more slots than are posted). see: rx.c xenvif_rx_ring_slots_available
export function requestEventAt(ring: usize, at: u32): void {
  atomic.store<u32>(ring + <usize>RING_REQ_EVENT, at);
}
