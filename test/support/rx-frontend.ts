// A test frontend for the guest-RX ring: posts RX requests {id, gref} into the ring page at
// RX_RING_OFFSET of a KernelInstance, publishes req_prod, and consumes responses the way Linux
// netfront does (slot by ring position, extras after the first data slot, the same per-slot
// checks), reassembling each packet from the granted pages.
// see: xen-netfront.c xennet_alloc_rx_buffers, xennet_poll, xennet_get_responses,
//      xennet_get_extras, xennet_fill_frags, xennet_set_skb_gso

import type { KernelInstance } from '../../src/wasm/module.js';
import type { GrantPages } from './grant-pages.js';

const RING_SIZE = 256;
const HEADER = 64;
const SLOT = 8;
const PAGE = 4096;
const NETRXF_MORE_DATA = 0x4;
const NETRXF_EXTRA_INFO = 0x8;
const EXTRA_FLAG_MORE = 0x1;
const EXTRA_TYPE_GSO = 1;
const EXTRA_TYPE_XDP = 5;
const EXTRA_TYPE_MAX = 6; // Linux's header (XDP included)
const NR_SLOTS_MIN = 18;
const RX_COPY_THRESHOLD = 256;

export interface RxResponse {
  index: number;
  id: number;
  offset: number;
  flags: number;
  status: number;
  raw: Uint8Array;
}

export interface RxExtra {
  index: number;
  type: number;
  flags: number;
  raw: Uint8Array;
}

export interface RxPacket {
  /** Reassembled bytes (empty when `error` is set). */
  data: Uint8Array;
  /** Flags of the first data slot. */
  flags: number;
  /** Extras by type, in arrival order. */
  extras: RxExtra[];
  /** Data-slot responses in order. */
  slots: RxResponse[];
  /** Ring index of the first slot and the number of slots (data + extras) consumed. */
  firstIndex: number;
  slotCount: number;
  /** Why netfront would drop it (rx_errors), if it would. */
  error?: string;
}

export class RxFrontend {
  readonly k: KernelInstance;
  readonly grants: GrantPages;
  readonly ring: number;
  reqProd = 0;
  rspCons = 0;
  broken = false;
  /** gref posted at each ring slot (netfront keeps grant_rx_ref[] by slot). */
  private readonly grefBySlot = new Array<number>(RING_SIZE).fill(-1);
  private nextGref = 1000;

  constructor(k: KernelInstance, grants: GrantPages) {
    this.k = k;
    this.grants = grants;
    this.ring = k.constant('RX_RING_OFFSET');
  }

  /** FRONT_RING_INIT + SHARED_RING_INIT at an arbitrary start index (to exercise wrapping). */
  init(start = 0): void {
    this.k.bytes.fill(0, this.ring, this.ring + PAGE);
    this.reqProd = start >>> 0;
    this.rspCons = start >>> 0;
    this.setU32(0, start);
    this.setU32(8, start);
    this.setU32(4, start + 1);
    this.setU32(12, start + 1);
  }

  get reqEvent(): number { return this.getU32(4); }
  get rspProd(): number { return this.getU32(8); }
  set rspEvent(v: number) { this.setU32(12, v); }
  get rspEvent(): number { return this.getU32(12); }

  /** Writes `n` requests (id = slot index, a fresh writable page each) and publishes req_prod. */
  post(n: number, publish = true): void {
    for (let i = 0; i < n; i++) {
      const index = this.reqProd;
      const slot = index & (RING_SIZE - 1);
      const gref = this.nextGref++;
      this.grants.page(gref).fill(0xEE); // stale guest bytes, so a short copy shows
      this.grefBySlot[slot] = gref;
      const a = this.ring + HEADER + slot * SLOT;
      this.k.view.setUint16(a, slot, true);
      this.k.view.setUint16(a + 2, 0, true);
      this.k.view.setUint32(a + 4, gref, true);
      this.reqProd = (this.reqProd + 1) >>> 0;
    }
    if (publish) this.publish();
  }

  publish(): void {
    this.setU32(0, this.reqProd);
  }

  /** The gref this frontend posted at ring index `index`. */
  grefAt(index: number): number {
    return this.grefBySlot[index & (RING_SIZE - 1)]!;
  }

  response(index: number): RxResponse {
    const a = this.ring + HEADER + (index & (RING_SIZE - 1)) * SLOT;
    const v = this.k.view;
    return {
      index: index >>> 0,
      id: v.getUint16(a, true),
      offset: v.getUint16(a + 2, true),
      flags: v.getUint16(a + 4, true),
      status: v.getInt16(a + 6, true),
      raw: this.k.read(a, SLOT),
    };
  }

  /** Consumes every published response; returns the packets as netfront would see them. */
  receive(): RxPacket[] {
    const rp = this.rspProd;
    // see: xen-netfront.c xennet_poll (RING_RESPONSE_PROD_OVERFLOW → broken)
    if (((rp - this.rspCons) >>> 0) > RING_SIZE) {
      this.broken = true;
      return [];
    }
    const packets: RxPacket[] = [];
    while (this.rspCons !== rp) packets.push(this.onePacket(rp));
    return packets;
  }

  // see: xen-netfront.c xennet_get_responses, xennet_get_extras, xennet_fill_frags
  private onePacket(rp: number): RxPacket {
    const firstIndex = this.rspCons;
    const first = this.response(firstIndex);
    const extras: RxExtra[] = [];
    let error: string | undefined;
    let cons = firstIndex;
    let xdpHeadroom = -1;
    if (first.flags & NETRXF_EXTRA_INFO) {
      let flags = 0;
      do {
        if (((cons + 1) >>> 0) === rp) {
          error ??= 'missing extra info';
          break;
        }
        cons = (cons + 1) >>> 0;
        const raw = this.response(cons).raw;
        flags = raw[1]!;
        const type = raw[0]!;
        if (type === 0 || type >= EXTRA_TYPE_MAX) error ??= `invalid extra type ${type}`;
        else extras.push({ index: cons, type, flags, raw });
        if (type === EXTRA_TYPE_XDP) xdpHeadroom = raw[2]! | (raw[3]! << 8);
      } while (flags & EXTRA_FLAG_MORE);
    }
    // Data slots: the first, then the ones after the extras.
    const slots: RxResponse[] = [first];
    let rx = first;
    let next = (cons + 1) >>> 0;
    while (rx.flags & NETRXF_MORE_DATA) {
      if (next === rp) {
        error ??= 'need more slots';
        break;
      }
      rx = this.response(next);
      slots.push(rx);
      next = (next + 1) >>> 0;
    }
    const max = NR_SLOTS_MIN + (first.status <= RX_COPY_THRESHOLD ? 1 : 0);
    if (slots.length > max) error ??= 'too many slots';
    const chunks: Uint8Array[] = [];
    for (const [i, s] of slots.entries()) {
      // Netfront takes the first slot's offset from the XDP extra; netback's status is the fill
      // offset (headroom included), so the payload of every slot is [headroom, status).
      const offset = i === 0 && xdpHeadroom >= 0 ? xdpHeadroom : s.offset;
      const start = xdpHeadroom >= 0 ? xdpHeadroom : s.offset;
      const end = xdpHeadroom >= 0 ? s.status : s.offset + s.status;
      if (s.status < 0 || (xdpHeadroom < 0 && offset + s.status > PAGE) || end > PAGE || end < start) {
        error ??= `slot ${s.index}: offset ${offset}, status ${s.status}`;
        continue;
      }
      const gref = this.grefAt(s.index);
      if (s.id !== (s.index & (RING_SIZE - 1))) error ??= `slot ${s.index}: id ${s.id} is not this slot's request`;
      chunks.push(this.grants.page(gref).slice(start, end));
    }
    const gso = extras.find((e) => e.type === EXTRA_TYPE_GSO);
    if (gso) {
      const size = gso.raw[2]! | (gso.raw[3]! << 8);
      const type = gso.raw[4]!;
      if (size === 0) error ??= 'GSO size must not be zero';
      else if (type !== 1 && type !== 2) error ??= `bad GSO type ${type}`;
    }
    this.rspCons = next;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(error ? 0 : total);
    if (!error) {
      let at = 0;
      for (const c of chunks) {
        data.set(c, at);
        at += c.length;
      }
    }
    const packet: RxPacket = { data, flags: first.flags, extras, slots, firstIndex, slotCount: (next - firstIndex) >>> 0 };
    if (error !== undefined) packet.error = error;
    return packet;
  }

  private getU32(off: number): number {
    return this.k.view.getUint32(this.ring + off, true);
  }

  private setU32(off: number, v: number): void {
    this.k.view.setUint32(this.ring + off, v >>> 0, true);
  }
}
