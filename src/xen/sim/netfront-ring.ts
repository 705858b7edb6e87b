// The frontend's view of one shared netif ring page: header fields, slot addressing and the
// front-side ring.h macros. The page is read through the grant table on every access because a
// page the backend mapped lives inside its Wasm memory, which may have grown (a new buffer).
// see: xen/include/public/io/ring.h; netif-protocol.md §1

import type { SimGrantTable } from './grant-table.js';

export const RING_HEADER = 64;
/** Both data rings hold 256 entries (TX 12-byte, RX 8-byte entries). see: netif-protocol.md §1 */
export const NET_RING_SIZE = 256;
export const TX_ENTRY_SIZE = 12;
export const RX_ENTRY_SIZE = 8;
export const XEN_PAGE_SIZE = 4096;

const REQ_PROD = 0;
const REQ_EVENT = 4;
const RSP_PROD = 8;
const RSP_EVENT = 12;

export class SharedRing {
  constructor(
    private readonly grants: SimGrantTable,
    private readonly owner: number,
    readonly ref: number,
    readonly entrySize: number,
  ) {}

  /** A fresh view of the page (the backend may have mapped it into Wasm memory that grew since). */
  view(): DataView {
    const page = this.grants.page(this.owner, this.ref);
    return new DataView(page.buffer, page.byteOffset, page.byteLength);
  }

  get reqProd(): number { return this.view().getUint32(REQ_PROD, true); }
  set reqProd(v: number) { this.view().setUint32(REQ_PROD, v >>> 0, true); }
  get reqEvent(): number { return this.view().getUint32(REQ_EVENT, true); }
  set reqEvent(v: number) { this.view().setUint32(REQ_EVENT, v >>> 0, true); }
  get rspProd(): number { return this.view().getUint32(RSP_PROD, true); }
  set rspProd(v: number) { this.view().setUint32(RSP_PROD, v >>> 0, true); }
  get rspEvent(): number { return this.view().getUint32(RSP_EVENT, true); }
  set rspEvent(v: number) { this.view().setUint32(RSP_EVENT, v >>> 0, true); }

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
