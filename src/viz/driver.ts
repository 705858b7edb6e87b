// The visualizer's simulation: a SimHost with two Linux-like guests joined by the in-process
// bridge (and, in hostile mode, a third guest that publishes a malformed TX chain), a traffic
// generator, and pause/step on top of the host's step mode. No DOM here, so Node tests drive it too.

import { SimHost, type SimGuest } from '../sim/host.js';
import { buildFrame } from '../../test/reference/frames.js';
import { snapshotHost, type HostSnapshot } from './snapshot.js';

export type TrafficMix = 'small' | 'bulk' | 'hostile';

export interface VizSimOptions {
  kernels: WebAssembly.Module;
  mix?: TrafficMix;
  /** Whether the receiving guest (domain 2) advertises feature-gso-tcpv4/6; off makes the engine segment in Wasm. */
  rxGso?: boolean;
}

export interface StepResult {
  /** What ran: "event on port N" or "vifX.Y RX wake". */
  label: string;
  /** Batches (TX + RX, all queues) the step produced: 1 unless one event found work both ways. */
  batches: number;
  /** Queues whose batch counters moved. */
  queues: string[];
}

const MAC = { 1: [0x00, 0x16, 0x3e, 0, 1, 0], 2: [0x00, 0x16, 0x3e, 0, 2, 0], 3: [0x00, 0x16, 0x3e, 0, 3, 0] } as const;
const HOSTILE_DOMID = 3;
/** A TX chain this long is fatal (>= fatal_skb_slots following slots). see: netback.c xenvif_count_requests */
const HOSTILE_CHAIN = 22;

function addressed(frame: Uint8Array, dst: readonly number[], src: readonly number[]): Uint8Array {
  const copy = frame.slice();
  copy.set(dst, 0);
  copy.set(src, 6);
  return copy;
}

/** Frames the generator sends, built once (the bytes do not matter to the rings, only the shapes). */
const shapes = (() => {
  const small = buildFrame({ ip: 4, l4: 'udp', payload: 64 - 42, checksum: 'full' }).frame;
  const bulk = buildFrame({ ip: 4, l4: 'tcp', payload: 45 * 1448, tcpOptionBytes: 12, checksum: 'pseudo' }).frame;
  const ack = buildFrame({ ip: 4, l4: 'tcp', payload: 0, tcpOptionBytes: 12, checksum: 'full' }).frame;
  return {
    small12: addressed(small, MAC[2], MAC[1]), small21: addressed(small, MAC[1], MAC[2]),
    bulk12: addressed(bulk, MAC[2], MAC[1]), ack21: addressed(ack, MAC[1], MAC[2]),
  };
})();

export class VizSim {
  readonly host: SimHost;
  mix: TrafficMix;
  rxGso: boolean;
  /** Frames the generator could not send (the guest's TX queue was stopped). */
  stoppedSends = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private paused = false;
  private hostileDone = false;

  private constructor(host: SimHost, mix: TrafficMix, rxGso: boolean) {
    this.host = host;
    this.mix = mix;
    this.rxGso = rxGso;
  }

  static async create(options: VizSimOptions): Promise<VizSim> {
    const host = new SimHost({ kernels: options.kernels });
    await host.start();
    const sim = new VizSim(host, options.mix ?? 'small', options.rxGso ?? true);
    await host.addGuest({ domid: 1 });
    await sim.addReceiver();
    if (sim.mix === 'hostile') await sim.addHostile();
    return sim;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  snapshot(): HostSnapshot {
    return snapshotHost(this.host);
  }

  /** Sends one burst of the current mix (both directions unless `oneWay`). */
  burst(oneWay = false): void {
    const g1 = this.guest(1);
    const g2 = this.guest(2);
    if (this.mix === 'bulk') {
      for (let i = 0; i < (oneWay ? 2 : 6); i++) this.send(g1, shapes.bulk12, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } });
      if (!oneWay) for (let i = 0; i < 6; i++) this.send(g2, shapes.ack21, { checksum: 'validated' });
    } else {
      for (let i = 0; i < (oneWay ? 8 : 24); i++) this.send(g1, shapes.small12, { checksum: 'validated' });
      if (!oneWay) for (let i = 0; i < 24; i++) this.send(g2, shapes.small21, { checksum: 'validated' });
    }
    if (this.mix === 'hostile' && !this.hostileDone && this.host.guests.has(HOSTILE_DOMID)) this.sendHostileChain();
  }

  /** Runs the generator every `intervalMs` until pause() or close(). */
  run(intervalMs = 25): void {
    this.paused = false;
    this.host.setStepMode(false);
    const loop = (): void => {
      this.burst();
      this.timer = setTimeout(loop, intervalMs);
    };
    if (this.timer === undefined) loop();
  }

  /** Stops the generator, lets the work in flight finish, then holds all backend work for step(). */
  async pause(): Promise<void> {
    this.stopTimer();
    this.paused = true;
    await this.host.settle(10);
    this.host.setStepMode(true);
  }

  /**
   * Lets backend work through until one piece produced a batch: a held event or RX wake, or when
   * none waits, the one event that a fresh one-way burst from guest 1 raises.
   */
  step(): StepResult | undefined {
    if (!this.paused) throw new Error('step() needs pause() first');
    for (let attempt = 0; attempt < 64; attempt++) {
      if (this.host.channels.heldWork().length === 0) this.burst(true);
      const before = this.batchesByQueue();
      const work = this.host.step();
      if (work === undefined) return undefined;
      const after = this.batchesByQueue();
      const queues = [...after].filter(([name, n]) => n !== (before.get(name) ?? 0)).map(([name]) => name);
      const batches = [...after.values()].reduce((a, b) => a + b, 0) - [...before.values()].reduce((a, b) => a + b, 0);
      if (batches > 0) return { label: work.label, batches, queues };
    }
    return undefined;
  }

  async setMix(mix: TrafficMix): Promise<void> {
    this.mix = mix;
    if (mix === 'hostile' && !this.host.guests.has(HOSTILE_DOMID)) await this.addHostile();
  }

  /** Re-plugs the receiving guest with or without GSO (features are negotiated at connect). */
  async setRxGso(on: boolean): Promise<void> {
    if (on === this.rxGso) return;
    this.rxGso = on;
    const paused = this.paused;
    if (paused) this.host.setStepMode(false);
    await this.host.removeGuest(2);
    await this.addReceiver();
    if (paused) this.host.setStepMode(true);
  }

  async close(): Promise<void> {
    this.stopTimer();
    this.host.setStepMode(false);
    await this.host.close();
  }

  private async addReceiver(): Promise<void> {
    await this.host.addGuest({ domid: 2, features: this.rxGso ? {} : { gsoTcpv4: false, gsoTcpv6: false } });
  }

  private async addHostile(): Promise<void> {
    const paused = this.paused;
    if (paused) this.host.setStepMode(false);
    await this.host.addGuest({ domid: HOSTILE_DOMID });
    if (paused) this.host.setStepMode(true);
  }

  /** Guest 3 publishes one 22-slot chain: netback disables its vif and nothing else. */
  private sendHostileChain(): void {
    this.hostileDone = true;
    const raw = this.guest(HOSTILE_DOMID).netfront.hostile(0);
    const start = raw.txRing.reqProd;
    for (let i = 0; i < HOSTILE_CHAIN; i++) {
      raw.writeTxRequest(start + i, { gref: raw.grant(true), offset: 0, flags: i < HOSTILE_CHAIN - 1 ? 0x4 : 0, id: i, size: i === 0 ? HOSTILE_CHAIN * 100 : 100 });
    }
    raw.setTxReqProd(start + HOSTILE_CHAIN);
    raw.notifyTx();
  }

  private send(guest: SimGuest, frame: Uint8Array, options: Parameters<SimGuest['netfront']['send']>[1]): void {
    if (guest.netfront.txStopped() || guest.netfront.send(frame, options).kind !== 'sent') this.stoppedSends++;
  }

  private guest(domid: number): SimGuest {
    const guest = this.host.guests.get(domid);
    if (guest === undefined) throw new Error(`no guest ${domid}`);
    return guest;
  }

  private batchesByQueue(): Map<string, number> {
    const out = new Map<string, number>();
    for (const path of this.host.dataPaths.values()) {
      for (const queue of path.queues) out.set(queue.name, queue.stats.txBatches + queue.stats.rxBatches);
    }
    return out;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
