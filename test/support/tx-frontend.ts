// A test netfront for the guest TX ring: writes requests and extra-info records into the TX ring
// page inside the instance's memory, publishes req_prod, and reads responses back. The wire
// format is written out here from netif.h / ring.h (netif-protocol.md §1, §2.1, §2.2, §2.5), not
// taken from the kernels, so tests compare the kernels against an independent encoding.

import type { KernelInstance } from '../../src/wasm/module.js';
import { PAGE, type TestGrantTable } from './grant-table.js';

export const NETTXF_CSUM_BLANK = 0x1;
export const NETTXF_DATA_VALIDATED = 0x2;
export const NETTXF_MORE_DATA = 0x4;
export const NETTXF_EXTRA_INFO = 0x8;

export const RSP_DROPPED = -2;
export const RSP_ERROR = -1;
export const RSP_OKAY = 0;
export const RSP_NULL = 1;

export const EXTRA_GSO = 1;
export const EXTRA_MCAST_ADD = 2;
export const EXTRA_MCAST_DEL = 3;
export const EXTRA_HASH = 4;
export const EXTRA_XDP = 5;

const REQ_PROD = 0;
const REQ_EVENT = 4;
const RSP_PROD = 8;
const RSP_EVENT = 12;
const SLOTS_AT = 64;
const SLOT = 12;
const RING_SIZE = 256;

export interface TxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

export interface Extra {
  type: number;
  /** The 6 type-specific bytes (offsets 2..7 of the record). */
  payload?: ArrayLike<number>;
  /** XEN_NETIF_EXTRA_FLAG_MORE; packet() sets it on all but the last extra itself. */
  more?: boolean;
}

export const gsoExtra = (size: number, type: number): Extra => ({ type: EXTRA_GSO, payload: [size & 0xFF, size >> 8, type, 0, 0, 0] });
export const hashExtra = (type: number, value: number): Extra => ({
  type: EXTRA_HASH,
  payload: [type, 1, value & 0xFF, (value >>> 8) & 0xFF, (value >>> 16) & 0xFF, value >>> 24],
});
export const mcastAddExtra = (mac: ArrayLike<number>): Extra => ({ type: EXTRA_MCAST_ADD, payload: mac });
export const mcastDelExtra = (mac: ArrayLike<number>): Extra => ({ type: EXTRA_MCAST_DEL, payload: mac });
export const xdpExtra = (headroom: number): Extra => ({ type: EXTRA_XDP, payload: [headroom & 0xFF, headroom >> 8, 0, 0, 0, 0] });

export interface PacketSpec {
  frame: Uint8Array;
  /** Bytes carried by each data slot, first slot first (default: the whole frame in one slot). */
  slots?: number[];
  /** Page offset of each data slot (default 0). */
  offsets?: number[];
  /** NETTXF csum flags for the first request. */
  flags?: number;
  extras?: Extra[];
}

export interface SentPacket {
  frame: Uint8Array;
  /** Ring index of the first request. */
  first: number;
  /** Ring indices of the data slots, in order. */
  dataIndices: number[];
  extraIndices: number[];
  /** The id of each data slot. */
  ids: number[];
  grefs: number[];
}

export interface TxResponse {
  index: number;
  id: number;
  status: number;
}

export class TxFrontend {
  readonly ring: number;
  reqProdPvt: number;
  rspCons: number;
  private nextId = 0;
  /** What was written per ring index: the request (data) or 'extra'. */
  readonly sent = new Map<number, TxRequest | 'extra'>();

  constructor(readonly instance: KernelInstance, readonly grants: TestGrantTable, start = 0) {
    this.ring = instance.constant('TX_RING_OFFSET');
    const bytes = instance.bytes;
    bytes.fill(0, this.ring, this.ring + PAGE);
    this.reqProdPvt = start >>> 0;
    this.rspCons = start >>> 0;
    this.set(REQ_PROD, start);
    this.set(RSP_PROD, start);
    this.set(REQ_EVENT, start + 1);
    this.set(RSP_EVENT, start + 1);
  }

  private set(field: number, value: number): void {
    this.instance.view.setUint32(this.ring + field, value >>> 0, true);
  }

  private get(field: number): number {
    return this.instance.view.getUint32(this.ring + field, true);
  }

  slotAddress(index: number): number {
    return this.ring + SLOTS_AT + (index & (RING_SIZE - 1)) * SLOT;
  }

  allocId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xFF;
    return id;
  }

  /** Writes a raw request at `index` (default: the next private producer slot). */
  writeRequest(req: TxRequest, index = this.reqProdPvt): number {
    const view = this.instance.view;
    const p = this.slotAddress(index);
    view.setUint32(p, req.gref, true);
    view.setUint16(p + 4, req.offset, true);
    view.setUint16(p + 6, req.flags, true);
    view.setUint16(p + 8, req.id, true);
    view.setUint16(p + 10, req.size, true);
    this.sent.set(index >>> 0, { ...req });
    if (index === this.reqProdPvt) this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    return index;
  }

  /** Convenience: a request with an auto id. */
  request(req: Partial<TxRequest> & { size: number }): number {
    return this.writeRequest({ gref: req.gref ?? this.grants.grant(), offset: req.offset ?? 0, flags: req.flags ?? 0, id: req.id ?? this.allocId(), size: req.size });
  }

  writeExtra(extra: Extra, index = this.reqProdPvt): number {
    const bytes = this.instance.bytes;
    const p = this.slotAddress(index);
    bytes.fill(0, p, p + SLOT);
    bytes[p] = extra.type;
    bytes[p + 1] = extra.more === true ? 1 : 0;
    if (extra.payload !== undefined) for (let i = 0; i < 6 && i < extra.payload.length; i++) bytes[p + 2 + i] = extra.payload[i]!;
    this.sent.set(index >>> 0, 'extra');
    if (index === this.reqProdPvt) this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    return index;
  }

  /** Writes one packet as netfront lays it out: first data request, extras, following data requests. */
  packet(spec: PacketSpec): SentPacket {
    const sizes = spec.slots ?? [spec.frame.length];
    const extras = spec.extras ?? [];
    const sent: SentPacket = { frame: spec.frame, first: this.reqProdPvt, dataIndices: [], extraIndices: [], ids: [], grefs: [] };
    let at = 0;
    const dataReqs: TxRequest[] = sizes.map((size, i) => {
      const offset = spec.offsets?.[i] ?? 0;
      const gref = this.grants.grant(spec.frame.subarray(at, at + size), offset);
      at += size;
      const more = i < sizes.length - 1 ? NETTXF_MORE_DATA : 0;
      const flags = i === 0 ? (spec.flags ?? 0) | more | (extras.length > 0 ? NETTXF_EXTRA_INFO : 0) : more;
      return { gref, offset, flags, id: this.allocId(), size: i === 0 ? spec.frame.length : size };
    });
    dataReqs.forEach((req, i) => {
      const index = this.writeRequest(req);
      sent.dataIndices.push(index);
      sent.ids.push(req.id);
      sent.grefs.push(req.gref);
      if (i === 0) {
        extras.forEach((extra, j) => sent.extraIndices.push(this.writeExtra({ ...extra, more: extra.more ?? j < extras.length - 1 })));
      }
    });
    return sent;
  }

  /** Publishes req_prod (default: everything written). */
  publish(to = this.reqProdPvt): void {
    this.set(REQ_PROD, to);
  }

  get reqProd(): number { return this.get(REQ_PROD); }
  get rspProd(): number { return this.get(RSP_PROD); }
  get reqEvent(): number { return this.get(REQ_EVENT); }
  set rspEvent(value: number) { this.set(RSP_EVENT, value); }
  get rspEvent(): number { return this.get(RSP_EVENT); }

  /** Reads the responses published since the last call (does not advance rsp_event). */
  responses(): TxResponse[] {
    const view = this.instance.view;
    const prod = this.rspProd;
    const out: TxResponse[] = [];
    while (this.rspCons !== prod) {
      const p = this.slotAddress(this.rspCons);
      out.push({ index: this.rspCons, id: view.getUint16(p, true), status: view.getInt16(p + 2, true) });
      this.rspCons = (this.rspCons + 1) >>> 0;
    }
    return out;
  }
}

/** A frame of `length` bytes: an Ethernet-looking header then a counting pattern. */
export function makeFrame(length: number, seed = 1): Uint8Array {
  const frame = new Uint8Array(length);
  for (let i = 0; i < length; i++) frame[i] = (i * 7 + seed * 13) & 0xFF;
  return frame;
}
