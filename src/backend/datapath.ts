// The data path of one vif: a NetbackQueue per negotiated queue, each with its own Wasm instance,
// between the frontend's rings and the vif's network interface (a TAP, or a port of the
// in-process bridge). It is what the xenbus side (vif.ts) calls on Connected and on close.
// A fatal frontend error on any queue disables the whole vif, as Linux's vif->disabled does;
// the xenstore state is left alone. see: netback.c xenvif_fatal_tx_err; interface.c xenvif_carrier_off
// Every host callback into it is contained (containment.ts): an untyped throw or a trap disables
// this vif alone and tells the control plane (onFault).

import { CtrlRingKernel, type CtrlStep } from '../wasm/ctrl-ring.js';
import { NetbackError } from '../errors.js';
import { FrontendFatalError } from '../wasm/errors.js';
import { instantiateKernels, type KernelInstance } from '../wasm/module.js';
import type { EventChannelPort, EventChannels, GrantMapping, GrantTable } from '../xen/types.js';
import { systemClock, type Clock } from './clock.js';
import { VifFaultError, type FaultInjector, type HostCallback } from './containment.js';
import { silentLogger, type Logger } from '../log.js';
import type { FrontendConfig, RateLimit } from './frontend-config.js';
import { NetbackQueue } from './queue.js';
import type { PacketSink } from './sink.js';
import { VNET_HDR_SIZE } from './vnet-header.js';
import type { NetworkInterface, VifDataPath, VifIdentity } from './vif.js';

/** A network interface frames can cross: what the data path transmits into and receives from. */
export interface PacketPort extends NetworkInterface {
  readonly sink: PacketSink;
  /** Where the port delivers frames for the guest (virtio_net_hdr + frame); undefined detaches. */
  setReceiver(receiver: PacketReceiver | undefined): void;
  /**
   * The vif's carrier (netif_carrier_on/off): off while the vif is not connected or a queue's
   * guest RX is stalled. A port that can show it does (a TAP: TUNSETCARRIER); the data path drops
   * frames for the guest while it is off either way, as the host stack would.
   */
  setCarrier?(on: boolean): void;
  /** The receiver has room again after ready() said no: take frames again. */
  resume?(): void;
}

export interface PacketReceiver {
  /** Takes a copy of the frame; false when it was dropped (backlog full, vif down). */
  receive(frame: Uint8Array): boolean;
  /** Frames were queued: run the RX path soon. */
  wake(): void;
  /**
   * false: the backlog is full, leave frames where they are (in the TAP's queue) until resume():
   * Linux stops the vif's TX queue instead of dropping. see: rx.c xenvif_rx_queue_tail
   */
  ready?(): boolean;
  /** What the port's own callback threw while serving this receiver: contained as the receiver's (containment.ts). */
  caught?(where: HostCallback, error: unknown): void;
}

/** What every vif's data path shares: the compiled kernels and the device handles. */
export interface EngineContext {
  readonly kernels: WebAssembly.Module;
  readonly grants: GrantTable;
  readonly events: EventChannels;
  readonly clock?: Clock;
  /** What queues time their work with (QueueOptions.busyClock). */
  readonly busyClock?: () => number;
  readonly log?: Logger;
  /** fatal_skb_slots (default 20). */
  readonly fatalSlots?: number;
  /** rx_drain_timeout_msecs (default 10000; 30 for a frontend without feature-rx-notify). */
  readonly rxDrainTimeoutMs?: number;
  /** rx_stall_timeout_msecs (default 60000; 0 disables; always off without feature-rx-notify). */
  readonly rxStallTimeoutMs?: number;
  /** Where wake() runs the RX path (default a microtask); the simulated host's step mode holds it. */
  readonly schedule?: (task: () => void, label: string) => void;
  /** TEST ONLY (containment.ts): throws at the start of a contained callback. Never set by the daemon. */
  readonly faults?: FaultInjector;
}

/** Vif-level drops, before a frame reaches a queue. see: interface.c xenvif_start_xmit */
export interface DataPathStats {
  /** Multicast frames whose destination the frontend did not subscribe (multicast control on). */
  rxMulticastDrops: number;
  /** Frames for the guest while the carrier was off (stalled or not connected). */
  rxCarrierDrops: number;
  carrierChanges: number;
  /** Typed errors a host callback threw and the vif carried on after (containment.ts). */
  hostErrors: number;
  /** Untyped throws or traps that disabled the vif (0 or 1 per connect). */
  faults: number;
}

/** The largest frame a port hands over: a 64 KiB GSO frame with a VLAN tag. */
const MAX_RX_FRAME = 65535 + 18;

export class DataPathError extends NetbackError {}

/** The vif's control ring, served from queue 0's kernels (its CTRL_RING page is free). */
interface CtrlRing {
  readonly kernel: CtrlRingKernel;
  readonly instance: KernelInstance;
  readonly mapping: GrantMapping;
  port: EventChannelPort | undefined;
  /** Requests left over after a bounded serve: a timer runs the rest. */
  resumeScheduled: boolean;
}

/** Frame bytes handed to the flow hash: every header it reads lies well inside. */
const HASH_HEADER_BYTES = 512;
/** process/commit rounds per control-ring event before yielding (each round ≤ 128 requests or one copy). */
const CTRL_ROUNDS = 16;

export class EngineDataPath implements VifDataPath, PacketReceiver {
  readonly identity: VifIdentity;
  queues: NetbackQueue[] = [];
  /**
   * Set when the frontend broke a fatal rule (a FrontendFatalError: every queue stops until
   * reconnect) or the data path faulted (a VifFaultError: the vif closes, see containment.ts).
   */
  disabled: FrontendFatalError | VifFaultError | undefined;
  /** Called once when the data path faults; the vif's control plane closes it (Vif). */
  onFault?: (fault: VifFaultError) => void;
  rate: RateLimit = { unlimited: true };
  multicastControl = false;
  xdpHeadroom = 0;
  readonly stats: DataPathStats = { rxMulticastDrops: 0, rxCarrierDrops: 0, carrierChanges: 0, hostErrors: 0, faults: 0 };

  private readonly context: EngineContext;
  private readonly port: PacketPort;
  private wakeScheduled = false;
  private carrierOn = false;
  /** Queues whose guest RX is stalled; the carrier is off while any is. see: interface.c vif->stalled_queues */
  private stalledQueues = 0;
  private ctrl: CtrlRing | undefined;

  constructor(context: EngineContext, identity: VifIdentity) {
    this.context = context;
    this.identity = identity;
    const port = identity.iface as Partial<PacketPort>;
    if (port.sink === undefined || port.setReceiver === undefined) {
      throw new DataPathError('NETBACK_DATAPATH_NO_PORT', `${identity.name}: its interface carries no frames (not a PacketPort)`);
    }
    this.port = port as PacketPort;
  }

  async connect(config: FrontendConfig): Promise<void> {
    const { kernels, grants, events } = this.context;
    const features = config.features;
    this.disabled = undefined;
    this.stalledQueues = 0;
    this.rate = config.rate;
    this.multicastControl = config.multicastControl;
    this.xdpHeadroom = config.xdpHeadroom;
    try {
      // Every instance first, then every queue without an await between them: no event can run
      // one queue's batch (a multicast edit, say) while another queue is still being made.
      const instances = await Promise.all(config.queues.map(() => instantiateKernels(kernels)));
      for (const [index, ring] of config.queues.entries()) {
        const instance = instances[index]!;
        this.queues.push(NetbackQueue.connect({
          name: `${this.identity.name}-q${ring.index}`,
          frontendDomid: this.identity.frontendDomid,
          instance, grants, events,
          sink: this.port.sink,
          features: {
            csumV4: features.ipCsum, csumV6: features.ipv6Csum, gsoV4: features.gsoTcpv4, gsoV6: features.gsoTcpv6,
            sg: features.sg, rxNotify: features.rxNotify,
          },
          fatalSlots: this.context.fatalSlots ?? 20,
          clock: this.context.clock ?? systemClock,
          busyClock: this.context.busyClock,
          rate: config.rate,
          // see: xenbus.c read_xenbus_vif_flags (no feature-rx-notify: poll every 30 ms, no stall detection)
          rxDrainTimeoutMs: features.rxNotify ? this.context.rxDrainTimeoutMs ?? 10000 : 30,
          rxStallTimeoutMs: features.rxNotify ? this.context.rxStallTimeoutMs ?? 60000 : 0,
          onFatal: (error) => this.disable(error),
          onRxStall: (stalled) => this.queueStalled(stalled),
          onRxProgress: () => this.port.resume?.(),
          onMcastEdit: () => this.shareMcastList(index),
          caught: this.caught,
          injectFault: this.context.faults,
        }, {
          txRingRef: ring.txRingRef,
          rxRingRef: ring.rxRingRef,
          eventChannel: ring.splitEventChannels ? { tx: ring.txEventChannel, rx: ring.rxEventChannel } : ring.txEventChannel,
        }));
      }
      const first = instances[0];
      if (config.ctrlRing !== undefined && first !== undefined) this.connectCtrl(first, config.ctrlRing, config.queues.length);
    } catch (error) {
      this.closeQueues();
      throw error;
    }
    this.port.setReceiver(this);
    this.setCarrier(true);
    // Requests may already be waiting (a reconnect with a live ring): look once.
    try {
      this.context.faults?.('connect', this.identity.name);
      for (const queue of this.queues) queue.poll();
      if (this.ctrl !== undefined) this.serveCtrl();
    } catch (error) {
      this.caught('connect', error);
    }
  }

  async disconnect(): Promise<void> {
    this.port.setReceiver(undefined);
    this.setCarrier(false);
    this.closeQueues();
  }

  /** see: xenbus.c xen_net_rate_changed */
  setRate(rate: RateLimit): void {
    this.rate = rate;
    for (const queue of this.queues) queue.setRate(rate);
  }

  setMulticastControl(enabled: boolean): void {
    this.multicastControl = enabled;
  }

  setXdpHeadroom(headroom: number): void {
    this.xdpHeadroom = headroom;
  }

  /** The carrier as the host side sees it. */
  get carrier(): boolean {
    return this.carrierOn;
  }

  /** A frame from the port (the TAP readable callback): contained, a fault drops it. */
  receive(frame: Uint8Array): boolean {
    if (this.disabled !== undefined || this.queues.length === 0) return false;
    try {
      this.context.faults?.('tap', this.identity.name);
      return this.queueFrame(frame);
    } catch (error) {
      this.caught('tap', error);
      return false;
    }
  }

  private queueFrame(frame: Uint8Array): boolean {
    if (!this.carrierOn) {
      this.stats.rxCarrierDrops++;
      return false;
    }
    // see: interface.c xenvif_start_xmit (PACKET_MULTICAST: group bit set, not broadcast)
    if (this.multicastControl && isMulticast(frame) && !this.mcastMatch(frame.subarray(VNET_HDR_SIZE, VNET_HDR_SIZE + 6))) {
      this.stats.rxMulticastDrops++;
      return false;
    }
    const ctrl = this.ctrl?.kernel;
    if (ctrl !== undefined && ctrl.algorithm !== 0) {
      // see: interface.c xenvif_select_queue: with an algorithm set, the Toeplitz hash picks the
      // queue (an unhashed frame counts as hash 0) and travels to the guest in a HASH extra
      const hash = ctrl.hash(frame.subarray(VNET_HDR_SIZE, VNET_HDR_SIZE + HASH_HEADER_BYTES));
      const index = ctrl.selectQueue(hash?.value ?? 0, this.queues.length);
      return this.queues[index]!.receive(frame, hash);
    }
    const queue = this.queues[this.queues.length === 1 ? 0 : flowQueue(frame, this.queues.length)]!;
    return queue.receive(frame);
  }

  /** The control ring's kernels, when the frontend gave one (tests, stats). */
  get ctrlRing(): CtrlRingKernel | undefined {
    return this.ctrl?.kernel;
  }

  /**
   * Maps the frontend's control ring into queue 0's memory, attaches (a FrontendFatalError when
   * its indices are already impossible) and binds event-channel-ctrl.
   * see: interface.c xenvif_connect_ctrl
   */
  private connectCtrl(instance: KernelInstance, config: NonNullable<FrontendConfig['ctrlRing']>, numQueues: number): void {
    const { grants, events } = this.context;
    const domid = this.identity.frontendDomid;
    const mapping = grants.mapPage(domid, config.ringRef, instance, instance.constant('CTRL_RING_OFFSET'), false);
    const kernel = new CtrlRingKernel(instance);
    const ctrl: CtrlRing = { kernel, instance, mapping, port: undefined, resumeScheduled: false };
    this.ctrl = ctrl;
    kernel.attach(numQueues);
    ctrl.port = events.bindInterdomain(domid, config.eventChannel, () => this.onCtrlEvent());
  }

  private onCtrlEvent(): void {
    const ctrl = this.ctrl;
    if (ctrl === undefined || this.disabled !== undefined) return; // a disabled vif keeps its port masked
    try {
      this.context.faults?.('event', this.identity.name);
      this.serveCtrl();
    } catch (error) {
      this.caught('event', error);
    } finally {
      // late EOI, as for the data rings (after a typed error too: never wedged)
      if (this.disabled === undefined && this.ctrl === ctrl) ctrl.port?.unmask();
    }
  }

  /** Answers control requests: process, and for a key/mapping request copy then commit. see: netback.c xenvif_ctrl_action */
  private serveCtrl(): void {
    const ctrl = this.ctrl;
    if (ctrl === undefined || this.disabled !== undefined) return;
    const { kernel, instance } = ctrl;
    for (let round = 0; round < CTRL_ROUNDS; round++) {
      let step: CtrlStep;
      try {
        step = kernel.process();
        if (step.notify) ctrl.port?.notify();
        if (step.copy) {
          this.context.grants.copy(this.identity.frontendDomid, { instance, opsAddress: kernel.opAddress, count: 1 });
          step = kernel.commit();
          if (step.notify) ctrl.port?.notify();
          continue;
        }
      } catch (error) {
        // a frontend that overflows its control ring is disabled like one that overflows a data
        // ring; a notify on a port closed under us is dropped, as for the data rings
        if (error instanceof FrontendFatalError) this.disable(error);
        else if (!(error instanceof NetbackError)) throw error;
        return;
      }
      if (!step.more) return;
    }
    // a frontend that keeps the ring full gets served again on a later turn, not in one long loop
    if (ctrl.resumeScheduled) return;
    ctrl.resumeScheduled = true;
    (this.context.clock ?? systemClock).setTimeout(() => {
      ctrl.resumeScheduled = false;
      if (this.ctrl !== ctrl) return;
      try {
        this.context.faults?.('timer', this.identity.name);
        this.serveCtrl();
      } catch (error) {
        this.caught('timer', error);
      }
    }, 0);
  }

  /**
   * Room for a maximal frame on every queue (one TAP feeds them all, so one full queue holds the
   * TAP back). A disabled or disconnected vif is always ready: its frames are read and dropped.
   */
  ready(): boolean {
    if (this.disabled !== undefined) return true;
    return this.queues.every((queue) => queue.fatal !== undefined || queue.rxAdmits(MAX_RX_FRAME));
  }

  wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    const run = (): void => {
      this.wakeScheduled = false;
      if (this.disabled !== undefined) return;
      try {
        this.context.faults?.('wake', this.identity.name);
        for (const queue of this.queues) if (queue.backlogLength > 0) queue.poll();
      } catch (error) {
        this.caught('wake', error);
      }
    };
    const schedule = this.context.schedule;
    if (schedule === undefined) queueMicrotask(run);
    else schedule(run, `${this.identity.name} RX wake`);
  }

  /** Sum of every queue's counters, by name, and the vif's own. */
  counters(): Record<string, number> {
    const total: Record<string, number> = { ...this.stats };
    for (const queue of this.queues) {
      for (const [name, value] of Object.entries(queue.counters())) total[name] = (total[name] ?? 0) + value;
    }
    return total;
  }

  /**
   * What a host callback threw (containment.ts): a typed error is counted and logged (the first,
   * then at each power of two) and the vif carries on; anything else faults the vif.
   */
  readonly caught = (where: HostCallback, error: unknown): void => {
    if (!(error instanceof NetbackError)) {
      this.fault(where, error);
      return;
    }
    const count = ++this.stats.hostErrors;
    if ((count & (count - 1)) !== 0) return;
    (this.context.log ?? silentLogger)('warn', `${this.identity.name}: ${where} callback failed (${count} so far): ${error.message}`, {
      domid: this.identity.frontendDomid, devid: this.identity.devid, vif: this.identity.name, 'err.code': error.code, where, event: 'host-error',
    });
  };

  /**
   * An untyped throw or a trap in one of this vif's callbacks: a bug, possibly set off by guest
   * bytes. The vif stops as a disabled one does (queues halted, ports masked, carrier off), the
   * fault is logged once with its stack, and the control plane is told (onFault) to close it.
   */
  private fault(where: HostCallback, thrown: unknown): void {
    if (this.disabled instanceof VifFaultError) return;
    const fault = new VifFaultError(where, thrown);
    this.disabled = fault;
    this.stats.faults++;
    for (const queue of this.queues) queue.halt(fault);
    try {
      this.setCarrier(false);
    } catch {
      // the link state is cosmetic here: the vif drops every frame anyway
    }
    (this.context.log ?? silentLogger)('error', `${this.identity.name}: internal fault in the ${where} callback, the vif is disabled until re-attached: ${fault.causeStack}`, {
      domid: this.identity.frontendDomid, devid: this.identity.devid, vif: this.identity.name, 'err.code': fault.code, where, event: 'vif-fault',
    });
    this.onFault?.(fault);
  }

  private disable(error: FrontendFatalError): void {
    if (this.disabled !== undefined) return;
    this.disabled = error;
    for (const queue of this.queues) queue.fatal ??= error;
    this.setCarrier(false); // see: rx.c xenvif_kthread_guest_rx (vif->disabled → xenvif_carrier_off)
    (this.context.log ?? silentLogger)('error', `${this.identity.name}: frontend disabled: ${error.code}`, {
      domid: this.identity.frontendDomid, devid: this.identity.devid, vif: this.identity.name, 'err.code': error.code,
    });
  }

  /**
   * Linux keeps one multicast list per vif, edited by the MCAST extras of any queue (one limit of
   * 64, a DEL on one queue undoes an ADD on another); each queue here keeps its list in its own
   * instance, so the list a batch changed is copied to every other queue at once, before any other
   * batch runs, and all of them hold the vif's one list. see: netback.c xenvif_mcast_add, xenvif_mcast_del
   */
  private shareMcastList(source: number): void {
    const record = this.queues[source]?.mcastSnapshot();
    if (record === undefined) return;
    this.queues.forEach((queue, index) => {
      if (index !== source) queue.mcastRestore(record);
    });
  }

  // see: netback.c xenvif_mcast_match
  private mcastMatch(mac: Uint8Array): boolean {
    return this.queues[0]?.mcastContains(mac) ?? false;
  }

  // see: rx.c xenvif_queue_carrier_off, xenvif_queue_carrier_on
  private queueStalled(stalled: boolean): void {
    const log = this.context.log ?? silentLogger;
    const fields = { domid: this.identity.frontendDomid, devid: this.identity.devid, vif: this.identity.name };
    if (stalled) {
      if (this.stalledQueues++ === 0) {
        log('info', `${this.identity.name}: Guest Rx stalled`, fields);
        this.setCarrier(false);
      }
    } else if (this.stalledQueues > 0 && --this.stalledQueues === 0) {
      log('info', `${this.identity.name}: Guest Rx ready`, fields);
      this.setCarrier(true);
    }
  }

  private setCarrier(on: boolean): void {
    if (this.carrierOn === on) return;
    this.carrierOn = on;
    this.stats.carrierChanges++;
    this.port.setCarrier?.(on);
  }

  private closeQueues(): void {
    const ctrl = this.ctrl;
    this.ctrl = undefined;
    ctrl?.port?.close();
    ctrl?.mapping.unmap();
    for (const queue of this.queues) queue.close();
    this.queues = [];
  }
}

function isMulticast(frame: Uint8Array): boolean {
  if (frame.length < VNET_HDR_SIZE + 14 || (frame[VNET_HDR_SIZE]! & 1) === 0) return false;
  for (let i = 0; i < 6; i++) if (frame[VNET_HDR_SIZE + i] !== 0xff) return true;
  return false;
}

/**
 * Spreads flows over queues when no hash was configured (Linux leaves it to the stack's flow
 * hash): FNV-1a over the IPv4/IPv6 addresses and the next four bytes (the ports of TCP/UDP without
 * options), so one flow stays on one queue. Non-IP frames go to queue 0.
 */
export function flowQueue(frame: Uint8Array, queues: number): number {
  const ethType = (frame[10 + 12]! << 8) | frame[10 + 13]!;
  let start: number;
  let end: number;
  if (ethType === 0x0800 && frame.length >= 10 + 14 + 24) {
    start = 10 + 14 + 12;
    end = start + 12;
  } else if (ethType === 0x86dd && frame.length >= 10 + 14 + 44) {
    start = 10 + 14 + 8;
    end = start + 36;
  } else {
    return 0;
  }
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ frame[i]!, 0x01000193);
  return (hash >>> 0) % queues;
}
