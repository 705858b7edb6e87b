// The RX half of one simulated netfront queue: posts whole writable pages as RX requests (id =
// ring slot), and reassembles responses into frames with every check Linux netfront applies,
// recycling buffers of extra and error slots unrevoked as it does.
// see: xen-netfront.c xennet_alloc_rx_buffers, xennet_poll, xennet_get_responses,
// xennet_get_extras, xennet_fill_frags, xennet_set_skb_gso; netif-protocol.md §2.3-2.5, §6.3

import { NET_RING_SIZE, responseProdOverflow, SharedRing, XEN_PAGE_SIZE } from './netfront-ring.js';
import type { NetfrontChecksum, NetfrontContext, NetfrontGso } from './netfront-stats.js';
import { NetfrontUsageError, XEN_NETIF_NR_SLOTS_MIN } from './netfront-tx.js';

// netif.h RX flags (bits 0 and 1 are swapped relative to TX).
export const NETRXF_DATA_VALIDATED = 0x1;
export const NETRXF_CSUM_BLANK = 0x2;
export const NETRXF_MORE_DATA = 0x4;
export const NETRXF_EXTRA_INFO = 0x8;
const XEN_NETIF_EXTRA_FLAG_MORE = 0x1;
const XEN_NETIF_EXTRA_TYPE_GSO = 1;
const XEN_NETIF_EXTRA_TYPE_HASH = 4;
const XEN_NETIF_EXTRA_TYPE_XDP = 5;
/** Linux's header has the XDP extra, so its MAX is 6. see: include/xen/interface/io/netif.h */
const XEN_NETIF_EXTRA_TYPE_MAX = 6;
/** see: xen-netfront.c NET_RX_SLOTS_MIN (includes the slot for GSO metadata) */
export const NET_RX_SLOTS_MIN = XEN_NETIF_NR_SLOTS_MIN + 1;
const RX_COPY_THRESHOLD = 256;
const NAPI_BUDGET = 64;
/** see: xen-netfront.c rx_refill_timeout (jiffies + HZ/10) */
export const RX_REFILL_DELAY_MS = 100;

export interface NetfrontPacket {
  queue: number;
  frame: Uint8Array;
  checksum: NetfrontChecksum;
  gso?: NetfrontGso;
  /** A HASH extra's contents (Linux netfront ignores it; frontends that configure hashing use it). */
  hash?: { type: number; algorithm: number; value: number };
}

/** A timer source, injectable so tests drive the 100 ms refill retry by hand. */
export interface NetfrontClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: NetfrontClock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

interface Response { id: number; offset: number; flags: number; status: number }
interface Extra { type: number; flags: number; gsoSize: number; gsoType: number; xdpHeadroom: number; hashType: number; hashAlgorithm: number; hashValue: number }

function readResponse(v: DataView): Response {
  return { id: v.getUint16(0, true), offset: v.getUint16(2, true), flags: v.getUint16(4, true), status: v.getInt16(6, true) };
}

function readExtra(v: DataView): Extra {
  return {
    type: v.getUint8(0), flags: v.getUint8(1), gsoSize: v.getUint16(2, true), gsoType: v.getUint8(4), xdpHeadroom: v.getUint16(2, true),
    hashType: v.getUint8(2), hashAlgorithm: v.getUint8(3), hashValue: v.getUint32(4, true),
  };
}

/** The page a delivered slot held, after its grant was revoked. */
interface Fragment { page: Uint8Array; offset: number; size: number }

export class NetfrontRxQueue {
  readonly ring: SharedRing;
  reqProdPvt: number;
  rspCons: number;
  /** rx_rsp_unconsumed: what the event handler last saw, to detect a producer going backwards. */
  private rspUnconsumed = 0;
  /** grant_rx_ref per ring slot (-1: no buffer posted there). */
  private readonly grantRef = new Int32Array(NET_RING_SIZE).fill(-1);
  private timer: unknown;
  private pollScheduled = false;
  bypassed = false;
  /** Most buffers the guest can hold posted at once (memory pressure); 256 means no limit. */
  bufferLimit = NET_RING_SIZE;
  /** Data slots a reassembled skb may hold: CONFIG_MAX_SKB_FRAGS (17 by default). */
  maxSkbFrags = 17;
  /** Polls run only through runPoll(). */
  manualPoll = false;

  constructor(
    private readonly ctx: NetfrontContext,
    readonly index: number,
    ring: SharedRing,
    start: number,
    private readonly clock: NetfrontClock,
    private readonly rxNotify: () => boolean,
    private readonly kick: () => void,
    private readonly deliver: (packet: NetfrontPacket) => void,
  ) {
    this.ring = ring;
    this.reqProdPvt = start >>> 0;
    this.rspCons = start >>> 0;
  }

  /** Buffers posted (published or not) and not yet answered. */
  get posted(): number {
    return (this.reqProdPvt - this.rspCons) >>> 0;
  }

  get refillPending(): boolean {
    return this.timer !== undefined;
  }

  /** see: xen-netfront.c xennet_alloc_rx_buffers */
  refill(): void {
    if (!this.ctx.carrier || this.bypassed || this.ctx.broken) return;
    const limit = Math.min(NET_RING_SIZE, this.bufferLimit);
    let reqProd = this.reqProdPvt;
    for (; ((reqProd - this.rspCons) >>> 0) < limit; reqProd = (reqProd + 1) >>> 0) {
      const id = reqProd & (NET_RING_SIZE - 1);
      if (this.grantRef[id]! >= 0) throw new NetfrontUsageError(`RX slot ${id} still holds a buffer`); // BUG_ON in Linux
      const ref = this.ctx.grants.grantAccess(this.ctx.domid, this.ctx.backendDomid, false);
      this.grantRef[id] = ref;
      this.writeRequest(reqProd, id, ref);
      this.ctx.stats.rx_posted++;
    }
    this.reqProdPvt = reqProd;
    // Too few for the largest packet: retry later rather than publish a trickle.
    if (((reqProd - this.rspCons) >>> 0) < NET_RX_SLOTS_MIN) {
      this.ctx.stats.rx_refill_deferred++;
      this.armRefillTimer();
      return;
    }
    if (this.ring.pushRequests(reqProd) && this.rxNotify()) {
      this.ctx.stats.rx_notify++;
      this.kick();
    }
  }

  private armRefillTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.schedulePoll(); // see: xen-netfront.c rx_refill_timeout (napi_schedule)
    }, RX_REFILL_DELAY_MS);
  }

  private writeRequest(index: number, id: number, ref: number): void {
    const at = this.ring.slot(index);
    const v = this.ring.view();
    v.setUint16(at, id, true);
    v.setUint16(at + 2, 0, true);
    v.setUint32(at + 4, ref, true);
  }

  /** see: xen-netfront.c xennet_set_rx_rsp_cons */
  private setRspCons(value: number): void {
    this.rspCons = value >>> 0;
    this.rspUnconsumed = (this.ring.rspProd - this.rspCons) >>> 0;
  }

  /** Takes the buffer of ring index `ri` (xennet_get_rx_ref): -1 when none was posted there. */
  private takeRef(ri: number): number {
    const i = ri & (NET_RING_SIZE - 1);
    const ref = this.grantRef[i]!;
    this.grantRef[i] = -1;
    return ref;
  }

  /** Re-posts a buffer unrevoked at the private producer. see: xen-netfront.c xennet_move_rx_slot */
  private moveSlot(ref: number): void {
    const id = this.reqProdPvt & (NET_RING_SIZE - 1);
    if (this.grantRef[id]! >= 0) throw new NetfrontUsageError(`RX slot ${id} still holds a buffer`);
    this.grantRef[id] = ref;
    this.writeRequest(this.reqProdPvt, id, ref);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
    this.ctx.stats.rx_recycled++;
  }

  /**
   * The event half: returns false when the device is (or became) broken — then no EOI is sent and
   * the port stays masked; `work` says whether the event found new responses.
   * see: xen-netfront.c xennet_handle_rx
   */
  handleEvent(): { ok: boolean; work: boolean } {
    if (this.ctx.broken) return { ok: false, work: false };
    if (this.bypassed) return { ok: true, work: false };
    const queued = (this.ring.rspProd - this.rspCons) >>> 0;
    let work = false;
    if (queued > this.rspUnconsumed) {
      this.rspUnconsumed = queued;
      work = true;
    } else if (queued < this.rspUnconsumed) {
      this.ctx.markBroken(this.index, 'RX producer index going backwards');
      return { ok: false, work: false };
    }
    if (this.ctx.carrier && queued !== 0) this.schedulePoll();
    return { ok: true, work };
  }

  /**
   * NAPI: polls once the current task is done, never twice at once. In manual mode the poll only
   * runs when the owner calls runPoll() (deterministic harnesses, fuzzing).
   */
  schedulePoll(): void {
    if (this.pollScheduled) return;
    this.pollScheduled = true;
    if (this.manualPoll) return;
    queueMicrotask(() => this.runPoll());
  }

  get pollRequested(): boolean {
    return this.pollScheduled;
  }

  runPoll(budget = NAPI_BUDGET): number {
    this.pollScheduled = false;
    if (this.bypassed || this.ctx.broken || !this.ctx.carrier) return 0;
    return this.poll(budget);
  }

  /** Reassembles up to `budget` packets; returns how many were delivered. see: xen-netfront.c xennet_poll */
  poll(budget: number): number {
    const stats = this.ctx.stats;
    const rp = this.ring.rspProd;
    if (responseProdOverflow(rp, this.rspCons)) {
      this.ctx.markBroken(this.index, `Illegal number of responses ${(rp - this.rspCons) >>> 0}`);
      return 0;
    }
    const delivered: NetfrontPacket[] = [];
    let i = this.rspCons;
    let workDone = 0;
    while (i !== rp && workDone < budget) {
      const first = readResponse(this.ring.copySlot(i));
      const extras = new Map<number, Extra>();
      const frags: Fragment[] = [];
      const err = this.getResponses(first, extras, rp, frags);
      if (this.ctx.broken) return workDone;
      let failed = err;
      let gso: NetfrontGso | undefined;
      if (!failed) {
        const g = extras.get(XEN_NETIF_EXTRA_TYPE_GSO);
        if (g !== undefined) {
          // see: xen-netfront.c xennet_set_skb_gso
          if (g.gsoSize === 0 || (g.gsoType !== 1 && g.gsoType !== 2)) {
            this.setRspCons(this.rspCons + frags.length);
            failed = true;
          } else gso = { type: g.gsoType === 1 ? 'tcpv4' : 'tcpv6', size: g.gsoSize };
        }
      }
      if (!failed && frags.length > 1 && !this.fillFrags(frags)) failed = true;
      if (failed) {
        stats.rx_errors++;
        i = this.rspCons;
        continue;
      }
      const checksum: NetfrontChecksum = (first.flags & NETRXF_CSUM_BLANK) !== 0 ? 'partial' : (first.flags & NETRXF_DATA_VALIDATED) !== 0 ? 'validated' : 'none';
      const length = frags.reduce((sum, f) => sum + f.size, 0);
      const frame = new Uint8Array(length);
      let at = 0;
      for (const f of frags) {
        frame.set(f.page.subarray(f.offset, f.offset + f.size), at);
        at += f.size;
      }
      const packet: NetfrontPacket = gso === undefined ? { queue: this.index, frame, checksum } : { queue: this.index, frame, checksum, gso };
      const h = extras.get(XEN_NETIF_EXTRA_TYPE_HASH);
      if (h !== undefined) packet.hash = { type: h.hashType, algorithm: h.hashAlgorithm, value: h.hashValue };
      delivered.push(packet);
      i = (this.rspCons + 1) >>> 0;
      this.setRspCons(i);
      workDone++;
    }
    workDone -= this.handleIncoming(delivered);
    this.refill();
    if (workDone < budget) {
      if (this.ring.finalCheckForResponses(this.rspCons)) this.schedulePoll();
    } else this.schedulePoll();
    return workDone;
  }

  /** Returns true on a packet error (the packet's slots are consumed); the device may be broken after. see: xen-netfront.c xennet_get_responses */
  private getResponses(first: Response, extras: Map<number, Extra>, rp: number, frags: Fragment[]): boolean {
    let rx = first;
    const max = XEN_NETIF_NR_SLOTS_MIN + (rx.status <= RX_COPY_THRESHOLD ? 1 : 0);
    let cons = this.rspCons;
    let ref = this.takeRef(cons);
    let slots = 1;
    let err = false;
    if ((rx.flags & NETRXF_EXTRA_INFO) !== 0) {
      err = this.getExtras(extras, rp);
      if (!err) {
        const xdp = extras.get(XEN_NETIF_EXTRA_TYPE_XDP);
        if (xdp !== undefined) rx = { ...rx, offset: xdp.xdpHeadroom };
      }
      cons = this.rspCons;
    }
    for (;;) {
      next: {
        if (ref < 0) {
          err = true; // "Bad rx response id": no buffer was posted in this slot
          break next;
        }
        if (rx.status < 0 || rx.offset + rx.status > XEN_PAGE_SIZE) {
          this.moveSlot(ref);
          err = true;
          break next;
        }
        // The guest keeps the page's bytes as they were when access ended.
        const page = this.ctx.grants.page(this.ctx.domid, ref).slice();
        if (!this.ctx.grants.endAccess(this.ctx.domid, ref)) {
          this.ctx.markBroken(this.index, 'Grant still in use by backend domain');
          return true;
        }
        frags.push({ page, offset: rx.offset, size: rx.status });
      }
      if ((rx.flags & NETRXF_MORE_DATA) === 0) break;
      if (((cons + slots) >>> 0) === rp) {
        err = true; // "Need more slots"
        break;
      }
      rx = readResponse(this.ring.copySlot(cons + slots));
      ref = this.takeRef(cons + slots);
      slots++;
    }
    if (slots > max) err = true; // "Too many slots"
    if (err) this.setRspCons(cons + slots);
    return err;
  }

  /** see: xen-netfront.c xennet_get_extras */
  private getExtras(extras: Map<number, Extra>, rp: number): boolean {
    let cons = this.rspCons;
    let err = false;
    let extra: Extra;
    do {
      if (((cons + 1) >>> 0) === rp) {
        err = true; // "Missing extra info"
        break;
      }
      cons = (cons + 1) >>> 0;
      extra = readExtra(this.ring.copySlot(cons));
      if (extra.type === 0 || extra.type >= XEN_NETIF_EXTRA_TYPE_MAX) err = true;
      else extras.set(extra.type, extra);
      const ref = this.takeRef(cons);
      if (ref >= 0) this.moveSlot(ref);
    } while ((extra.flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0);
    this.setRspCons(cons);
    return err;
  }

  /**
   * The skb takes one page fragment per data slot; when they reach MAX_SKB_FRAGS the first
   * fragment's bytes (up to 256) are pulled into the linear area, which frees its fragment only if
   * it held no more. see: xen-netfront.c xennet_fill_frags
   */
  private fillFrags(frags: Fragment[]): boolean {
    const pullTo = Math.min(frags[0]!.size, RX_COPY_THRESHOLD);
    let nrFrags = 1;
    let headLen = 0;
    let firstFragLeft = frags[0]!.size;
    let cons = this.rspCons;
    for (let k = 1; k < frags.length; k++) {
      cons = (cons + 1) >>> 0;
      if (nrFrags === this.maxSkbFrags && headLen < pullTo) {
        const pulled = Math.min(pullTo - headLen, firstFragLeft);
        headLen += pulled;
        firstFragLeft -= pulled;
        if (firstFragLeft === 0) nrFrags--;
      }
      if (nrFrags >= this.maxSkbFrags) {
        this.setRspCons(cons + 1 + (frags.length - 1 - k));
        return false;
      }
      nrFrags++;
    }
    this.setRspCons(cons);
    return true;
  }

  /** Checksum setup before the stack sees the frame; returns how many were dropped. see: xen-netfront.c handle_incoming_queue, checksum_setup */
  private handleIncoming(packets: NetfrontPacket[]): number {
    const stats = this.ctx.stats;
    let dropped = 0;
    for (const p of packets) {
      // A GSO frame must be checksum-partial; Linux forces it (and recomputes the pseudo sum).
      if (p.checksum !== 'partial' && p.gso !== undefined) {
        stats.rx_gso_checksum_fixup++;
        p.checksum = 'partial';
      }
      if (p.checksum === 'partial' && !checksumSetupPossible(p.frame)) {
        stats.rx_errors++;
        dropped++;
        continue;
      }
      stats.rx_packets++;
      stats.rx_bytes += p.frame.length;
      this.deliver(p);
    }
    return dropped;
  }

  /** Revokes every posted buffer; returns how many could not be revoked. see: xen-netfront.c xennet_release_rx_bufs */
  release(): number {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    let leaked = 0;
    for (let i = 0; i < NET_RING_SIZE; i++) {
      const ref = this.grantRef[i]!;
      if (ref < 0) continue;
      if (!this.ctx.grants.endAccess(this.ctx.domid, ref)) leaked++;
      this.grantRef[i] = -1;
    }
    return leaked;
  }

  // ---- hostile access ----

  writeRawRequest(index: number, id: number, gref: number): void {
    this.writeRequest(index, id & 0xFFFF, gref >>> 0);
  }
}

/**
 * skb_checksum_setup accepts a partial checksum only on IPv4/IPv6 TCP or UDP (unfragmented, the
 * L4 header present); anything else is -EPROTO and netfront drops the frame.
 * see: net/core/skbuff.c skb_checksum_setup_ipv4/_ipv6 (simplified: no VLAN, known extension headers)
 */
function checksumSetupPossible(frame: Uint8Array): boolean {
  if (frame.length < 14) return false;
  const type = (frame[12]! << 8) | frame[13]!;
  const l4Ok = (proto: number, at: number): boolean => (proto === 6 ? frame.length >= at + 20 : proto === 17 ? frame.length >= at + 8 : false);
  if (type === 0x0800) {
    if (frame.length < 34) return false;
    const ihl = (frame[14]! & 0xF) * 4;
    const fragOff = ((frame[20]! << 8) | frame[21]!) & 0x3FFF;
    if (ihl < 20 || fragOff !== 0) return false;
    return l4Ok(frame[23]!, 14 + ihl);
  }
  if (type === 0x86DD) {
    let next = frame[20];
    let at = 54;
    while (next === 0 || next === 43 || next === 60) {
      if (frame.length < at + 8) return false;
      next = frame[at];
      at += (frame[at + 1]! + 1) * 8;
    }
    return next !== undefined && l4Ok(next, at);
  }
  return false;
}
