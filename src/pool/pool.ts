// The data path on every core: a pool of worker_threads (worker.ts) that the daemon's vifs run on.
// The main thread keeps the control plane (xenstore, each vif's lifecycle, the TAP device itself,
// the control socket, the visualizer) and places each vif, when it connects, on the worker with the
// fewest queues, as Linux spreads its netback threads; that worker owns the vif's Wasm instances,
// attaches one queue of the vif's multi-queue TAP per netif queue, and binds the vif's ports on
// its own /dev/xen/evtchn fd. A frame never crosses a thread: it enters and leaves on the worker
// (TAP queue fds, grant copies into that worker's Wasm memory). What crosses is control (connect,
// disconnect, rate, multicast, logs) by message, and the counters and ring indices each worker
// publishes into shared memory, which `list`, `stats` and the visualizer read without asking.
// A worker that dies (a backend bug: guest input never kills one) is replaced; the fds it held are
// closed, its vifs connect again on the new thread and resume where their rings stand, as after
// a SIGKILL restart, and the other workers carry on. workers = 0 keeps everything on the main
// thread (EngineDataPath directly), as the browser and the simulation run it. Node only.

import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FrontendConfig, RateLimit } from '../backend/frontend-config.js';
import { VifFaultError } from '../backend/containment.js';
import type { VifDataPath, VifIdentity } from '../backend/vif.js';
import { NetbackError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { loadNative } from '../native/addon.js';
import type { QueueSnapshot, RingIndices, PublishedDataPath } from '../viz/snapshot.js';
import {
  FD_TABLE_SLOTS, Q_BACKLOG, Q_LAST_TX_OPS, Q_RX, Q_STALLED, Q_TX, QUEUE_FIXED, queueBase, RING_INDEX_FIELDS, VIF_CARRIER,
  VIF_CARRIER_CHANGES, VIF_FAULTS, VIF_HOST_ERRORS, VIF_RX_CARRIER_DROPS, VIF_RX_MULTICAST_DROPS,
  type FromWorker, type PoolEngineSettings, type PoolVifIdentity, type ToWorker, type WorkerInit,
} from './protocol.js';

export class PoolError extends NetbackError {}

export interface PoolOptions {
  /** Worker threads (>= 1). */
  workers: number;
  kernels: WebAssembly.Module;
  engine: PoolEngineSettings;
  log?: Logger;
  /** The device module workers import (default ./worker-devices.js: real Xen and TAP queues), and its options. */
  devices?: string;
  devicesOptions?: unknown;
}

/** One worker thread and what runs on it. */
export interface PoolThread {
  readonly index: number;
  readonly worker: Worker;
  /** Netif queues placed here. */
  queues: number;
  readonly vifs: Set<PooledDataPath>;
  /** Times this slot's worker died and was replaced. */
  restarts: number;
}

interface InternalThread extends PoolThread {
  worker: Worker;
  fds: Int32Array;
  ready: Promise<void>;
  exited: boolean;
}

/** A module of this directory as a worker loads it; under a TypeScript runner (tests), the build's copy. */
export function poolModuleUrl(name: string): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const built = here.replace(/\/src\/pool\/pool\.ts$/, `/dist/src/pool/${name}.js`);
    if (!existsSync(built)) throw new PoolError('NETBACK_POOL_NOT_BUILT', `${built} is missing: run npm run build`);
    return pathToFileURL(built);
  }
  return new URL(`./${name}.js`, import.meta.url);
}

export class QueuePool {
  private readonly options: PoolOptions;
  private readonly log: Logger;
  private readonly slots: InternalThread[] = [];
  private nextVif = 1;
  private closing = false;

  private constructor(options: PoolOptions) {
    this.options = options;
    this.log = options.log ?? silentLogger;
  }

  /** Starts every worker and waits until each is ready. */
  static async start(options: PoolOptions): Promise<QueuePool> {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new PoolError('NETBACK_POOL_BAD_SIZE', `a pool needs at least one worker, got ${options.workers}`);
    }
    const pool = new QueuePool(options);
    for (let i = 0; i < options.workers; i++) pool.slots.push(pool.spawn(i, 0));
    await Promise.all(pool.slots.map((slot) => slot.ready));
    return pool;
  }

  get threads(): readonly PoolThread[] {
    return this.slots;
  }

  /** A vif's data path on this pool (the BackendWatcher's dataPath factory). */
  dataPath(identity: VifIdentity): PooledDataPath {
    const { iface: _iface, ...plain } = identity;
    return new PooledDataPath(this, this.nextVif++, plain);
  }

  /** Stops every worker (after the vifs were closed). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map(async (slot) => {
      await slot.worker.terminate();
      this.closeFds(slot);
    }));
  }

  /** @internal PooledDataPath's connect: places the vif and waits for the worker's answer. */
  async place(path: PooledDataPath, config: FrontendConfig): Promise<void> {
    const slot = this.slots.reduce((best, s) => (s.queues < best.queues ? s : best));
    slot.queues += config.queues.length;
    slot.vifs.add(path);
    path.thread = slot;
    try {
      await this.connectOn(slot, path, config);
    } catch (error) {
      this.unplace(path, config);
      throw error;
    }
  }

  /** @internal */
  async remove(path: PooledDataPath, config: FrontendConfig): Promise<void> {
    const slot = path.thread as InternalThread | undefined;
    if (slot === undefined) return;
    if (!slot.exited) {
      await this.request(slot, path.id, { type: 'disconnect', vif: path.id }, 'disconnected').catch(() => undefined);
    }
    this.unplace(path, config);
  }

  /** @internal */
  send(path: PooledDataPath, message: ToWorker): void {
    const slot = path.thread as InternalThread | undefined;
    if (slot !== undefined && !slot.exited) slot.worker.postMessage(message);
  }

  private unplace(path: PooledDataPath, config: FrontendConfig): void {
    const slot = path.thread;
    if (slot === undefined) return;
    slot.vifs.delete(path);
    slot.queues -= config.queues.length;
    path.thread = undefined;
    path.published = undefined;
  }

  private async connectOn(slot: InternalThread, path: PooledDataPath, config: FrontendConfig): Promise<void> {
    await slot.ready;
    const reply = await this.request(slot, path.id, { type: 'connect', vif: path.id, identity: path.identity, config }, 'connected', 'connect-failed');
    if (reply.type === 'connect-failed') {
      if (reply.code === 'NETBACK_VIF_FAULT') throw new VifFaultError('connect', thrownOnWorker('Error', reply.message.split('\n')[0]!, reply.message));
      throw new PoolError(reply.code, reply.message);
    }
    if (reply.type === 'connected') path.published = { stats: new Float64Array(reply.stats), names: reply.names, queues: reply.queues };
  }

  private readonly waiting = new Map<string, { resolve: (m: FromWorker) => void; reject: (e: Error) => void; slot: InternalThread }>();

  private request(slot: InternalThread, vif: number, message: ToWorker, ...answers: FromWorker['type'][]): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      for (const answer of answers) this.waiting.set(`${vif}:${answer}`, { resolve, reject, slot });
      slot.worker.postMessage(message);
    }).finally(() => {
      for (const answer of answers) this.waiting.delete(`${vif}:${answer}`);
    }) as Promise<FromWorker>;
  }

  private spawn(index: number, restarts: number): InternalThread {
    const fds = new Int32Array(new SharedArrayBuffer(4 * FD_TABLE_SLOTS)).fill(-1);
    const init: WorkerInit = {
      kernels: this.options.kernels, index, engine: this.options.engine, fds: fds.buffer as SharedArrayBuffer,
      devices: this.options.devices ?? poolModuleUrl('worker-devices').href, devicesOptions: this.options.devicesOptions,
    };
    const worker = new Worker(poolModuleUrl('worker'), { workerData: init, name: `netback-worker-${index}` });
    let ready!: () => void;
    let failed!: (error: Error) => void;
    const slot: InternalThread = {
      index, worker, fds, queues: 0, vifs: new Set(), restarts, exited: false,
      ready: new Promise<void>((resolve, reject) => { ready = resolve; failed = reject; }),
    };
    worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          ready();
          break;
        case 'log':
          this.log(message.level, message.msg, message.fields);
          break;
        case 'disabled':
          for (const path of slot.vifs) if (path.id === message.vif) path.disabled = { code: message.code };
          break;
        case 'faulted':
          // the worker logged it with its stack and serves on; the vif's control plane closes it
          for (const path of slot.vifs) {
            if (path.id !== message.vif) continue;
            const fault = new VifFaultError(message.where, thrownOnWorker(message.name, message.message, message.stack));
            path.disabled = { code: fault.code };
            path.onFault?.(fault);
          }
          break;
        default: {
          const waiter = this.waiting.get(`${message.vif}:${message.type}`);
          waiter?.resolve(message);
        }
      }
    });
    worker.on('error', (error) => {
      this.log('error', `pool worker ${index} failed: ${error.stack ?? error.message}`, { worker: index, event: 'worker-error' });
    });
    worker.on('exit', (code) => {
      slot.exited = true;
      failed(new PoolError('NETBACK_POOL_WORKER_EXITED', `worker ${index} exited (${code}) before it was ready`));
      this.closeFds(slot);
      if (this.closing) return;
      this.replace(slot, code);
    });
    return slot;
  }

  /** A worker's fds belong to the process: a thread that ends leaves them open until closed here. */
  private closeFds(slot: InternalThread): void {
    const native = loadNative();
    for (let i = 0; i < FD_TABLE_SLOTS; i++) {
      const fd = Atomics.exchange(slot.fds, i, -1);
      if (fd < 0) continue;
      try {
        native.closeFd(fd);
      } catch {
        // already closed: nothing held
      }
    }
  }

  private replace(dead: InternalThread, code: number): void {
    const vifs = [...dead.vifs];
    this.log('error', `pool worker ${dead.index} died (exit ${code}): replacing it; its ${vifs.length} vif(s) resume where their rings stand`, {
      worker: dead.index, event: 'worker-died', vifs: vifs.map((v) => v.identity.name),
    });
    // whoever waited on the dead worker: a disconnect is done (its fds are closed), a connect is re-sent below
    for (const [key, waiter] of this.waiting) {
      if (waiter.slot !== dead) continue;
      if (key.endsWith(':disconnected')) waiter.resolve({ type: 'disconnected', vif: Number(key.split(':')[0]) });
    }
    const slot = this.spawn(dead.index, dead.restarts + 1);
    this.slots[dead.index] = slot;
    for (const path of vifs) {
      const config = path.config;
      if (config === undefined) continue;
      slot.vifs.add(path);
      slot.queues += config.queues.length;
      path.thread = slot;
      path.published = undefined;
      const pending = [...this.waiting].find(([key, w]) => w.slot === dead && key === `${path.id}:connected`)?.[1];
      this.connectOn(slot, path, config).then(
        () => pending?.resolve({ type: 'connected', vif: path.id, stats: path.published!.stats.buffer as SharedArrayBuffer, names: path.published!.names, queues: path.published!.queues }),
        (error: Error) => {
          this.log('error', `${path.identity.name}: could not resume on worker ${slot.index}: ${error.message}`, { vif: path.identity.name, 'err.code': (error as NetbackError).code });
          pending?.reject(error);
        },
      );
    }
  }
}

/** What a worker's vif threw, as an Error here: its name, message and the worker's stack. */
function thrownOnWorker(name: string, message: string, stack: string): Error {
  const error = new Error(message);
  error.name = name;
  error.stack = stack;
  return error;
}

/** A vif's data path as the main thread holds it: a handle on the worker that runs it. */
export class PooledDataPath implements VifDataPath, PublishedDataPath {
  /** @internal the worker it is placed on, while connected */
  thread: PoolThread | undefined;
  /** @internal what its worker publishes */
  published: { stats: Float64Array; names: string[]; queues: string[] } | undefined;
  /** The fatal rule that disabled the vif, as its worker reported it. */
  disabled: { code: string } | undefined;
  /** The configuration it was connected with (a replacement worker connects it again). */
  config: FrontendConfig | undefined;
  /** Set by the vif (VifDataPath.onFault): its worker reported a fault. */
  onFault?: (fault: VifFaultError) => void;

  constructor(private readonly pool: QueuePool, readonly id: number, readonly identity: PoolVifIdentity) {}

  async connect(config: FrontendConfig): Promise<void> {
    this.disabled = undefined;
    this.config = config;
    try {
      await this.pool.place(this, config);
    } catch (error) {
      this.config = undefined;
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    const config = this.config;
    this.config = undefined;
    if (config !== undefined) await this.pool.remove(this, config);
  }

  setRate(rate: RateLimit): void {
    if (this.config !== undefined) this.config = { ...this.config, rate };
    this.pool.send(this, { type: 'rate', vif: this.id, rate });
  }

  setMulticastControl(enabled: boolean): void {
    if (this.config !== undefined) this.config = { ...this.config, multicastControl: enabled };
    this.pool.send(this, { type: 'multicast', vif: this.id, enabled });
  }

  setXdpHeadroom(headroom: number): void {
    if (this.config !== undefined) this.config = { ...this.config, xdpHeadroom: headroom };
    this.pool.send(this, { type: 'xdp-headroom', vif: this.id, headroom });
  }

  get carrier(): boolean {
    return this.published !== undefined && this.published.stats[VIF_CARRIER] === 1;
  }

  /** Per queue, its counters by name, read from what the worker published. */
  queueCounters(): Record<string, number>[] {
    const published = this.published;
    if (published === undefined) return [];
    const { stats, names, queues } = published;
    return queues.map((_, q) => {
      const base = queueBase(q, names.length) + QUEUE_FIXED;
      const out: Record<string, number> = {};
      names.forEach((name, i) => { out[name] = stats[base + i]!; });
      return out;
    });
  }

  counters(): Record<string, number> {
    const stats = this.published?.stats;
    const total: Record<string, number> = {
      rxMulticastDrops: stats?.[VIF_RX_MULTICAST_DROPS] ?? 0, rxCarrierDrops: stats?.[VIF_RX_CARRIER_DROPS] ?? 0, carrierChanges: stats?.[VIF_CARRIER_CHANGES] ?? 0,
      hostErrors: stats?.[VIF_HOST_ERRORS] ?? 0, faults: stats?.[VIF_FAULTS] ?? 0,
    };
    for (const queue of this.queueCounters()) {
      for (const [name, value] of Object.entries(queue)) total[name] = (total[name] ?? 0) + value;
    }
    return total;
  }

  queueSnapshots(): QueueSnapshot[] {
    const published = this.published;
    if (published === undefined) return [];
    const { stats, names, queues } = published;
    const counters = this.queueCounters();
    return queues.map((name, q) => {
      const base = queueBase(q, names.length);
      const ring = (at: number): RingIndices => {
        const out = {} as Record<(typeof RING_INDEX_FIELDS)[number], number>;
        RING_INDEX_FIELDS.forEach((field, i) => { out[field] = stats[base + at + i]!; });
        return out;
      };
      return {
        name, tx: { ...ring(Q_TX), batch: [] }, rx: { ...ring(Q_RX), batch: [] }, txCopies: [], txCopyCount: stats[base + Q_LAST_TX_OPS]!,
        backlog: stats[base + Q_BACKLOG]!, stalled: stats[base + Q_STALLED] === 1, counters: counters[q]!,
      };
    });
  }
}
