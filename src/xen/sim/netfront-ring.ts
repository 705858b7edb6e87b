// The frontend's view of one shared netif ring page: header fields, slot addressing and the
// front-side ring.h macros. The page is read through the grant table on every access because a
// page the backend mapped lives inside its Wasm memory, which may have grown (a new buffer).
// see: xen/include/public/io/ring.h; netif-protocol.md §1

import type { GrantingTable } from './frontend-handles.js';

export const RING_HEADER = 64;
/** Both data rings hold 256 entries (TX 12-byte, RX 8-byte entries). see: netif-protocol.md §1 */
export const NET_RING_SIZE = 256;
export const TX_ENTRY_SIZE = 12;
export const RX_ENTRY_SIZE = 8;
export const XEN_PAGE_SIZE = 4096;

// the header's u32 words: req_prod, req_event, rsp_prod, rsp_event
const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

export class SharedRing {
  constructor(
    private readonly grants: GrantingTable,
    private readonly owner: number,
    readonly ref: number,
    readonly entrySize: number,
  ) {}

  /** A fresh view of the page (the backend may have mapped it into Wasm memory that grew since). */
  view(): DataView {
    const page = this.grants.page(this.owner, this.ref);
    return new DataView(page.buffer, page.byteOffset, page.byteLength);
  }

  get reqProd(): number { return this.index(REQ_PROD); }
  set reqProd(v: number) { this.setIndex(REQ_PROD, v); }
  get reqEvent(): number { return this.index(REQ_EVENT); }
  set reqEvent(v: number) { this.setIndex(REQ_EVENT, v); }
  get rspProd(): number { return this.index(RSP_PROD); }
  set rspProd(v: number) { this.setIndex(RSP_PROD, v); }
  get rspEvent(): number { return this.index(RSP_EVENT); }
  set rspEvent(v: number) { this.setIndex(RSP_EVENT, v); }

  // A page in shared memory may be read by a backend on another thread (src/xen/sim/shared/): its
  // indices go through Atomics, so a producer index is never seen before the slots it publishes
  // (Xen x86 guests are little-endian, as Uint32Array is wherever Node runs). A page of the
  // one-thread simulation keeps the plain DataView access.
  private index(word: number): number {
    const page = this.grants.page(this.owner, this.ref);
    if (inSharedMemory(page)) return Atomics.load(new Uint32Array(page.buffer, page.byteOffset, 4), word);
    return new DataView(page.buffer, page.byteOffset, 16).getUint32(word * 4, true);
  }

  private setIndex(word: number, value: number): void {
    const page = this.grants.page(this.owner, this.ref);
    if (inSharedMemory(page)) Atomics.store(new Uint32Array(page.buffer, page.byteOffset, 4), word, value >>> 0);
    else new DataView(page.buffer, page.byteOffset, 16).setUint32(word * 4, value >>> 0, true);
  }

  /** Byte offset in the page of the slot for free-running index `index`. */
  slot(index: number): number {
    return RING_HEADER + ((index >>> 0) & (NET_RING_SIZE - 1)) * this.entrySize;
  }

  /** A private copy of one slot (RING_COPY_RESPONSE: every field is read from the copy only). */
  copySlot(index: number): DataView {
    const page = this.grants.page(this.owner, this.ref);
    const at = this.slot(index);
    const copy = page.slice(at, at + this.entrySize);
    return new DataView(copy.buffer);
  }

  /** FRONT_RING_INIT + SHARED_RING_INIT, at `start` (0 in Linux; other values exercise index wrap). */
  init(start: number): void {
    const page = this.grants.page(this.owner, this.ref);
    page.fill(0);
    this.reqProd = start;
    this.rspProd = start;
    this.reqEvent = start + 1;
    this.rspEvent = start + 1;
  }

  /**
   * Publishes requests up to `newProd`; true when the backend asked for an event, i.e. its
   * req_event lies in (old, new]. see: ring.h RING_PUSH_REQUESTS_AND_CHECK_NOTIFY
   */
  pushRequests(newProd: number): boolean {
    const old = this.reqProd;
    this.reqProd = newProd;
    const event = this.reqEvent;
    return ((newProd - event) >>> 0) < ((newProd - old) >>> 0);
  }

  /** see: ring.h RING_FINAL_CHECK_FOR_RESPONSES (arm rsp_event, then re-check) */
  finalCheckForResponses(rspCons: number): boolean {
    if (this.rspProd !== rspCons) return true;
    this.rspEvent = rspCons + 1;
    return this.rspProd !== rspCons;
  }
}

/** see: ring.h RING_RESPONSE_PROD_OVERFLOW */
export function responseProdOverflow(prod: number, rspCons: number): boolean {
  return ((prod - rspCons) >>> 0) > NET_RING_SIZE;
}

/**
 * Whether a page lives in a SharedArrayBuffer. A browser page that is not cross-origin isolated
 * (the visualizer served by a plain static server or by `sim`) has no SharedArrayBuffer at all,
 * so naming it there would throw.
 */
function inSharedMemory(page: Uint8Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && page.buffer instanceof SharedArrayBuffer;
}
