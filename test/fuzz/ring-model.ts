// The frontend's model of its own ring page, for the oracle: every byte the hostile frontend
// wrote is recorded, and after each step the page must equal the model except for responses in
// the range rsp_prod moved over. A response must answer a slot that was published (never one
// beyond the highest req_prod), carry a defined status, echo the id of the request it answers,
// and touch only the response fields. rsp_prod never moves back nor more than a ring at once.
// see: netif.h struct netif_tx_response / netif_rx_response; ring.h

import { expect } from 'vitest';
import type { NetfrontHostileQueue } from '../../src/xen/sim/netfront.js';
import type { RawTxRequest } from '../../src/xen/sim/netfront-tx.js';
import type { SharedRing } from '../../src/xen/sim/netfront-ring.js';

const RING_HEADER = 64;
const RING_SIZE = 256;
const PAGE = 4096;

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;

/** One observed RX response slot (data or extra, as the parse decided). */
export type RxSlot = { kind: 'data'; id: number; offset: number; flags: number; status: number } | { kind: 'extra'; type: number; flags: number; bytes: Uint8Array };

abstract class RingModel {
  readonly model: Uint8Array;
  /** rsp_prod when the model was taken, and as of the last check. */
  readonly start: number;
  rspSeen: number;
  /** Highest req_prod published, as an offset from start (rewinds do not lower it). */
  maxPublished = 0;
  answered = 0;
  /** Whether answering more than a ring's worth of over-posted requests is tolerated (RX). */
  protected allowOverPosting = false;

  constructor(readonly ring: SharedRing, readonly entry: number) {
    const page = this.page();
    this.model = page.slice();
    this.start = ring.rspProd;
    this.rspSeen = this.start;
    this.notePublished(ring.reqProd);
  }

  page(): Uint8Array {
    const v = this.ring.view();
    return new Uint8Array(v.buffer, v.byteOffset, PAGE);
  }

  at(index: number): number {
    return RING_HEADER + ((index >>> 0) & (RING_SIZE - 1)) * this.entry;
  }

  protected recordSlot(index: number): void {
    const at = this.at(index);
    this.model.set(this.page().subarray(at, at + this.entry), at);
  }

  notePublished(value: number): void {
    const offset = (value - this.start) >>> 0;
    // TX: a producer more than 2^31 ahead is a rewind (Linux netback disables the vif for more
    // than a ring outstanding). RX: Linux reads `req_prod - req_cons` unsigned with no overflow
    // check, so any producer value, a jump past 2^31 or a rewind alike, publishes every slot up
    // to it; answering them only overwrites that frontend's own ring.
    if ((offset < 0x80000000 || this.allowOverPosting) && offset > this.maxPublished) this.maxPublished = offset;
    // RX, a rewind behind the backend's consumer but not behind `start`: req_cons is at least
    // rsp_prod (one response per consumed request, all pushed while the backend is idle), so
    // `req_prod - req_cons` is ~2^32 and every slot counts as published, as for a rewind past start.
    if (this.allowOverPosting && ((value - this.ring.rspProd) >>> 0) >= 0x80000000) this.maxPublished = 0xFFFFFFFF;
  }

  /** Checks the page against the model; returns the number of new responses. */
  check(): number {
    const rsp = this.ring.rspProd;
    const fresh = (rsp - this.rspSeen) >>> 0;
    // At most a ring's worth at once — unless the frontend itself published more than a ring
    // of requests (over-posting RX buffers): Linux netback then answers them all too (rx.c has
    // no request-overflow check), overwriting only that frontend's own ring.
    const outstanding = this.maxPublished - ((this.rspSeen - this.start) >>> 0);
    expect(fresh, 'rsp_prod moved back or by more than a ring').toBeLessThanOrEqual(Math.max(RING_SIZE, this.allowOverPosting ? outstanding : 0));
    expect((rsp - this.start) >>> 0, 'a response for a slot never published').toBeLessThanOrEqual(this.maxPublished);
    const page = this.page();
    const answeredPositions = new Set<number>();
    this.checkResponses(page, this.rspSeen, fresh);
    for (let i = 0; i < fresh; i++) answeredPositions.add(this.at(this.rspSeen + i));
    // nothing else in the page moved: the padding after the indices and every unanswered slot
    for (let b = 16; b < RING_HEADER; b++) expect(page[b], `ring header padding byte ${b}`).toBe(this.model[b]);
    for (let pos = 0; pos < RING_SIZE; pos++) {
      const at = RING_HEADER + pos * this.entry;
      if (answeredPositions.has(at)) continue;
      for (let b = 0; b < this.entry; b++) {
        if (page[at + b] !== this.model[at + b]) expect.fail(`slot ${pos} byte ${b} changed without a response (${this.model[at + b]} → ${page[at + b]})`);
      }
    }
    this.rspSeen = rsp;
    this.answered += fresh;
    return fresh;
  }

  protected abstract checkResponses(page: Uint8Array, from: number, count: number): void;
}

export class TxRingModel extends RingModel {
  readonly statuses = new Map<number, number>();
  /**
   * Every id written to a slot position since it was last answered: a slot rewritten after
   * publication (XSA-155) may be answered with any id it held when the backend made its one copy,
   * never with one it never held.
   */
  private readonly idsWritten = new Map<number, Set<number>>();

  constructor(readonly raw: NetfrontHostileQueue) {
    super(raw.txRing, 12);
  }

  write(index: number, request: RawTxRequest): void {
    this.raw.writeTxRequest(index, request);
    this.recordSlot(index);
    this.noteId(index);
  }

  writeBytes(index: number, bytes: Uint8Array): void {
    this.raw.writeTxSlot(index, bytes);
    this.recordSlot(index);
    this.noteId(index);
  }

  private noteId(index: number): void {
    const at = this.at(index);
    const ids = this.idsWritten.get(at) ?? new Set<number>();
    ids.add(this.model[at + 8]! | (this.model[at + 9]! << 8));
    this.idsWritten.set(at, ids);
  }

  publish(value: number): void {
    this.raw.setTxReqProd(value);
    this.notePublished(value);
  }

  protected checkResponses(page: Uint8Array, from: number, count: number): void {
    const view = new DataView(page.buffer, page.byteOffset, PAGE);
    for (let i = 0; i < count; i++) {
      const at = this.at(from + i);
      const status = view.getInt16(at + 2, true);
      expect([NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_OKAY, NETIF_RSP_NULL], `TX response status at ${from + i}`).toContain(status);
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      // an extra slot keeps its id bytes (they belong to the extra record)
      if (status !== NETIF_RSP_NULL) {
        const expected = this.model[at + 8]! | (this.model[at + 9]! << 8);
        const held = this.idsWritten.get(at) ?? new Set([expected]);
        const id = view.getUint16(at, true);
        if (!held.has(id)) expect(id, `TX response id at ${from + i} (ids the slot held: ${[...held].join(', ')})`).toBe(expected);
      } else {
        expect([page[at], page[at + 1]], 'a NULL response rewrote the extra record').toEqual([this.model[at], this.model[at + 1]]);
      }
      for (let b = 4; b < 12; b++) expect(page[at + b], `TX response touched request byte ${b}`).toBe(this.model[at + b]);
      this.model.set(page.subarray(at, at + 4), at);
      this.idsWritten.delete(at);
    }
  }
}

const NETRXF_MORE_DATA = 0x4;
const NETRXF_EXTRA_INFO = 0x8;
const XEN_NETIF_EXTRA_FLAG_MORE = 0x1;

export class RxRingModel extends RingModel {
  /** Parsed responses in order. */
  readonly slots: RxSlot[] = [];
  private expectExtra = false;

  constructor(readonly raw: NetfrontHostileQueue) {
    super(raw.rxRing, 8);
    this.allowOverPosting = true;
  }

  post(index: number, id: number, gref: number): void {
    this.raw.postRxRequest(index, id, gref);
    this.recordSlot(index);
  }

  publish(value: number): void {
    this.raw.setRxReqProd(value);
    this.notePublished(value);
  }

  protected checkResponses(page: Uint8Array, from: number, count: number): void {
    const view = new DataView(page.buffer, page.byteOffset, PAGE);
    for (let i = 0; i < count; i++) {
      const at = this.at(from + i);
      if (this.expectExtra) {
        const type = page[at]!;
        const flags = page[at + 1]!;
        // the extras a backend sends on RX: GSO (1), HASH (4), XDP headroom (5)
        expect([1, 4, 5], `RX extra type at ${from + i}`).toContain(type);
        expect(flags & ~XEN_NETIF_EXTRA_FLAG_MORE, 'RX extra flags').toBe(0);
        if (type === 1) {
          expect(view.getUint16(at + 2, true), 'RX GSO extra size').toBeGreaterThan(0);
          expect([1, 2], 'RX GSO extra type').toContain(page[at + 4]);
        }
        this.slots.push({ kind: 'extra', type, flags, bytes: page.slice(at, at + 8) });
        this.expectExtra = (flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      } else {
        const id = view.getUint16(at, true);
        const offset = view.getUint16(at + 2, true);
        const flags = view.getUint16(at + 4, true);
        const status = view.getInt16(at + 6, true);
        const expected = this.model[at]! | (this.model[at + 1]! << 8);
        expect(id, `RX response id at ${from + i}`).toBe(expected);
        // a failed copy leaves the raw GNTST_* status (-1..-13), as Linux does (see: rx.c xenvif_rx_copy_flush)
        if (status < 0) expect(status, 'RX error status').toBeGreaterThanOrEqual(-13);
        else expect(offset + status, 'RX response beyond its page').toBeLessThanOrEqual(PAGE);
        expect(flags & ~0xF, 'RX response flags').toBe(0);
        this.slots.push({ kind: 'data', id, offset, flags, status });
        this.expectExtra = (flags & NETRXF_EXTRA_INFO) !== 0;
      }
      this.model.set(page.subarray(at, at + 8), at);
    }
  }

  /** Data slots seen, and how many carried more_data. */
  packets(): number {
    return this.slots.filter((s) => s.kind === 'data' && (s.flags & NETRXF_MORE_DATA) === 0).length;
  }
}
