// The data path of one vif: a NetbackQueue per negotiated queue, each with its own Wasm instance,
// between the frontend's rings and the vif's network interface (a TAP, or a port of the
// in-process bridge). It is what the xenbus side (vif.ts) calls on Connected and on close.
// A fatal frontend error on any queue disables the whole vif, as Linux's vif->disabled does;
// the xenstore state is left alone. see: netback.c xenvif_fatal_tx_err; interface.c xenvif_carrier_off

import { NetbackError, type FrontendFatalError } from '../wasm/errors.js';
import { instantiateKernels } from '../wasm/module.js';
import type { EventChannels, GrantTable } from '../xen/types.js';
import { systemClock, silentLogger, type Clock, type Logger } from './clock.js';
import type { FrontendConfig, RateLimit } from './frontend-config.js';
import { NetbackQueue } from './queue.js';
import type { PacketSink } from './sink.js';
import type { NetworkInterface, VifDataPath, VifIdentity } from './vif.js';

/** A network interface frames can cross: what the data path transmits into and receives from. */
export interface PacketPort extends NetworkInterface {
  readonly sink: PacketSink;
  /** Where the port delivers frames for the guest (virtio_net_hdr + frame); undefined detaches. */
  setReceiver(receiver: PacketReceiver | undefined): void;
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
}

/** What every vif's data path shares: the compiled kernels and the device handles. */
export interface EngineContext {
  readonly kernels: WebAssembly.Module;
  readonly grants: GrantTable;
  readonly events: EventChannels;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** fatal_skb_slots (default 20). */
  readonly fatalSlots?: number;
}

/** The largest frame a port hands over: a 64 KiB GSO frame with a VLAN tag. */
const MAX_RX_FRAME = 65535 + 18;

export class DataPathError extends NetbackError {}

export class EngineDataPath implements VifDataPath, PacketReceiver {
  readonly identity: VifIdentity;
  queues: NetbackQueue[] = [];
  /** Set when the frontend broke a fatal rule: every queue of the vif stops until reconnect. */
  disabled: FrontendFatalError | undefined;
  rate: RateLimit = { unlimited: true };
  multicastControl = false;
  xdpHeadroom = 0;

  private readonly context: EngineContext;
  private readonly port: PacketPort;
  private wakeScheduled = false;

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
    this.rate = config.rate;
    this.multicastControl = config.multicastControl;
    this.xdpHeadroom = config.xdpHeadroom;
    try {
      for (const ring of config.queues) {
        const instance = await instantiateKernels(kernels);
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
          now: () => (this.context.clock ?? systemClock).now(),
          onFatal: (error) => this.disable(error),
          onRxProgress: () => this.port.resume?.(),
        }, {
          txRingRef: ring.txRingRef,
          rxRingRef: ring.rxRingRef,
          eventChannel: ring.splitEventChannels ? { tx: ring.txEventChannel, rx: ring.rxEventChannel } : ring.txEventChannel,
        }));
      }
    } catch (error) {
      this.closeQueues();
      throw error;
    }
    this.port.setReceiver(this);
    // Requests may already be waiting (a reconnect with a live ring): look once.
    for (const queue of this.queues) queue.poll();
  }

  async disconnect(): Promise<void> {
    this.port.setReceiver(undefined);
    this.closeQueues();
  }

  setRate(rate: RateLimit): void {
    this.rate = rate;
  }

  setMulticastControl(enabled: boolean): void {
    this.multicastControl = enabled;
  }

  setXdpHeadroom(headroom: number): void {
    this.xdpHeadroom = headroom;
  }

  receive(frame: Uint8Array): boolean {
    if (this.disabled !== undefined || this.queues.length === 0) return false;
    const queue = this.queues[this.queues.length === 1 ? 0 : flowQueue(frame, this.queues.length)]!;
    return queue.receive(frame);
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
    queueMicrotask(() => {
      this.wakeScheduled = false;
      if (this.disabled !== undefined) return;
      for (const queue of this.queues) if (queue.backlogLength > 0) queue.poll();
    });
  }

  /** Sum of every queue's counters, by name. */
  counters(): Record<string, number> {
    const total: Record<string, number> = {};
    for (const queue of this.queues) {
      for (const [name, value] of Object.entries(queue.counters())) total[name] = (total[name] ?? 0) + value;
    }
    return total;
  }

  private disable(error: FrontendFatalError): void {
    if (this.disabled !== undefined) return;
    this.disabled = error;
    for (const queue of this.queues) queue.fatal ??= error;
    (this.context.log ?? silentLogger)('error', `${this.identity.name}: frontend disabled: ${error.code}`, {
      domid: this.identity.frontendDomid, devid: this.identity.devid, vif: this.identity.name, 'err.code': error.code,
    });
  }

  private closeQueues(): void {
    for (const queue of this.queues) queue.close();
    this.queues = [];
  }
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
