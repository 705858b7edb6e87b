// The fuzzing world and its typed oracle. One long-lived simulated host carries two victim
// guests (domains 1 and 2) joined by the host's bridge; each case gets a fresh hostile guest
// (domain 100, 101, ...) whose vif is a port of an isolated bridge, so nothing the attacker
// sends can reach a victim and the victims' Wasm memories must stay byte-identical while it
// runs. Every event the backend handles and every frame injected from the host side runs under
// a guard that sorts what escaped: a typed NetbackError is a defined outcome, anything else
// (a plain Error, a WebAssembly.RuntimeError trap) fails the oracle.

import { expect } from 'vitest';
import type { EngineDataPath, PacketPort, PacketReceiver } from '../../src/backend/datapath.js';
import type { NetbackQueue } from '../../src/backend/queue.js';
import type { Logger } from '../../src/log.js';
import { SimHost, type SimGuest, type SimGuestOptions } from '../../src/sim/host.js';
import { SoftwareBridge, type BridgePort } from '../../src/sink/bridge.js';
import { ManualClock } from '../../src/xen/sim/clock.js';
import type { NetfrontHostileQueue, NetfrontPacket } from '../../src/xen/sim/netfront.js';
import { NetbackError } from '../../src/errors.js';
import type { KernelInstance } from '../../src/wasm/module.js';
import type { KernelBuild } from '../../src/wasm/node-source.js';
import type { EventChannels } from '../../src/xen/types.js';
import { kernels, MAC1, MAC2, udpFrame } from '../engine/helpers.js';

/** The hostile guests' MAC: frames they send carry it as source and destination (the isolated bridge keeps them local). */
export const HOSTILE_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x66];
export const HOSTILE_DOMID_BASE = 100;

export type OutcomeKind = 'ok' | 'drop' | 'fatal' | 'typed-error' | 'rejected';
export interface Outcome {
  kind: OutcomeKind;
  code?: string;
}

/** Everything that escaped a guard while a case ran. */
export interface Escapes {
  typed: NetbackError[];
  untyped: unknown[];
}

/** `n` macrotask turns (setImmediate: no 1 ms timer clamp). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

export function queueInstance(queue: NetbackQueue): KernelInstance {
  return (queue as unknown as { instance: KernelInstance }).instance;
}

export class FuzzWorld {
  readonly host: SimHost;
  readonly clock: ManualClock;
  /** The attacker's side of the network: every hostile vif is a port of this bridge. */
  readonly isolated = new SoftwareBridge();
  /** A port on the isolated bridge standing for the host stack (TAP-side frames come from here). */
  readonly hostSide: BridgePort;
  /** Frames the hostile vif handed to its network interface. */
  readonly fromHostile: Uint8Array[] = [];
  readonly escapes: Escapes = { typed: [], untyped: [] };
  readonly errorLogs: string[] = [];
  /** Protocol steps that did not finish within a simulated minute. */
  readonly stuck: string[] = [];
  /** err.code of every error log line (NETBACK_INTERNAL marks an untyped throw caught by a vif step). */
  readonly errorCodes: (string | undefined)[] = [];
  private nextDomid = HOSTILE_DOMID_BASE;
  private hostileGuest: SimGuest | undefined;
  private hostileReceiver: PacketReceiver | undefined;
  private readonly sideGrants: number[] = [];
  private pendingDomid: number | undefined;
  private victimMemory: { name: string; bytes: Uint8Array }[] = [];
  /** The backend's own open ports and mapped pages with only the victims attached. */
  private baseline: { backendPorts: number; mappedPages: number } | undefined;

  private constructor(host: SimHost, clock: ManualClock) {
    this.host = host;
    this.clock = clock;
    this.hostSide = this.isolated.attach('host-stack', {
      receive: (frame) => { this.fromHostile.push(frame); return true; },
      wake: () => {},
    });
  }

  /** `build`: which kernels every vif of this world runs (the debug build keeps the kernels' assertions). */
  static async create(options: { victimQueues?: number; fatalSlots?: number; build?: KernelBuild } = {}): Promise<FuzzWorld> {
    const clock = new ManualClock();
    let world: FuzzWorld | undefined;
    const log: Logger = (level, msg, fields) => {
      // what the data path contains now (src/backend/containment.ts) escaped before: the oracle sees it still
      if (fields?.event === 'vif-fault') world?.escapes.untyped.push(new Error(msg));
      if (fields?.event === 'host-error') world?.escapes.typed.push(new NetbackError(String(fields['err.code']), msg));
      if (level !== 'error') return;
      world?.errorLogs.push(msg);
      world?.errorCodes.push(fields?.['err.code'] as string | undefined);
    };
    let host!: SimHost;
    host = new SimHost({
      kernels: await kernels(options.build), clock, log, features: { maxQueues: 4 }, fatalSlots: options.fatalSlots,
      interfaces: {
        create: async (name, opts) => {
          const domid = Number(/^vif(\d+)\./.exec(name)?.[1] ?? -1);
          if (domid >= HOSTILE_DOMID_BASE) return world!.wrapHostilePort(await world!.isolated.interfaces().create(name, opts) as BridgePort);
          return host.bridge.interfaces().create(name, opts);
        },
      },
    });
    world = new FuzzWorld(host, clock);
    world.guardEvents();
    // SimHost waits for Connected with setTimeout turns; the simulation is microtask driven, so
    // setImmediate turns are enough and a connect the backend refuses fails fast
    (host as unknown as { until: (check: () => Promise<boolean>, what: string) => Promise<void> }).until = async (check, what) => {
      for (let i = 0; i < 200; i++) {
        if (await check()) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw new Error(`simulated host: timed out waiting for ${what}`);
    };
    await host.start();
    await host.addGuest({ domid: 1, queues: options.victimQueues ?? 1 });
    await host.addGuest({ domid: 2, queues: options.victimQueues ?? 1 });
    world.baseline = { backendPorts: host.channels.openPorts(host.backendDomid), mappedPages: host.grants.mappedPages() };
    return world;
  }

  /** Runs `body`, sorting what it throws into the typed / untyped escapes. */
  guard<T>(body: () => T): T | undefined {
    try {
      return body();
    } catch (error) {
      if (error instanceof NetbackError) this.escapes.typed.push(error);
      else this.escapes.untyped.push(error);
      return undefined;
    }
  }

  /** The backend's event handlers run guarded (a throw there would be an uncaught exception in a daemon). */
  private guardEvents(): void {
    const channels = this.host.channels;
    const forDomain = channels.forDomain.bind(channels);
    channels.forDomain = (domid: number): EventChannels => {
      const inner = forDomain(domid);
      return { bindInterdomain: (remote, port, onEvent) => inner.bindInterdomain(remote, port, () => { this.guard(onEvent); }) };
    };
  }

  private wrapHostilePort(port: BridgePort): PacketPort {
    const setReceiver = port.setReceiver.bind(port);
    port.setReceiver = (receiver) => {
      this.hostileReceiver = receiver;
      setReceiver(receiver === undefined ? undefined : {
        receive: (frame) => this.guard(() => receiver.receive(frame)) ?? false,
        wake: () => this.guard(() => receiver.wake()),
      });
    };
    return port;
  }

  /** A new hostile guest (the previous one is removed and checked for leaks first). */
  async newHostile(options: Partial<SimGuestOptions> = {}): Promise<SimGuest> {
    await this.dropHostile();
    const domid = this.nextDomid++;
    this.pendingDomid = domid;
    this.fromHostile.length = 0;
    this.escapes.typed.length = 0;
    this.escapes.untyped.length = 0;
    this.errorLogs.length = 0;
    this.errorCodes.length = 0;
    this.stuck.length = 0;
    const guest = await this.host.addGuest({ ...options, domid });
    this.hostileGuest = guest;
    return guest;
  }

  /** The domain of the hostile guest being set up or running (even when its connect failed). */
  pendingHostileDomid(): number {
    if (this.pendingDomid === undefined) throw new Error('no hostile guest');
    return this.pendingDomid;
  }

  get hostile(): SimGuest {
    if (this.hostileGuest === undefined) throw new Error('no hostile guest');
    return this.hostileGuest;
  }

  hostileDataPath(): EngineDataPath {
    const path = this.hostile.dataPath();
    if (path === undefined) throw new Error('hostile vif has no data path');
    return path;
  }

  /** A page the hostile guest grants to some domain outside its netfront (revoked with the guest). */
  sideGrant(grantee: number, readonly: boolean, contents?: Uint8Array): number {
    const ref = this.host.grants.grantAccess(this.hostile.domid, grantee, readonly, contents);
    this.sideGrants.push(ref);
    return ref;
  }

  /** Removes the hostile guest: nothing of it may stay mapped, bound or granted. */
  async dropHostile(options: { guestDied?: boolean } = {}): Promise<void> {
    const domid = this.pendingDomid;
    this.pendingDomid = undefined;
    this.hostileGuest = undefined;
    if (domid === undefined) return;
    const guest = this.host.guests.get(domid);
    if (guest === undefined) return;
    // SimHost.removeGuest, tolerating a guest whose connect failed (no netfront yet) and closing its control ring
    const host = this.host;
    if (guest.xenbus.backendPath !== undefined) await this.bounded(guest.xenbus.close(), 'frontend close');
    await this.bounded(host.watcher.whenIdle(), 'backend idle');
    try { guest.netfront.close(); } catch { /* never set up its rings */ }
    guest.ctrl?.close();
    await this.bounded(guest.xenbus.stop(), 'frontend stop');
    await this.bounded(host.toolstack.detach(domid, guest.devid, host.backendDomid), 'toolstack detach');
    await this.bounded(host.watcher.whenIdle(), 'backend idle');
    host.guests.delete(domid);
    host.dataPaths.delete(`vif${domid}.${guest.devid}`);
    for (const ref of this.sideGrants.splice(0)) this.host.grants.endAccess(domid, ref);
    await turns(2);
    if (options.guestDied === true) {
      // a dead guest could not revoke what the backend mapped when it died; the backend must have
      // let go of every page now, and the domain's table goes with the domain
      const table = (this.host.grants as unknown as { grants: Map<number, Map<number, { mappings: number }>> }).grants.get(domid);
      expect([...(table?.values() ?? [])].filter((e) => e.mappings > 0), `pages of dead domain ${domid} still mapped`).toEqual([]);
      table?.clear();
    }
    expect(this.host.grants.liveGrants(domid), `grants of domain ${domid} left after removal`).toBe(0);
    expect(this.host.channels.openPorts(domid), `ports of domain ${domid} left after removal`).toBe(0);
    // the backend's side too: its ports and mappings are back to what the victims alone hold
    if (this.baseline !== undefined) {
      expect(this.host.channels.openPorts(this.host.backendDomid), `backend ports left after removing domain ${domid}`).toBe(this.baseline.backendPorts);
      expect(this.host.grants.mappedPages(), `pages left mapped after removing domain ${domid}`).toBe(this.baseline.mappedPages);
    }
    expect(this.isolated.portNames(), 'hostile bridge ports left after removal').toEqual(['host-stack']);
  }

  /**
   * Waits for a protocol step that may wait on the (manual) clock: time moves a second per turn,
   * at most five simulated minutes. Returns whether it finished.
   */
  async bounded(step: Promise<unknown>, what: string, options: { tolerateRejection?: boolean } = {}): Promise<boolean> {
    let done = false;
    step.then(() => { done = true; }, (error: unknown) => {
      done = true;
      if (options.tolerateRejection !== true && !(error instanceof NetbackError)) this.escapes.untyped.push(error);
    });
    for (let i = 0; i < 300 && !done; i++) {
      for (let j = 0; j < 25 && !done; j++) await new Promise((resolve) => setImmediate(resolve));
      if (!done) this.clock.advance(1000);
    }
    if (!done) this.stuck.push(what);
    return done;
  }

  /** Frames from the host side to the hostile vif (a TAP read), guarded. */
  injectToHostile(frame: Uint8Array): boolean {
    const receiver = this.hostileReceiver;
    if (receiver === undefined) return false;
    const accepted = this.guard(() => receiver.receive(frame)) ?? false;
    this.guard(() => receiver.wake());
    return accepted;
  }

  /**
   * Bounded settle: a fixed number of macrotask turns and a small clock advance (no hang can pass).
   * setImmediate turns, as in `until` above: SimHost.settle's setTimeout(0) turns wait 1 ms each
   * (Node's clamp) for nothing, since the simulation is microtask driven and its timers run on the
   * manual clock.
   */
  async settle(rounds = 12): Promise<void> {
    await turns(rounds);
    this.clock.advance(1);
    await turns(2);
  }

  victimPaths(): EngineDataPath[] {
    return [this.host.dataPaths.get('vif1.0')!, this.host.dataPaths.get('vif2.0')!];
  }

  /**
   * Copies every victim queue's whole Wasm memory. With `keepChecked`, a fuzz property between its
   * cases: isolation makes one copy last, since while no victim sends or receives every case must
   * leave the memories byte-identical to the snapshot, and assertVictimsUntouched checked exactly
   * that, so the next case starts from the same snapshot without copying 8 MiB per queue again
   * (assertVictimsFlow, the victims' traffic, makes the next call copy).
   */
  snapshotVictims(options: { keepChecked?: boolean } = {}): void {
    const queues = this.victimPaths().flatMap((path) => path.queues);
    if (options.keepChecked === true && this.victimSnapshotChecked && queues.length === this.victimMemory.length &&
        queues.every((q, i) => q.name === this.victimMemory[i]!.name)) return;
    this.victimMemory = queues.map((queue) => ({ name: queue.name, bytes: queueInstance(queue).bytes.slice() }));
    this.victimSnapshotChecked = false;
  }

  /** The snapshot equals the victims' memories: assertVictimsUntouched passed and no victim traffic since. */
  private victimSnapshotChecked = false;

  /** The victims' memories are byte-identical to the snapshot (nothing of the attack reached them). */
  assertVictimsUntouched(): void {
    const now = this.victimPaths().flatMap((path) => path.queues);
    expect(now.map((q) => q.name)).toEqual(this.victimMemory.map((m) => m.name));
    now.forEach((queue, i) => {
      const before = Buffer.from(this.victimMemory[i]!.bytes.buffer);
      const after = Buffer.from(queueInstance(queue).bytes.buffer, queueInstance(queue).bytes.byteOffset, queueInstance(queue).bytes.byteLength);
      expect(after.equals(before), `${queue.name} memory changed during the attack`).toBe(true);
    });
    this.victimSnapshotChecked = true;
  }

  /** A frame each way between the victims arrives intact, and neither victim is disabled. */
  async assertVictimsFlow(seed = 1): Promise<void> {
    this.victimSnapshotChecked = false;
    for (const path of this.victimPaths()) expect(path.disabled, `${path.identity.name} disabled`).toBeUndefined();
    const got1: NetfrontPacket[] = [];
    const got2: NetfrontPacket[] = [];
    const off1 = this.host.guests.get(1)!.netfront.on('receive', (p) => got1.push(p));
    const off2 = this.host.guests.get(2)!.netfront.on('receive', (p) => got2.push(p));
    try {
      const a = udpFrame(200 + (seed % 700), MAC2, MAC1, seed);
      const b = udpFrame(90 + (seed % 300), MAC1, MAC2, seed + 1);
      expect(this.host.guests.get(1)!.netfront.send(a, { checksum: 'validated' }).kind).toBe('sent');
      expect(this.host.guests.get(2)!.netfront.send(b, { checksum: 'validated' }).kind).toBe('sent');
      await this.settle();
      expect(got2.map((p) => Buffer.from(p.frame).toString('hex'))).toContain(Buffer.from(a).toString('hex'));
      expect(got1.map((p) => Buffer.from(p.frame).toString('hex'))).toContain(Buffer.from(b).toString('hex'));
    } finally {
      off1();
      off2();
    }
  }

  /**
   * A typed error that escaped event handling must leave the vif working: the hostile guest sends
   * a plain frame and it reaches its interface. (A typed error that left the port masked would
   * fail here: the vif shows Connected but is wedged.)
   */
  async assertHostileStillWorks(): Promise<void> {
    const guest = this.hostile;
    const before = this.fromHostile.length;
    const frame = udpFrame(120, MAC1, HOSTILE_MAC, 77);
    expect(guest.netfront.send(frame, { checksum: 'validated' }).kind, 'the vif takes a frame after a typed error').toBe('sent');
    await this.settle();
    expect(this.fromHostile.slice(before).some((f) => Buffer.from(f.subarray(f.length - frame.length)).equals(Buffer.from(frame))), 'a frame sent after a typed error reached the interface').toBe(true);
  }

  /** No untyped throw or trap escaped; the classification of what happened. */
  outcome(dropsBefore: number): Outcome {
    expect(this.escapes.untyped.map(describe), 'untyped throws or traps escaped').toEqual([]);
    const path = this.hostile.dataPath();
    if (path?.disabled !== undefined) return { kind: 'fatal', code: path.disabled.code };
    if (this.escapes.typed.length > 0) return { kind: 'typed-error', code: this.escapes.typed[0]!.code };
    if (path === undefined) return { kind: 'rejected' };
    return dropCount(path) > dropsBefore ? { kind: 'drop' } : { kind: 'ok' };
  }

  async close(): Promise<void> {
    await this.dropHostile();
    await this.host.close();
  }
}

export function describe(error: unknown): string {
  if (error instanceof WebAssembly.RuntimeError) return `TRAP ${error.message}`;
  if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
  return String(error);
}

/** Every drop counter of a data path, summed (kernel tx_drop_* / rx_drop_*, engine drops). */
export function dropCount(path: EngineDataPath): number {
  let total = 0;
  for (const [name, value] of Object.entries(path.counters())) {
    if (/drop|Drops|expired|Expired/.test(name)) total += value;
  }
  return total;
}

/** Tallies outcomes by kind and code, for the report. */
export class Tally {
  readonly counts = new Map<string, number>();
  cases = 0;
  add(outcome: Outcome): void {
    this.cases++;
    const key = outcome.code === undefined ? outcome.kind : `${outcome.kind}:${outcome.code}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  merge(other: Tally): void {
    this.cases += other.cases;
    for (const [k, v] of other.counts) this.counts.set(k, (this.counts.get(k) ?? 0) + v);
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }
}

export type { NetfrontHostileQueue };

/**
 * How long a fuzz property runs: FUZZ_SECONDS (the long runner) interrupts after that many
 * seconds with no case limit; otherwise FUZZ_RUNS or the bounded default of `npm test`.
 */
export function fuzzBudget(defaultRuns: number): { params: { numRuns: number; interruptAfterTimeLimit?: number; markInterruptAsFailure: false; seed?: number; path?: string }; timeout: number } {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 0);
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  // FUZZ_SEED with FUZZ_PATH (both from fast-check's "Property failed" line) replays one counterexample
  const path = process.env.FUZZ_PATH;
  if (path !== undefined) return { params: { numRuns: 1, markInterruptAsFailure: false, seed, path }, timeout: 120_000 };
  if (seconds > 0) {
    return { params: { numRuns: 1_000_000_000, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false, seed }, timeout: seconds * 1000 + 120_000 };
  }
  return { params: { numRuns: Number(process.env.FUZZ_RUNS ?? defaultRuns), markInterruptAsFailure: false, seed }, timeout: 120_000 };
}

/** Appends a tally to FUZZ_REPORT (a JSON-lines file the long runner reads), and prints it. */
export async function reportTally(name: string, tally: Tally): Promise<void> {
  console.log(`${name}: ${tally.cases} cases`, JSON.stringify(tally.toJSON()));
  const file = process.env.FUZZ_REPORT;
  if (file === undefined) return;
  const { appendFile } = await import('node:fs/promises');
  await appendFile(file, `${JSON.stringify({ name, cases: tally.cases, outcomes: tally.toJSON() })}\n`);
}
