// One netif queue: a TX ring, an RX ring and their event channel(s), served by one Wasm
// instance. Guest TX runs build → grant copy → commit per batch, then hands each frame to the
// sink with its virtio_net_hdr (segmenting or completing checksums in Wasm where the sink cannot
// take the offload). Guest RX queues frames from the sink in the backlog, maps their
// virtio_net_hdr to what the frontend negotiated (segmenting first where it must), packs them
// into posted requests, copies, commits. Each batch ends with one push and at most one notify.
// see: netback.c xenvif_tx_action, rx.c xenvif_rx_action, interface.c xenvif_poll

import { NetbackError } from '../errors.js';
import { FrontendFatalError, PacketDropError } from '../wasm/errors.js';
import type { KernelInstance } from '../wasm/module.js';
import { emptyRxOffload, Offload, type RxOffload } from '../wasm/offload.js';
import type { FrameHash } from '../wasm/ctrl-ring.js';
import { RX_NO_SPACE, RxRingKernel, type RxChecksum } from '../wasm/rx-ring.js';
import { Segmenter } from '../wasm/segment.js';
import { emptyPacket, TxRingKernel, type TxPacket } from '../wasm/tx-ring.js';
import type { EventChannelPort, EventChannels, GrantMapping, GrantTable } from '../xen/types.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { FaultInjector, HostCallback } from './containment.js';
import { CreditLimiter } from './credit.js';
import type { RateLimit } from './frontend-config.js';
import { RxBacklog } from './rx-backlog.js';
import type { PacketSink } from './sink.js';
import { VNET_HDR_SIZE } from './vnet-header.js';

/** What the frontend wrote for one queue (netif-protocol.md §4.3). */
export interface QueueRings {
  txRingRef: number;
  rxRingRef: number;
  /** One port for both directions, or split TX/RX ports. */
  eventChannel: number | { tx: number; rx: number };
}

/** The frontend's data-path features, after the §4.4 defaults. */
export interface FrontendFeatures {
  csumV4: boolean;
  csumV6: boolean;
  gsoV4: boolean;
  gsoV6: boolean;
  sg: boolean;
  rxNotify: boolean;
}

export interface QueueOptions {
  /** vif<D>.<N>-q<M>, for logs and stats. */
  name: string;
  frontendDomid: number;
  instance: KernelInstance;
  grants: GrantTable;
  events: EventChannels;
  sink: PacketSink;
  features: FrontendFeatures;
  /** fatal_skb_slots (default 20). */
  fatalSlots?: number;
  /** Packets per TX batch, Linux's NAPI weight (default 64). */
  txBatch?: number;
  now?: () => number;
  /** Timers (credit window, RX drain/stall) and, when `now` is absent, the time. Default systemClock. */
  clock?: Clock;
  /**
   * Times each event and poll for `busyMs` (ms). Default performance.now; the daemon passes its
   * coarse clock: a tick-resolution reading per event sums to an unbiased estimate, without a
   * system call per event where the precise clocks need one.
   */
  busyClock?: () => number;
  /** The backend `rate` at connect (default unlimited); setRate() changes it live. */
  rate?: RateLimit;
  /** Queued RX frames older than this are dropped (rx_drain_timeout_msecs; 30 without feature-rx-notify). Default 10000. */
  rxDrainTimeoutMs?: number;
  /** Guest RX stall detection (rx_stall_timeout_msecs); 0 disables it (no feature-rx-notify). Default 60000. */
  rxStallTimeoutMs?: number;
  /** The frontend broke a fatal rule: the queue stopped and the vif should be disabled. */
  onFatal?: (error: FrontendFatalError) => void;
  /** The queue's RX stalled (true: "Guest Rx stalled") or became ready again (false). */
  onRxStall?: (stalled: boolean) => void;
  /** An RX run took frames off the backlog (there is room again). see: rx.c xenvif_rx_queue_maybe_wake */
  onRxProgress?: () => void;
  /** A TX batch changed the multicast list: the vif gives its other queues the same list (Linux keeps one per vif). */
  onMcastEdit?: () => void;
  /**
   * What one of this queue's host callbacks (an event, a timer) threw: the data path sorts it
   * (containment.ts). Without it the error propagates to whoever called back; either way an
   * event's port is unmasked unless the queue was stopped.
   */
  caught?: (where: HostCallback, error: unknown) => void;
  /** TEST ONLY (containment.ts): throws at the start of a callback. */
  injectFault?: FaultInjector;
}

/** Engine-side counters (the kernels keep their own in Wasm memory). */
export interface QueueHostStats {
  txBatches: number;
  txFrames: number;
  txSinkDrops: number;
  txSoftwareSegments: number;
  rxBatches: number;
  rxFrames: number;
  rxBacklogDrops: number;
  rxOffloadDrops: number;
  rxSoftwareSegments: number;
  /** Backlog frames dropped by the drain timeout. see: rx.c xenvif_rx_queue_drop_expired */
  rxExpired: number;
  /** Times this queue's RX was declared stalled. */
  rxStalls: number;
  /** Times TX parked for lack of credit until the window edge. */
  txCreditParks: number;
  notifies: number;
  /** Notifies that failed (the event channel was closed under us). */
  notifyErrors: number;
  events: number;
  spuriousEvents: number;
  /** Milliseconds spent serving this queue (events and polls): the engine's own cost. */
  busyMs: number;
}

const TX_ROUNDS_PER_EVENT = 8;
/** Frames collected for one transmitBatch call at most. */
const TX_OUT_MAX = 256;
const RX_BATCH = 64; // see: rx.c RX_BATCH_SIZE
const NETRXF_CSUM_BLANK = 0x2; // netif.h
const NETRXF_DATA_VALIDATED = 0x1;
const GSO_TYPE_NAME = { 1: 'tcpv4', 2: 'tcpv6' } as const;
const XEN_PAGE_SIZE = 4096;
const RING_SLOTS = 256;

export class NetbackQueue {
  readonly name: string;
  readonly stats: QueueHostStats = {
    txBatches: 0, txFrames: 0, txSinkDrops: 0, txSoftwareSegments: 0,
    rxBatches: 0, rxFrames: 0, rxBacklogDrops: 0, rxOffloadDrops: 0, rxSoftwareSegments: 0,
    rxExpired: 0, rxStalls: 0, txCreditParks: 0,
    notifies: 0, notifyErrors: 0, events: 0, spuriousEvents: 0, busyMs: 0,
  };
  /**
   * Set once the frontend broke a fatal rule or the vif faulted (halt()); the queue then ignores
   * its events and keeps its ports masked.
   */
  fatal: NetbackError | undefined;
  /**
   * The last TX build that consumed slots: its request copies and grant-copy plan stay in Wasm
   * memory until the next such build (an empty build only resets the kernel's counts), so
   * snapshots can show them.
   */
  readonly lastTxBatch = { slots: 0, ops: 0 };

  private readonly options: QueueOptions;
  /** This queue's kernels (one Wasm instance): read-only views such as the ring snapshot use it. */
  readonly instance: KernelInstance;
  private readonly tx: TxRingKernel;
  /** The TX descriptor being sent, refilled for each packet (no object per packet). */
  private readonly txPacket: TxPacket = emptyPacket();
  private readonly rx: RxRingKernel;
  private readonly offload: Offload;
  /** What the frontend gets for the RX frame being packed, refilled for each frame. */
  private readonly rxOffload: RxOffload = emptyRxOffload();
  private readonly segmenter: Segmenter;
  private readonly backlog: RxBacklog;
  private readonly featureBits: number;
  private readonly noTapChecksum: number;
  private readonly offloadOut: number;
  private readonly mappings: GrantMapping[] = [];
  private readonly ports: EventChannelPort[] = [];
  private txPort!: EventChannelPort;
  private rxPort!: EventChannelPort;
  /** Backlog entries packed into the current RX batch, released after its commit. */
  private rxPacked = 0;
  /** Segments of the oldest backlog frame already delivered (a frame larger than the ring goes in parts). */
  private rxSegmentsDone = 0;
  private closed = false;
  /** Frames for the sink's transmitBatch, (offset, length) pairs into the kernels' memory: one native call per batch. */
  private readonly txOut = new Uint32Array(2 * TX_OUT_MAX);
  private txOutCount = 0;
  private readonly clock: Clock;
  private readonly busyClock: () => number;
  private readonly credit: CreditLimiter;
  private readonly rxDrainMs: number;
  private readonly rxStallMs: number;
  /** When a frame last went to the guest (or stall detection was reset). see: rx.c last_rx_time */
  private lastRxTime: number;
  private rxStalled = false;
  /** One timer for the head's drain deadline and the stall deadline, whichever is first. */
  private rxTimer: TimerHandle | undefined;
  private rxTimerDue = Infinity;

  private constructor(options: QueueOptions) {
    this.options = options;
    this.name = options.name;
    this.instance = options.instance;
    this.tx = new TxRingKernel(this.instance);
    this.rx = new RxRingKernel(this.instance);
    this.offload = new Offload(this.instance);
    this.segmenter = new Segmenter(this.instance);
    this.backlog = new RxBacklog(this.instance.constant('RX_BUF_OFFSET'), this.instance.constant('RX_BUF_SIZE'));
    const f = options.features;
    this.featureBits = this.offload.features({ csumV4: f.csumV4, csumV6: f.csumV6, gsoV4: f.gsoV4, gsoV6: f.gsoV6, sg: f.sg });
    this.noTapChecksum = options.sink.offloads.csum ? 0 : this.offload.optionNoTapChecksum;
    this.offloadOut = this.instance.constant('QUEUE_STATE_OFFSET') + this.instance.constant('QS_VNET_OUT');
    const clock = options.clock ?? systemClock;
    this.clock = options.now === undefined ? clock : { now: options.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout };
    this.busyClock = options.busyClock ?? (() => performance.now());
    this.credit = new CreditLimiter(this.clock, options.rate ?? { unlimited: true }, () => this.onTimer('tx'));
    this.rxDrainMs = options.rxDrainTimeoutMs ?? 10000;
    this.rxStallMs = options.rxStallTimeoutMs ?? 60000;
    this.lastRxTime = this.clock.now();
  }

  /**
   * Maps the rings, attaches the kernels (refusing rings whose indices are already inconsistent:
   * a FrontendFatalError) and binds the event channel(s). On any failure everything taken so far
   * is released before the error propagates.
   */
  static connect(options: QueueOptions, rings: QueueRings): NetbackQueue {
    const queue = new NetbackQueue(options);
    try {
      queue.attach(rings);
    } catch (error) {
      queue.close();
      throw error;
    }
    return queue;
  }

  private attach(rings: QueueRings): void {
    const { grants, events, frontendDomid } = this.options;
    this.mappings.push(grants.mapPage(frontendDomid, rings.txRingRef, this.instance, this.instance.constant('TX_RING_OFFSET'), false));
    this.mappings.push(grants.mapPage(frontendDomid, rings.rxRingRef, this.instance, this.instance.constant('RX_RING_OFFSET'), false));
    this.tx.attach();
    this.rx.attach();
    if (typeof rings.eventChannel === 'number') {
      const port = events.bindInterdomain(frontendDomid, rings.eventChannel, () => this.onEvent('both'));
      this.ports.push(port);
      this.txPort = port;
      this.rxPort = port;
    } else {
      this.txPort = events.bindInterdomain(frontendDomid, rings.eventChannel.tx, () => this.onEvent('tx'));
      this.ports.push(this.txPort);
      this.rxPort = events.bindInterdomain(frontendDomid, rings.eventChannel.rx, () => this.onEvent('rx'));
      this.ports.push(this.rxPort);
    }
  }

  /** Unbinds the ports and unmaps the rings (before answering anything else: netfront checks). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.credit.close();
    this.clearRxTimer();
    for (const port of this.ports) port.close();
    for (const mapping of this.mappings) mapping.unmap();
    this.ports.length = 0;
    this.mappings.length = 0;
  }

  /** Kernel counters of this queue by name (the COUNTER_* table), plus the engine's own. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    const base = this.instance.constant('COUNTERS_OFFSET');
    const view = this.instance.view;
    this.instance.counterNames.forEach((name) => {
      out[name] = Number(view.getBigUint64(base + this.instance.constant(`COUNTER_${name.toUpperCase()}`) * 8, true));
    });
    return { ...out, ...this.stats };
  }

  /**
   * A frame from the sink for the guest: `bytes` is a virtio_net_hdr then the frame, `hash` the
   * vif's Toeplitz hash for a HASH extra. Returns false when it was dropped because the backlog
   * is full (the 512 KiB cap).
   */
  receive(bytes: Uint8Array, hash?: FrameHash): boolean {
    if (this.closed || this.fatal !== undefined || bytes.length <= VNET_HDR_SIZE) return false;
    const entry = this.backlog.reserve(bytes.length - VNET_HDR_SIZE, this.clock.now(), hash);
    if (entry === undefined) {
      this.stats.rxBacklogDrops++;
      return false;
    }
    this.instance.bytes.set(bytes, entry.header);
    return true;
  }

  /** The queue's Wasm instance: its ring pages and counters, read by snapshots (src/viz/snapshot.ts). */
  get kernels(): KernelInstance {
    return this.instance;
  }

  /** Frames waiting for the guest's RX buffers. */
  get backlogLength(): number {
    return this.backlog.length;
  }

  /** Frame bytes waiting in the backlog (capped at 512 KiB). */
  get backlogBytes(): number {
    return this.backlog.queuedBytes;
  }

  /** Whether this queue's RX is stalled (the frontend posted too few slots for too long). */
  get stalled(): boolean {
    return this.rxStalled;
  }

  /** Bytes of TX credit left in this window (Infinity when unlimited). */
  get txCredit(): number {
    return this.credit.remaining;
  }

  /** Whether TX waits for the credit window edge. */
  get txParked(): boolean {
    return this.credit.parked;
  }

  /** Live re-rate (the backend `rate` watch). */
  setRate(rate: RateLimit): void {
    this.credit.setRate(rate);
  }

  /** Whether a MAC is in the multicast list the frontend built with MCAST_ADD/DEL extras. */
  mcastContains(mac: Uint8Array): boolean {
    return this.tx.mcastContains(mac);
  }

  /** This queue's multicast list as a record, and replacing it with another queue's: see onMcastEdit. */
  mcastSnapshot(): Uint8Array {
    return this.tx.mcastSnapshot();
  }

  mcastRestore(record: Uint8Array): void {
    this.tx.mcastRestore(record);
  }

  /** Runs both directions now (the engine calls this after receive(), and on events). */
  poll(): void {
    const started = this.busyClock();
    this.runTx();
    this.runRx();
    this.stats.busyMs += this.busyClock() - started;
  }

  /** Stops the queue for good (the vif faulted): no more batches, timers released, ports left masked. */
  halt(reason: NetbackError): void {
    this.fatal ??= reason;
    this.stopTimers();
  }

  private onEvent(direction: 'tx' | 'rx' | 'both'): void {
    if (this.closed || this.fatal !== undefined) return; // a disabled queue keeps its port masked
    const started = this.busyClock();
    this.stats.events++;
    const work = this.stats.txBatches + this.stats.rxBatches;
    try {
      this.options.injectFault?.('event', this.name);
      if (direction !== 'rx') this.runTx();
      if (direction !== 'tx') this.runRx();
    } catch (error) {
      this.caught('event', error);
    } finally {
      if (this.stats.txBatches + this.stats.rxBatches === work) this.stats.spuriousEvents++;
      this.stats.busyMs += this.busyClock() - started;
      // late EOI: re-enable only after the work the event asked for is done (XSA-332); after a
      // typed error too, so the queue is never wedged; a stopped (disabled, faulted) queue stays masked
      if (this.fatal === undefined && !this.closed) (direction === 'rx' ? this.rxPort : this.txPort).unmask();
    }
  }

  /** The credit window's edge (tx) or the RX drain/stall deadline (rx). */
  private onTimer(direction: 'tx' | 'rx'): void {
    try {
      this.options.injectFault?.('timer', this.name);
      if (direction === 'tx') this.runTx();
      else this.runRx();
    } catch (error) {
      this.caught('timer', error);
    }
  }

  private caught(where: HostCallback, error: unknown): void {
    if (this.options.caught === undefined) throw error;
    this.options.caught(where, error);
  }

  private runTx(): void {
    const { grants, frontendDomid } = this.options;
    for (let round = 0; round < TX_ROUNDS_PER_EVENT && this.fatal === undefined && !this.closed; round++) {
      // parked: the head packet exceeds the credit until the window-edge timer resumes us
      if (this.credit.parked) return;
      const built = this.tx.build({ maxPackets: this.options.txBatch ?? 64, fatalSlots: this.options.fatalSlots ?? 20, credit: this.credit.buildCredit() });
      this.credit.debit(built.creditUsed);
      if (built.ops > 0) grants.copy(frontendDomid, { instance: this.instance, opsAddress: this.tx.opsAddress, count: built.ops });
      const committed = this.tx.commit();
      if (built.slots > 0) {
        this.stats.txBatches++;
        this.lastTxBatch.slots = built.slots;
        this.lastTxBatch.ops = built.ops;
      }
      if (committed.notify) this.kick(this.txPort);
      if (built.mcastEdits > 0) this.options.onMcastEdit?.();
      const packets = this.tx.packetCount();
      for (let i = 0; i < packets; i++) {
        const packet = this.tx.readPacket(i, this.txPacket);
        if (packet.status === 0) this.transmit(packet);
      }
      this.flushTx(); // the next build reuses the TX buffers
      if (built.fatal !== undefined) {
        this.fatal = built.fatal;
        this.stopTimers();
        this.options.onFatal?.(built.fatal);
        return;
      }
      if (built.creditBlocked > 0) {
        // see: netback.c xenvif_tx_build_gops (credit-based scheduling)
        if (this.credit.exceeded(built.creditBlocked)) {
          if (this.credit.parked) this.stats.txCreditParks++;
          return;
        }
        continue; // a new window began: the head fits now
      }
      if (!committed.morePending) return;
    }
  }

  private transmit(packet: TxPacket): void {
    const header = packet.data - VNET_HDR_SIZE;
    const netifFlags = (packet.csumBlank ? 0x1 : 0) | (packet.dataValidated ? 0x2 : 0);
    const dropped = this.offload.vnetFromNetif(packet.data, packet.length, netifFlags, packet.gsoType, packet.gsoSize, header, this.noTapChecksum);
    if (dropped !== undefined) return; // counted by the kernel
    const sink = this.options.sink;
    const gsoName = GSO_TYPE_NAME[packet.gsoType as 1 | 2];
    if (gsoName !== undefined && !(gsoName === 'tcpv4' ? sink.offloads.tso4 : sink.offloads.tso6)) {
      this.transmitSegments(packet.data, packet.length, gsoName, packet.gsoSize);
      return;
    }
    this.toSink(header, packet.length);
  }

  private transmitSegments(frame: number, length: number, gsoType: 'tcpv4' | 'tcpv6', mss: number): void {
    try {
      this.segmenter.segment(frame, length, gsoType, mss, (batch) => {
        for (const segment of batch) {
          // segments carry full checksums: DATA_VALID, no GSO
          this.writeValidatedHeader(segment.address - VNET_HDR_SIZE);
          this.toSink(segment.address - VNET_HDR_SIZE, segment.length);
          this.stats.txSoftwareSegments++;
        }
        this.flushTx(); // the next batch of segments overwrites SEG_BUF
      });
    } catch (error) {
      if (!(error instanceof PacketDropError)) throw error;
    }
  }

  private writeValidatedHeader(address: number): void {
    this.offload.writeVnetHeader(address, { flags: 2, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  }

  private toSink(header: number, frameLength: number): void {
    const sink = this.options.sink;
    if (sink.transmitBatch === undefined) {
      if (sink.transmit(this.instance.bytes, header, frameLength + VNET_HDR_SIZE)) this.stats.txFrames++;
      else this.stats.txSinkDrops++;
      return;
    }
    if (this.txOutCount === TX_OUT_MAX) this.flushTx();
    const at = 2 * this.txOutCount++;
    this.txOut[at] = header;
    this.txOut[at + 1] = frameLength + VNET_HDR_SIZE;
  }

  /** Hands the collected frames to the sink in one call (see PacketSink.transmitBatch). */
  private flushTx(): void {
    const count = this.txOutCount;
    if (count === 0) return;
    this.txOutCount = 0;
    const taken = this.options.sink.transmitBatch!(this.instance.bytes, this.txOut, count);
    this.stats.txFrames += taken;
    this.stats.txSinkDrops += count - taken;
  }

  /** Whether the backlog would take a frame of `length` bytes now. */
  rxAdmits(length: number): boolean {
    return this.backlog.admits(length);
  }

  private runRx(): void {
    if (this.fatal !== undefined || this.closed) return;
    const delivered = this.stats.rxFrames;
    const waiting = this.backlog.length;
    this.packRx();
    const now = this.clock.now();
    if (this.stats.rxFrames !== delivered) this.lastRxTime = now; // see: rx.c xenvif_rx_skb
    this.rxHousekeeping(now);
    // room again (frames packed, or expired and dropped): a held-back port may read again
    if (this.backlog.length < waiting) this.options.onRxProgress?.();
  }

  /**
   * After each RX pass, as Linux's guest-RX thread does after xenvif_rx_action: stall / ready
   * detection, then the drain of frames queued too long, then the timer for the next deadline.
   * see: rx.c xenvif_kthread_guest_rx, xenvif_rx_queue_stalled, xenvif_rx_queue_ready, xenvif_rx_queue_drop_expired
   */
  private rxHousekeeping(now: number): void {
    if (this.fatal !== undefined || this.closed) return;
    this.checkStall(now);
    let expired = 0;
    for (let head = this.backlog.at(0); head !== undefined && now >= head.queuedAt + this.rxDrainMs; head = this.backlog.at(0)) {
      this.backlog.shift();
      this.rxSegmentsDone = 0; // a head delivered in parts is gone with the rest of it
      expired++;
    }
    this.stats.rxExpired += expired;
    if (expired > 0) this.checkStall(now); // Linux's next wait sees the queue ready at once
    this.armRxTimer(now);
  }

  /**
   * packRx packs whatever fits, so a frame left at the head means the frontend posted fewer
   * slots than it needs (Linux: req_prod - req_cons < rx_slots_needed). An empty backlog needs
   * no slots: never stalled, and ready if it was.
   */
  private checkStall(now: number): void {
    if (this.rxStallMs === 0) return;
    const headWaits = this.backlog.length > 0;
    if (!this.rxStalled && headWaits && now > this.lastRxTime + this.rxStallMs) {
      this.rxStalled = true;
      this.stats.rxStalls++;
      this.options.onRxStall?.(true);
    } else if (this.rxStalled && !headWaits) {
      this.rxStalled = false;
      this.lastRxTime = now; // see: rx.c xenvif_queue_carrier_on (reset stall detection)
      this.options.onRxStall?.(false);
    }
  }

  /**
   * Arms the timer for the earliest deadline: the head's drain expiry, or the stall instant
   * (strictly after last_rx_time + timeout, as time_after). An armed timer that falls due
   * earlier is kept; firing early only re-arms, so a busy queue does not churn timers.
   */
  private armRxTimer(now: number): void {
    const head = this.backlog.at(0);
    if (head === undefined) return;
    let due = head.queuedAt + this.rxDrainMs;
    if (this.rxStallMs > 0 && !this.rxStalled) due = Math.min(due, this.lastRxTime + this.rxStallMs + 1);
    if (this.rxTimer !== undefined && this.rxTimerDue <= due) return;
    this.clearRxTimer();
    this.rxTimerDue = due;
    this.rxTimer = this.clock.setTimeout(() => {
      this.rxTimer = undefined;
      this.rxTimerDue = Infinity;
      this.onTimer('rx');
    }, Math.max(0, due - now));
  }

  private clearRxTimer(): void {
    if (this.rxTimer !== undefined) this.clock.clearTimeout(this.rxTimer);
    this.rxTimer = undefined;
    this.rxTimerDue = Infinity;
  }

  private stopTimers(): void {
    this.credit.close();
    this.clearRxTimer();
  }

  private packRx(): void {
    for (;;) {
      if (this.rxPacked >= RX_BATCH) this.flushRx();
      const entry = this.backlog.at(this.rxPacked);
      if (entry === undefined) break;
      const offload = this.offload.vnetToNetifInto(entry.header, entry.frame, entry.length, this.featureBits, this.offloadOut, this.rxOffload);
      if (offload instanceof PacketDropError) {
        this.dropNext();
        continue;
      }
      // The checksum was completed in place: a frame that waits for RX space (no-space below) is
      // mapped again next time, and a second completion would turn the field back into the
      // pseudo sum. From now on the frame is what it is, complete and validated.
      if (offload.softwareChecksum) this.writeValidatedHeader(entry.header);
      if (offload.segment) {
        if (!this.packSegmented(entry.frame, entry.length, offload, entry.hash)) break;
        continue;
      }
      const result = this.rx.packFrame(entry.frame, entry.length, checksumOf(offload.rxFlags),
        offload.gsoExtra ? offload.gsoType : 0, offload.gsoExtra ? offload.gsoSize : 0, entry.hash);
      if (result === RX_NO_SPACE) break;
      if (typeof result !== 'number') {
        this.dropNext();
        continue;
      }
      this.rxPacked++;
    }
    this.flushRx();
  }

  /** Drops the next unpacked frame: flushing first makes it the oldest. */
  private dropNext(): void {
    this.flushRx();
    this.backlog.shift();
    this.rxSegmentsDone = 0;
    this.stats.rxOffloadDrops++;
  }

  /**
   * A GSO frame the frontend cannot take as one: segment in Wasm and pack every segment. A frame
   * that fits the ring waits until the ring has posted requests for all its segments (asking the
   * frontend for an event), so it is never half delivered. One needing more slots than the ring
   * has (a small MSS: a 64 KiB frame of 88-byte segments is ~750 of them) goes in parts, as many
   * segments as requests are posted each time, resuming after the ones already delivered; Linux
   * segments such a frame in the host stack and queues every segment. The current batch is
   * flushed first because the segments reuse SEG_BUF.
   */
  private packSegmented(frame: number, length: number, offload: RxOffload, hash?: FrameHash): boolean {
    this.flushRx();
    const gsoType = GSO_TYPE_NAME[offload.gsoType as 1 | 2];
    const payload = length - offload.headerLength;
    const segments = Math.max(1, Math.ceil(payload / offload.gsoSize));
    // every segment keeps the frame's hash (skb_segment copies it), so each takes a HASH extra too
    const slotsEach = Math.ceil((offload.headerLength + Math.min(offload.gsoSize, payload)) / XEN_PAGE_SIZE) + (hash ? 1 : 0);
    const needed = segments * slotsEach;
    const inParts = needed > RING_SLOTS;
    if (gsoType === undefined || offload.headerLength === 0 || slotsEach > RING_SLOTS) {
      this.dropNext();
      return true;
    }
    if (!this.rx.slotsAvailable(inParts ? slotsEach : needed)) return false;
    let index = 0;
    let packed = 0;
    let ringFull = false;
    try {
      this.segmenter.segment(frame, length, gsoType, offload.gsoSize, (batch) => {
        for (const segment of batch) {
          if (ringFull) return;
          if (index++ < this.rxSegmentsDone) continue;
          if (inParts && !this.rx.slotsAvailable(slotsEach)) {
            ringFull = true;
            break;
          }
          const result = this.rx.pack(segment.address, segment.length, { checksum: 'validated', ...(hash && { hash }) });
          if (result.kind !== 'packed') throw new Error(`${this.name}: segment ${index - 1} of a reserved frame did not pack (${result.kind})`);
          packed++;
          // the op region holds 256 ops; a full one is committed before the next segment
          if (this.rx.opCount() >= RING_SLOTS - slotsEach) this.copyAndCommitRx();
        }
        this.copyAndCommitRx(); // the next batch of segments overwrites SEG_BUF
      });
    } catch (error) {
      if (!(error instanceof PacketDropError)) throw error;
      this.stats.rxSoftwareSegments += packed;
      this.dropNext();
      return true;
    }
    this.stats.rxSoftwareSegments += packed;
    if (ringFull) {
      this.rxSegmentsDone += packed;
      return false;
    }
    this.rxSegmentsDone = 0;
    this.stats.rxFrames++;
    this.backlog.shift();
    return true;
  }

  private flushRx(): void {
    if (this.rx.opCount() === 0 && this.rxPacked === 0) return;
    this.copyAndCommitRx();
    for (; this.rxPacked > 0; this.rxPacked--) {
      this.backlog.shift();
      this.stats.rxFrames++;
    }
  }

  private copyAndCommitRx(): void {
    const count = this.rx.opCount();
    if (count === 0) return;
    this.options.grants.copy(this.options.frontendDomid, { instance: this.instance, opsAddress: this.rx.opAddress(0), count });
    const { notify } = this.rx.commit();
    this.stats.rxBatches++;
    if (notify) this.kick(this.rxPort);
  }

  /**
   * A notify that fails (the port closed under us) is counted, never thrown: the responses are
   * already pushed, and a throw here would escape the RX/TX pass half way (frames then left in the
   * backlog and sent twice) and, from a wake, the daemon. Linux's notify on a dead port is a no-op.
   * see: events_base.c notify_remote_via_irq
   */
  private kick(port: EventChannelPort): void {
    this.stats.notifies++;
    try {
      port.notify();
    } catch (error) {
      if (!(error instanceof NetbackError)) throw error;
      this.stats.notifyErrors++;
    }
  }
}

function checksumOf(rxFlags: number): RxChecksum {
  if ((rxFlags & NETRXF_CSUM_BLANK) !== 0) return 'partial';
  if ((rxFlags & NETRXF_DATA_VALIDATED) !== 0) return 'validated';
  return 'none';
}
