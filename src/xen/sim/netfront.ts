// A simulated Linux xen-netfront for one guest vif: per queue a TX and an RX ring page granted
// writable to the backend, one shared or two split event channels, and the data path of
// netfront-tx.ts / netfront-rx.ts. The xenbus side (frontend-xenbus.ts) publishes what
// queueKeys() and advertisedFeatures() return; this file never touches xenstore.
// see: xen-netfront.c setup_netfront, setup_netfront_single/_split, xennet_connect,
// xennet_tx_interrupt / xennet_rx_interrupt / xennet_interrupt, xennet_disconnect_backend

import type { FrontendEventChannels, FrontendPort, GrantingTable } from './frontend-handles.js';
import { RX_ENTRY_SIZE, SharedRing, TX_ENTRY_SIZE } from './netfront-ring.js';
import { NetfrontRxQueue, realClock, type NetfrontClock, type NetfrontPacket } from './netfront-rx.js';
import { emptyStats, type NetfrontContext, type NetfrontStats } from './netfront-stats.js';
import { NetfrontTxQueue, NetfrontUsageError, type RawTxRequest, type SendOptions, type SendResult, type TxPeerFeatures } from './netfront-tx.js';

export { NETFRONT_COUNTERS, type NetfrontChecksum, type NetfrontGso, type NetfrontGsoType, type NetfrontStats } from './netfront-stats.js';
export { defaultLayout, countSkbSlots, NetfrontUsageError, TX_STOP_THRESHOLD, type SkbLayout, type SendOptions, type SendResult, type TxDropReason } from './netfront-tx.js';
export { NET_RX_SLOTS_MIN, RX_REFILL_DELAY_MS, type NetfrontClock, type NetfrontPacket } from './netfront-rx.js';

/** The feature-* keys the frontend writes (Linux netfront writes all but no-csum-offload as 1). see: xen-netfront.c talk_to_netback */
export interface NetfrontFeatures {
  sg: boolean;
  gsoTcpv4: boolean;
  gsoTcpv6: boolean;
  ipv6CsumOffload: boolean;
  rxNotify: boolean;
  /** feature-no-csum-offload: the guest cannot take checksum-partial frames (Linux never sets it). */
  noCsumOffload: boolean;
}

export const LINUX_NETFRONT_FEATURES: Readonly<NetfrontFeatures> = Object.freeze({
  sg: true, gsoTcpv4: true, gsoTcpv6: true, ipv6CsumOffload: true, rxNotify: true, noCsumOffload: false,
});

/** The per-queue keys the xenbus side writes (flat for one queue, under queue-N for several). see: xen-netfront.c write_queue_xenstore_keys */
export interface NetfrontQueueKeys {
  txRingRef: number;
  rxRingRef: number;
  /** One port (event-channel) or split ports (event-channel-tx / event-channel-rx). */
  eventChannel: number | { tx: number; rx: number };
}

export interface SimNetfrontOptions {
  domid: number;
  backendDomid?: number;
  grants: GrantingTable;
  channels: FrontendEventChannels;
  /** Queues (min of the backend's multi-queue-max-queues and the guest's max_queues). Default 1. */
  queues?: number;
  /** Split TX/RX event channels (the backend offered feature-split-event-channels). Default false. */
  split?: boolean;
  features?: Partial<NetfrontFeatures>;
  /** What the backend offered (feature-sg, feature-gso-tcpv4/6): gates SG and GSO on TX. Default all. */
  backendFeatures?: Partial<TxPeerFeatures>;
  /** `trusted=0`: bounce every TX frame onto zeroed pages. Default false. */
  bounceAll?: boolean;
  /** Initial ring index (Linux: 0); a value near 2^32 exercises index wrap. */
  startIndex?: number;
  clock?: NetfrontClock;
  /** 'manual': RX polls run only when poll() is called (default 'auto': right after the event, like NAPI). */
  pollMode?: 'auto' | 'manual';
}

export interface NetfrontEvents {
  receive: (packet: NetfrontPacket) => void;
  /** A stopped TX queue has room again. */
  wake: (queue: number) => void;
  broken: (reason: string, queue: number) => void;
}

interface Queue {
  tx: NetfrontTxQueue;
  rx: NetfrontRxQueue;
  txPort: FrontendPort;
  /** The same port as txPort with a single channel. */
  rxPort: FrontendPort;
  hostile: boolean;
  hostileGrants: number[];
}

/** Raw ring access for fuzzing a backend: the normal frontend logic of the queue is bypassed. */
export interface NetfrontHostileQueue {
  readonly txRing: SharedRing;
  readonly rxRing: SharedRing;
  writeTxRequest(index: number, request: RawTxRequest): void;
  /** Up to 12 raw bytes into a TX slot (an extra record, or garbage). */
  writeTxSlot(index: number, bytes: Uint8Array): void;
  setTxReqProd(value: number): void;
  postRxRequest(index: number, id: number, gref: number): void;
  setRxReqProd(value: number): void;
  /** A page granted to the backend (revoked by close()). */
  grant(readonly: boolean, contents?: Uint8Array): number;
  notifyTx(): void;
  notifyRx(): void;
}

export class SimNetfront {
  readonly domid: number;
  readonly backendDomid: number;
  readonly split: boolean;
  readonly features: Readonly<NetfrontFeatures>;
  backendFeatures: TxPeerFeatures;
  private readonly grants: GrantingTable;
  private readonly queues: Queue[] = [];
  private readonly listeners: { [K in keyof NetfrontEvents]: Set<NetfrontEvents[K]> } = { receive: new Set(), wake: new Set(), broken: new Set() };
  private readonly counters: NetfrontStats = emptyStats();
  private brokenReason: string | undefined;
  private carrierOn = false;
  private closed = false;

  constructor(options: SimNetfrontOptions) {
    const queueCount = options.queues ?? 1;
    if (!Number.isInteger(queueCount) || queueCount < 1) throw new NetfrontUsageError(`queue count ${queueCount} must be a positive integer`);
    this.domid = options.domid;
    this.backendDomid = options.backendDomid ?? 0;
    this.split = options.split ?? false;
    this.grants = options.grants;
    this.features = Object.freeze({ ...LINUX_NETFRONT_FEATURES, ...options.features });
    this.backendFeatures = { sg: true, gsoTcpv4: true, gsoTcpv6: true, ...options.backendFeatures };
    const start = (options.startIndex ?? 0) >>> 0;
    const clock = options.clock ?? realClock;
    const self = this;
    const ctx: NetfrontContext = {
      domid: this.domid,
      backendDomid: this.backendDomid,
      grants: this.grants,
      stats: this.counters,
      get broken() { return self.brokenReason !== undefined; },
      get carrier() { return self.carrierOn; },
      markBroken: (queue, reason) => this.markBroken(queue, reason),
    };
    // see: xen-netfront.c setup_netfront (rings, FRONT_RING_INIT) then setup_netfront_split/_single
    for (let q = 0; q < queueCount; q++) {
      const txRing = new SharedRing(this.grants, this.domid, this.grants.grantAccess(this.domid, this.backendDomid, false), TX_ENTRY_SIZE);
      txRing.init(start);
      const rxRing = new SharedRing(this.grants, this.domid, this.grants.grantAccess(this.domid, this.backendDomid, false), RX_ENTRY_SIZE);
      rxRing.init(start);
      let queue!: Queue;
      let txPort: FrontendPort;
      let rxPort: FrontendPort;
      if (this.split) {
        txPort = options.channels.allocUnbound(this.domid, this.backendDomid, () => this.txInterrupt(queue));
        rxPort = options.channels.allocUnbound(this.domid, this.backendDomid, () => this.rxInterrupt(queue));
      } else {
        txPort = options.channels.allocUnbound(this.domid, this.backendDomid, () => this.interrupt(queue));
        rxPort = txPort;
      }
      const tx = new NetfrontTxQueue(ctx, q, txRing, start, () => this.backendFeatures, options.bounceAll ?? false,
        () => txPort.notify(), () => this.emit('wake', q));
      const rx = new NetfrontRxQueue(ctx, q, rxRing, start, clock, () => this.features.rxNotify,
        () => rxPort.notify(), (packet) => this.emit('receive', packet));
      rx.manualPoll = options.pollMode === 'manual';
      queue = { tx, rx, txPort, rxPort, hostile: false, hostileGrants: [] };
      this.queues.push(queue);
    }
  }

  get queueCount(): number {
    return this.queues.length;
  }

  get broken(): boolean {
    return this.brokenReason !== undefined;
  }

  /** Why the device was disabled ("Response has incorrect id (300)", ...), or undefined. */
  get brokenBecause(): string | undefined {
    return this.brokenReason;
  }

  get carrier(): boolean {
    return this.carrierOn;
  }

  /** What the xenbus side writes per queue. */
  queueKeys(): NetfrontQueueKeys[] {
    return this.queues.map((q) => ({
      txRingRef: q.tx.ring.ref,
      rxRingRef: q.rx.ring.ref,
      eventChannel: this.split ? { tx: q.txPort.localPort, rx: q.rxPort.localPort } : q.txPort.localPort,
    }));
  }

  advertisedFeatures(): NetfrontFeatures {
    return { ...this.features };
  }

  /** A snapshot of the counters. */
  stats(): NetfrontStats {
    return { ...this.counters };
  }

  on<K extends keyof NetfrontEvents>(event: K, handler: NetfrontEvents[K]): () => void {
    this.listeners[event].add(handler);
    return () => this.listeners[event].delete(handler);
  }

  /**
   * The backend is Connected: carrier on, kick every channel, post RX buffers.
   * see: xen-netfront.c xennet_connect
   */
  start(): void {
    if (this.closed) throw new NetfrontUsageError('the frontend is closed');
    this.carrierOn = true;
    for (const q of this.queues) {
      if (q.hostile) continue;
      q.txPort.notify();
      if (q.rxPort !== q.txPort) q.rxPort.notify();
      q.rx.refill();
    }
  }

  /** Sends on `queue` (default: 0; Linux picks by flow hash). see: xen-netfront.c xennet_start_xmit */
  send(frame: Uint8Array, options: SendOptions & { queue?: number } = {}): SendResult {
    const q = this.queue(options.queue ?? 0);
    if (q.hostile) throw new NetfrontUsageError(`queue ${q.tx.index} is in hostile mode`);
    return q.tx.send(frame, options);
  }

  /** Whether a TX queue is stopped (237 slots outstanding). */
  txStopped(queue = 0): boolean {
    return this.queue(queue).tx.stopped;
  }

  /** TX slots on the ring not answered yet. */
  txOutstanding(queue = 0): number {
    return this.queue(queue).tx.outstanding;
  }

  /** RX buffers posted and not answered (published or waiting for the next push). */
  rxPosted(queue = 0): number {
    return this.queue(queue).rx.posted;
  }

  /** Whether the 100 ms refill retry is armed. */
  rxRefillPending(queue = 0): boolean {
    return this.queue(queue).rx.refillPending;
  }

  /** Caps the RX buffers the guest can keep posted (memory pressure); refill() honours it. */
  setRxBufferLimit(limit: number, queue = 0): void {
    this.queue(queue).rx.bufferLimit = limit;
  }

  /** CONFIG_MAX_SKB_FRAGS of the guest kernel (17 by default). */
  setMaxSkbFrags(frags: number): void {
    for (const q of this.queues) q.rx.maxSkbFrags = frags;
  }

  /** Whether an RX poll is due (in manual poll mode: waiting for poll()). */
  rxPollRequested(queue = 0): boolean {
    return this.queue(queue).rx.pollRequested;
  }

  /** Runs one RX poll (NAPI, budget 64 by default); returns the packets delivered. see: xen-netfront.c xennet_poll */
  poll(queue = 0, budget?: number): number {
    return this.queue(queue).rx.runPoll(budget);
  }

  /** Posts RX buffers now (what the refill timer and every poll do). */
  refill(queue = 0): void {
    this.queue(queue).rx.refill();
  }

  /**
   * Switches a queue to raw access: from now on its events are only acknowledged, and nothing
   * of the normal frontend reads or writes its rings.
   */
  hostile(queue = 0): NetfrontHostileQueue {
    const q = this.queue(queue);
    q.hostile = true;
    q.tx.bypassed = true;
    q.rx.bypassed = true;
    return {
      txRing: q.tx.ring,
      rxRing: q.rx.ring,
      writeTxRequest: (index, request) => q.tx.writeRequest(index, request),
      writeTxSlot: (index, bytes) => q.tx.writeSlotBytes(index, bytes),
      setTxReqProd: (value) => { q.tx.ring.reqProd = value; },
      postRxRequest: (index, id, gref) => q.rx.writeRawRequest(index, id, gref),
      setRxReqProd: (value) => { q.rx.ring.reqProd = value; },
      grant: (readonly, contents) => {
        const ref = this.grants.grantAccess(this.domid, this.backendDomid, readonly, contents);
        q.hostileGrants.push(ref);
        return ref;
      },
      notifyTx: () => q.txPort.notify(),
      notifyRx: () => q.rxPort.notify(),
    };
  }

  /**
   * Disconnects: carrier off, timers stopped, ports closed, every data and ring grant revoked.
   * Returns the grants that could not be revoked because the backend still maps them (Linux
   * defers those; a leak check then fails). see: xen-netfront.c xennet_disconnect_backend
   */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    this.carrierOn = false;
    let leaked = 0;
    for (const q of this.queues) {
      q.txPort.close();
      if (q.rxPort !== q.txPort) q.rxPort.close();
      leaked += q.tx.release();
      leaked += q.rx.release();
      for (const ref of [...q.hostileGrants, q.tx.ring.ref, q.rx.ring.ref]) {
        if (!this.grants.endAccess(this.domid, ref)) leaked++;
      }
      q.hostileGrants.length = 0;
    }
    return leaked;
  }

  private queue(index: number): Queue {
    const q = this.queues[index];
    if (q === undefined) throw new NetfrontUsageError(`no queue ${index} (the device has ${this.queues.length})`);
    return q;
  }

  private emit<K extends keyof NetfrontEvents>(event: K, ...args: Parameters<NetfrontEvents[K]>): void {
    for (const handler of this.listeners[event]) (handler as (...a: Parameters<NetfrontEvents[K]>) => void)(...args);
  }

  private markBroken(queue: number, reason: string): void {
    if (this.brokenReason !== undefined) return;
    this.brokenReason = reason;
    this.emit('broken', reason, queue);
  }

  /** see: xen-netfront.c xennet_handle_tx (false: broken, no EOI) */
  private handleTx(q: Queue): { ok: boolean; work: boolean } {
    if (this.broken) return { ok: false, work: false };
    if (q.hostile || !this.carrierOn) return { ok: true, work: false };
    const work = q.tx.gc();
    return { ok: true, work };
  }

  /** Late EOI: the port is unmasked only after the handler, and never once the device is broken. see: xen-netfront.c xennet_tx_interrupt */
  private txInterrupt(q: Queue): void {
    const r = this.handleTx(q);
    if (!r.ok) return;
    if (!r.work && !q.hostile) this.counters.tx_spurious++;
    q.txPort.unmask();
  }

  /** see: xen-netfront.c xennet_rx_interrupt */
  private rxInterrupt(q: Queue): void {
    const r = q.rx.handleEvent();
    if (!r.ok) return;
    if (!r.work && !q.hostile) this.counters.rx_spurious++;
    q.rxPort.unmask();
  }

  /** One channel for both directions. see: xen-netfront.c xennet_interrupt */
  private interrupt(q: Queue): void {
    const tx = this.handleTx(q);
    if (!tx.ok) return;
    const rx = q.rx.handleEvent();
    if (!rx.ok) return;
    if (!tx.work && !rx.work && !q.hostile) this.counters.spurious++;
    q.txPort.unmask();
  }
}
