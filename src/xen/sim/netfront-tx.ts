// The TX half of one simulated netfront queue: lays a frame out like an skb (a linear head at
// some page offset plus page fragments), turns it into the request slots xennet_start_xmit
// writes, grants each slot's page read-only, and reclaims ids and grants from responses.
// see: xen-netfront.c xennet_start_xmit, xennet_tx_buf_gc; netif-protocol.md §2.1, §6.5

import { NET_RING_SIZE, responseProdOverflow, SharedRing, XEN_PAGE_SIZE } from './netfront-ring.js';
import type { NetfrontChecksum, NetfrontContext, NetfrontGso } from './netfront-stats.js';
import { NetbackError } from '../../errors.js';

// netif.h TX flags and constants.
export const NETTXF_CSUM_BLANK = 0x1;
export const NETTXF_DATA_VALIDATED = 0x2;
export const NETTXF_MORE_DATA = 0x4;
export const NETTXF_EXTRA_INFO = 0x8;
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;
export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;
export const XEN_NETIF_MAX_TX_SIZE = 0xFFFF;
export const XEN_NETIF_NR_SLOTS_MIN = 18;
const ETH_HLEN = 14;
/** see: xen-netfront.c MAX_XEN_SKB_FRAGS (65536 / XEN_PAGE_SIZE + 1); linearize above it + 1 */
const MAX_XEN_SKB_FRAGS = 65536 / XEN_PAGE_SIZE + 1;
/** Stop the queue when this many slots are outstanding. see: xen-netfront.c netfront_tx_slot_available */
export const TX_STOP_THRESHOLD = NET_RING_SIZE - XEN_NETIF_NR_SLOTS_MIN - 1;
const TX_LINK_NONE = 0xFFFF;
const TX_PENDING = 0xFFFE;
/** Where a bounced head starts in its fresh page (NET_SKB_PAD of headroom). */
const BOUNCE_HEADROOM = 64;
/** Bytes outside the frame on a granted page: what a real guest page holds next to the skb. */
const FOREIGN_FILL = 0x5A;

/** Where a frame's bytes lie, as an skb would hold them. */
export interface SkbLayout {
  /** Page offset of skb->data (values >= 4096 skip whole pages). */
  headOffset: number;
  /** skb_headlen: bytes in the linear area (contiguous, may span pages). */
  headLength: number;
  /** Page fragments in order: each contiguous from `offset` of a (compound) page. */
  frags: { offset: number; size: number }[];
}

export interface SendOptions {
  checksum?: NetfrontChecksum;
  gso?: NetfrontGso;
  /** The skb shape; default: {@link defaultLayout}. */
  layout?: SkbLayout;
}

export type TxDropReason = 'broken' | 'no-carrier' | 'too-big' | 'no-sg' | 'needs-gso';
export type SendResult =
  | { kind: 'sent'; queue: number; slots: number; notified: boolean }
  /** The queue is stopped (237 slots outstanding): retry after the 'wake' event. */
  | { kind: 'stopped'; queue: number }
  | { kind: 'dropped'; queue: number; reason: TxDropReason };

/** What the backend offered, which gates what the frontend may send. see: xen-netfront.c xennet_fix_features */
export interface TxPeerFeatures {
  sg: boolean;
  gsoTcpv4: boolean;
  gsoTcpv6: boolean;
}

/** A misuse of the simulation API (not a guest or backend behaviour). */
export class NetfrontUsageError extends NetbackError {
  constructor(message: string) {
    super('NETBACK_NETFRONT_USAGE', message);
  }
}

/** A realistic skb: small frames linear after 128 bytes of headroom; larger ones a 256-byte head plus 4 KiB page frags. */
export function defaultLayout(length: number): SkbLayout {
  const headOffset = 128;
  if (length <= XEN_PAGE_SIZE - headOffset) return { headOffset, headLength: length, frags: [] };
  const headLength = 256;
  const frags: { offset: number; size: number }[] = [];
  for (let at = headLength; at < length; at += XEN_PAGE_SIZE) frags.push({ offset: 0, size: Math.min(XEN_PAGE_SIZE, length - at) });
  return { headOffset, headLength, frags };
}

/** see: grant_table.h gnttab_count_grant (pages touched by [offset, offset + len)) */
function countGrants(offset: number, len: number): number {
  return Math.ceil(((offset % XEN_PAGE_SIZE) + len) / XEN_PAGE_SIZE);
}

/** see: xen-netfront.c xennet_count_skb_slots */
export function countSkbSlots(layout: SkbLayout): number {
  let slots = countGrants(layout.headOffset, layout.headLength);
  for (const f of layout.frags) slots += countGrants(f.offset, f.size);
  return slots;
}

interface Chunk {
  /** The frame bytes this slot carries. */
  start: number;
  length: number;
  pageOffset: number;
}

/** One slot per page touched, as gnttab_foreach_grant_in_range splits a range. see: xen-netfront.c xennet_make_txreqs */
function chunksOf(frameStart: number, offset: number, length: number): Chunk[] {
  const out: Chunk[] = [];
  let pageOffset = offset % XEN_PAGE_SIZE;
  let at = frameStart;
  let left = length;
  while (left > 0) {
    const n = Math.min(left, XEN_PAGE_SIZE - pageOffset);
    out.push({ start: at, length: n, pageOffset });
    at += n;
    left -= n;
    pageOffset = 0;
  }
  return out;
}

export interface RawTxRequest { gref: number; offset: number; flags: number; id: number; size: number }

export class NetfrontTxQueue {
  readonly ring: SharedRing;
  reqProdPvt: number;
  rspCons: number;
  stopped = false;
  /** Hostile mode: the normal TX logic no longer touches the ring. */
  bypassed = false;
  private readonly link = new Uint16Array(NET_RING_SIZE);
  private freeHead = 0;
  private pendHead = TX_LINK_NONE;
  /** grant_tx_ref: -1 when the id holds no grant. */
  private readonly grantRef = new Int32Array(NET_RING_SIZE).fill(-1);

  constructor(
    private readonly ctx: NetfrontContext,
    readonly index: number,
    ring: SharedRing,
    start: number,
    private readonly peer: () => TxPeerFeatures,
    private readonly bounceAll: boolean,
    private readonly kick: () => void,
    private readonly onWake: () => void,
  ) {
    this.ring = ring;
    this.reqProdPvt = start >>> 0;
    this.rspCons = start >>> 0;
    // see: xen-netfront.c xennet_init_queue (every id on the free chain)
    for (let i = 0; i < NET_RING_SIZE; i++) this.link[i] = i + 1;
    this.link[NET_RING_SIZE - 1] = TX_LINK_NONE;
  }

  /** Slots on the ring not yet answered. */
  get outstanding(): number {
    return (this.reqProdPvt - this.rspCons) >>> 0;
  }

  /** see: xen-netfront.c netfront_tx_slot_available */
  slotAvailable(): boolean {
    return this.outstanding < TX_STOP_THRESHOLD;
  }

  /** Ids waiting for a response. */
  pendingIds(): number {
    let n = 0;
    for (let i = 0; i < NET_RING_SIZE; i++) if (this.link[i] === TX_PENDING) n++;
    return n;
  }

  // see: xen-netfront.c xennet_start_xmit
  send(frame: Uint8Array, options: SendOptions = {}): SendResult {
    const stats = this.ctx.stats;
    const drop = (reason: TxDropReason): SendResult => {
      stats.tx_dropped++;
      return { kind: 'dropped', queue: this.index, reason };
    };
    if (this.ctx.broken) return drop('broken');
    if (this.stopped) return { kind: 'stopped', queue: this.index };
    if (frame.length > XEN_NETIF_MAX_TX_SIZE) return drop('too-big');
    if (options.gso !== undefined && (!Number.isInteger(options.gso.size) || options.gso.size < 1 || options.gso.size > 0xFFFF)) {
      throw new NetfrontUsageError(`GSO size ${options.gso.size} is not a u16 above 0`);
    }
    let layout = options.layout ?? defaultLayout(frame.length);
    checkLayout(layout, frame.length);

    let slots = countSkbSlots(layout);
    if (slots > MAX_XEN_SKB_FRAGS + 1) {
      layout = { headOffset: layout.headOffset, headLength: frame.length, frags: [] };
      slots = countSkbSlots(layout);
      stats.tx_linearized++;
    }
    // The first request must carry the Ethernet header, else netback drops the packet; an
    // untrusted backend gets every frame on zeroed pages.
    let bounced = false;
    if (this.bounceAll || XEN_PAGE_SIZE - (layout.headOffset % XEN_PAGE_SIZE) < ETH_HLEN) {
      layout = { headOffset: BOUNCE_HEADROOM, headLength: frame.length, frags: [] };
      slots = countSkbSlots(layout);
      bounced = true;
      stats.tx_bounced++;
    }

    if (!this.ctx.carrier) return drop('no-carrier');
    const peer = this.peer();
    if (slots > 1 && !peer.sg) return drop('no-sg');
    if (options.gso !== undefined && !(peer.sg && (options.gso.type === 'tcpv4' ? peer.gsoTcpv4 : peer.gsoTcpv6))) return drop('needs-gso');

    const chunks = chunksOf(0, layout.headOffset, layout.headLength);
    let at = layout.headLength;
    for (const f of layout.frags) {
      chunks.push(...chunksOf(at, f.offset, f.size));
      at += f.size;
    }

    const view = (): DataView => this.ring.view();
    const startProd = this.reqProdPvt;
    let previous = -1; // page offset of the last data request: it gets more_data when another follows
    let first = -1;
    chunks.forEach((chunk, i) => {
      if (previous >= 0) {
        const v = view();
        v.setUint16(previous + 6, v.getUint16(previous + 6, true) | NETTXF_MORE_DATA, true);
      }
      const slot = this.setupGrant(frame, chunk, bounced);
      if (i === 0) {
        first = slot;
        const v = view();
        let flags = 0;
        if (options.checksum === 'partial') flags |= NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED;
        else if (options.checksum === 'validated') flags |= NETTXF_DATA_VALIDATED;
        if (options.gso !== undefined) {
          flags |= NETTXF_EXTRA_INFO;
          const e = this.ring.slot(this.reqProdPvt++);
          v.setUint8(e, XEN_NETIF_EXTRA_TYPE_GSO);
          v.setUint8(e + 1, 0);
          v.setUint16(e + 2, options.gso.size, true);
          v.setUint8(e + 4, options.gso.type === 'tcpv6' ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4);
          v.setUint8(e + 5, 0);
          v.setUint16(e + 6, 0, true);
        }
        v.setUint16(slot + 6, flags, true);
      }
      previous = slot;
    });
    // The first request carries the whole packet's length.
    view().setUint16(first + 10, frame.length, true);
    this.markPending();
    const notified = this.ring.pushRequests(this.reqProdPvt);
    if (notified) {
      stats.tx_notify++;
      this.kick();
    }
    stats.tx_packets++;
    stats.tx_bytes += frame.length;
    if (!this.slotAvailable()) {
      this.stopped = true;
      stats.tx_queue_stopped++;
    }
    return { kind: 'sent', queue: this.index, slots: (this.reqProdPvt - startProd) >>> 0, notified };
  }

  // see: xen-netfront.c xennet_tx_setup_grant
  private setupGrant(frame: Uint8Array, chunk: Chunk, bounced: boolean): number {
    const id = this.getId(() => this.freeHead, (v) => { this.freeHead = v; });
    if (id === TX_LINK_NONE) throw new NetfrontUsageError('TX id free list empty while the queue was running');
    const page = new Uint8Array(XEN_PAGE_SIZE).fill(bounced ? 0 : FOREIGN_FILL);
    page.set(frame.subarray(chunk.start, chunk.start + chunk.length), chunk.pageOffset);
    const ref = this.ctx.grants.grantAccess(this.ctx.domid, this.ctx.backendDomid, true, page);
    this.grantRef[id] = ref;
    const slot = this.ring.slot(this.reqProdPvt++);
    const v = this.ring.view();
    v.setUint32(slot, ref, true);
    v.setUint16(slot + 4, chunk.pageOffset, true);
    v.setUint16(slot + 6, 0, true);
    v.setUint16(slot + 8, id, true);
    v.setUint16(slot + 10, chunk.length, true);
    // Pending only once the producer is about to move. see: xen-netfront.c xennet_mark_tx_pending
    this.link[id] = this.pendHead;
    this.pendHead = id;
    return slot;
  }

  private getId(head: () => number, setHead: (v: number) => void): number {
    const id = head();
    if (id !== TX_LINK_NONE) {
      setHead(this.link[id]!);
      this.link[id] = TX_LINK_NONE;
    }
    return id;
  }

  private markPending(): void {
    for (;;) {
      const id = this.getId(() => this.pendHead, (v) => { this.pendHead = v; });
      if (id === TX_LINK_NONE) return;
      this.link[id] = TX_PENDING;
    }
  }

  /**
   * Reclaims answered requests; returns whether any response was consumed (else the event was
   * spurious). see: xen-netfront.c xennet_tx_buf_gc
   */
  gc(): boolean {
    const stats = this.ctx.stats;
    let workDone = false;
    let more: boolean;
    do {
      const prod = this.ring.rspProd;
      if (responseProdOverflow(prod, this.rspCons)) {
        this.ctx.markBroken(this.index, `Illegal number of responses ${(prod - this.rspCons) >>> 0}`);
        return workDone;
      }
      for (let cons = this.rspCons; cons !== prod; cons = (cons + 1) >>> 0) {
        workDone = true;
        const rsp = this.ring.copySlot(cons);
        const id = rsp.getUint16(0, true);
        const status = rsp.getInt16(2, true);
        if (status === NETIF_RSP_NULL) {
          stats.tx_rsp_null++;
          continue;
        }
        if (id >= NET_RING_SIZE) {
          this.ctx.markBroken(this.index, `Response has incorrect id (${id})`);
          return workDone;
        }
        if (this.link[id] !== TX_PENDING) {
          this.ctx.markBroken(this.index, 'Response for inactive request');
          return workDone;
        }
        this.link[id] = TX_LINK_NONE;
        if (!this.ctx.grants.endAccess(this.ctx.domid, this.grantRef[id]!)) {
          this.ctx.markBroken(this.index, 'Grant still in use by backend domain');
          return workDone;
        }
        this.grantRef[id] = -1;
        this.link[id] = this.freeHead;
        this.freeHead = id;
        if (status === NETIF_RSP_OKAY) stats.tx_rsp_okay++;
        else if (status === NETIF_RSP_ERROR) stats.tx_rsp_error++;
        else if (status === NETIF_RSP_DROPPED) stats.tx_rsp_dropped++;
        else stats.tx_rsp_other++;
      }
      this.rspCons = prod;
      more = this.ring.finalCheckForResponses(this.rspCons);
    } while (more);
    // see: xen-netfront.c xennet_maybe_wake_tx
    if (this.stopped && this.slotAvailable() && this.ctx.carrier) {
      this.stopped = false;
      stats.tx_queue_woken++;
      this.onWake();
    }
    return workDone;
  }

  /** Revokes every data grant still held; returns how many could not be revoked (still mapped). see: xen-netfront.c xennet_release_tx_bufs */
  release(): number {
    let leaked = 0;
    for (let id = 0; id < NET_RING_SIZE; id++) {
      const ref = this.grantRef[id]!;
      if (ref < 0) continue;
      if (!this.ctx.grants.endAccess(this.ctx.domid, ref)) leaked++;
      this.grantRef[id] = -1;
      this.link[id] = this.freeHead;
      this.freeHead = id;
    }
    return leaked;
  }

  // ---- hostile access: raw slots, everything else bypassed ----

  writeRequest(index: number, req: RawTxRequest): void {
    const at = this.ring.slot(index);
    const v = this.ring.view();
    v.setUint32(at, req.gref >>> 0, true);
    v.setUint16(at + 4, req.offset & 0xFFFF, true);
    v.setUint16(at + 6, req.flags & 0xFFFF, true);
    v.setUint16(at + 8, req.id & 0xFFFF, true);
    v.setUint16(at + 10, req.size & 0xFFFF, true);
  }

  writeSlotBytes(index: number, bytes: Uint8Array): void {
    if (bytes.length > this.ring.entrySize) throw new NetfrontUsageError(`a TX slot holds ${this.ring.entrySize} bytes, not ${bytes.length}`);
    const page = this.ctx.grants.page(this.ctx.domid, this.ring.ref);
    page.set(bytes, this.ring.slot(index));
  }
}

function checkLayout(layout: SkbLayout, length: number): void {
  const total = layout.headLength + layout.frags.reduce((sum, f) => sum + f.size, 0);
  if (total !== length) throw new NetfrontUsageError(`skb layout holds ${total} bytes, the frame ${length}`);
  const ints = [layout.headOffset, layout.headLength, ...layout.frags.flatMap((f) => [f.offset, f.size])];
  if (ints.some((n) => !Number.isInteger(n) || n < 0)) throw new NetfrontUsageError('skb layout offsets and sizes must be non-negative integers');
  if (length > 0 && layout.headLength === 0) throw new NetfrontUsageError('an skb with data has a non-empty linear head');
  if (layout.frags.some((f) => f.size === 0)) throw new NetfrontUsageError('an skb fragment is never empty');
}
