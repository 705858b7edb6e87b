// The body of one pool worker thread (see pool.ts): the vifs the main thread places here run
// whole on this thread, each an EngineDataPath with its Wasm instances, over this thread's own
// grant and event-channel fds and TAP queues it attaches itself. Frames enter and leave here
// (TAP queue fds, grant copies into this thread's Wasm memory); only control messages and the
// published counters cross to the main thread. A vif's fault stays the vif's (backend/containment.ts):
// its data path is disabled and the main thread told ('faulted'), and this thread serves on; only a
// bug outside every vif ends it (the pool then replaces it). Node only.

import { parentPort, workerData } from 'node:worker_threads';
import { VifFaultError } from '../backend/containment.js';
import { EngineDataPath } from '../backend/datapath.js';
import type { VifIdentity } from '../backend/vif.js';
import { coarseClock } from '../cli/coarse-clock.js';
import { NetbackError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadNative } from '../native/addon.js';
import { ringIndices } from '../viz/snapshot.js';
import {
  FD_TABLE_SLOTS, Q_BACKLOG, Q_LAST_TX_OPS, Q_LAST_TX_SLOTS, Q_RX, Q_STALLED, Q_TX, queueBase, RING_INDEX_FIELDS, VIF_CARRIER,
  VIF_CARRIER_CHANGES, VIF_FAULTS, VIF_HOST_ERRORS, VIF_RX_CARRIER_DROPS, VIF_RX_MULTICAST_DROPS, vifStatsLength,
  type FromWorker, type ToWorker, type WorkerInit,
} from './protocol.js';
import type { WorkerDevices } from './worker-devices.js';

/** How often the counters and ring indices are published for the main thread to read. */
const PUBLISH_MS = 10;

interface ServedVif {
  path: EngineDataPath;
  port: Awaited<ReturnType<WorkerDevices['port']>>;
  stats: Float64Array;
  names: string[];
  disabledSent: boolean;
}

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);
const log: Logger = (level, msg, fields = {}) => post({ type: 'log', level, msg, fields: { worker: init.index, ...fields } });
const fdTable = new Int32Array(init.fds);
const vifs = new Map<number, ServedVif>();
const clock = coarseClock(loadNative());
let devices: WorkerDevices | undefined;
let publisher: NodeJS.Timeout | undefined;

/** Lists the fds held now; called after every open and before every close. */
function recordFds(): void {
  const fds = [...(devices?.fds() ?? []), ...[...vifs.values()].flatMap((vif) => vif.port.fds)];
  for (let i = 0; i < FD_TABLE_SLOTS; i++) Atomics.store(fdTable, i, i < fds.length ? fds[i]! : -1);
}

function publish(id: number, vif: ServedVif): void {
  const { path, stats, names } = vif;
  stats[VIF_CARRIER] = path.carrier ? 1 : 0;
  stats[VIF_RX_MULTICAST_DROPS] = path.stats.rxMulticastDrops;
  stats[VIF_RX_CARRIER_DROPS] = path.stats.rxCarrierDrops;
  stats[VIF_CARRIER_CHANGES] = path.stats.carrierChanges;
  stats[VIF_HOST_ERRORS] = path.stats.hostErrors;
  stats[VIF_FAULTS] = path.stats.faults;
  path.queues.forEach((queue, q) => {
    const base = queueBase(q, names.length);
    stats[base + Q_BACKLOG] = queue.backlogLength;
    stats[base + Q_STALLED] = queue.stalled ? 1 : 0;
    const { tx, rx } = ringIndices(queue);
    RING_INDEX_FIELDS.forEach((field, i) => {
      stats[base + Q_TX + i] = tx[field];
      stats[base + Q_RX + i] = rx[field];
    });
    stats[base + Q_LAST_TX_SLOTS] = queue.lastTxBatch.slots;
    stats[base + Q_LAST_TX_OPS] = queue.lastTxBatch.ops;
    const counters = queue.counters();
    names.forEach((name, i) => { stats[base + 16 + i] = counters[name] ?? 0; });
  });
  if (path.disabled !== undefined && !vif.disabledSent) {
    vif.disabledSent = true;
    post({ type: 'disabled', vif: id, code: path.disabled.code });
  }
}

function publishAll(): void {
  for (const [id, vif] of vifs) {
    try {
      publish(id, vif);
    } catch (error) {
      vif.path.caught('control', error);
    }
  }
}

function reportFault(id: number, fault: VifFaultError): void {
  const thrown = fault.cause instanceof Error ? fault.cause : new Error(String(fault.cause));
  post({ type: 'faulted', vif: id, where: fault.where, name: thrown.name, message: thrown.message, stack: thrown.stack ?? '' });
}

async function connect(message: Extract<ToWorker, { type: 'connect' }>): Promise<void> {
  const { vif: id, identity, config } = message;
  devices ??= ((await import(init.devices)) as { openDevices(log: Logger, options: unknown): WorkerDevices }).openDevices(log, init.devicesOptions);
  recordFds();
  const tapPort = devices.port(identity.name, config.queues.length);
  recordFds();
  const vifLog: Logger = (level, msg, fields) => log(level, msg, { domid: identity.frontendDomid, devid: identity.devid, vif: identity.name, ...fields });
  const full: VifIdentity = { ...identity, iface: tapPort };
  const path = new EngineDataPath({
    kernels: init.kernels, grants: devices.grants, events: devices.events, clock, busyClock: clock.now, log: vifLog, ...init.engine,
    faults: devices.faults,
  }, full);
  // may fire inside connect (its first poll): the main thread knows the vif by id from the start
  path.onFault = (fault) => reportFault(id, fault);
  try {
    await path.connect(config);
  } catch (error) {
    await closePort(tapPort);
    throw error;
  }
  const names = Object.keys(path.queues[0]?.counters() ?? {});
  const stats = new Float64Array(new SharedArrayBuffer(8 * vifStatsLength(path.queues.length, names.length)));
  const served: ServedVif = { path, port: tapPort, stats, names, disabledSent: false };
  vifs.set(id, served);
  recordFds();
  publish(id, served);
  publisher ??= setInterval(publishAll, PUBLISH_MS);
  post({ type: 'connected', vif: id, stats: stats.buffer as SharedArrayBuffer, names, queues: path.queues.map((q) => q.name) });
}

async function closePort(tapPort: ServedVif['port']): Promise<void> {
  const open = new Set(tapPort.fds);
  // out of the table first: a thread dying between the two must not leave a closed (reusable) fd listed
  for (let i = 0; i < FD_TABLE_SLOTS; i++) if (open.has(Atomics.load(fdTable, i))) Atomics.store(fdTable, i, -1);
  await tapPort.close();
}

async function disconnect(id: number): Promise<void> {
  const vif = vifs.get(id);
  if (vif === undefined) return;
  vifs.delete(id);
  try {
    await vif.path.disconnect();
  } finally {
    await closePort(vif.port);
    recordFds();
    if (vifs.size === 0 && publisher !== undefined) {
      clearInterval(publisher);
      publisher = undefined;
    }
  }
}

/** A control message for one vif: what it throws is that vif's (a fault if untyped), never this thread's. */
function forVif(id: number, task: (path: EngineDataPath) => void): void {
  const vif = vifs.get(id);
  if (vif === undefined) return;
  try {
    task(vif.path);
  } catch (error) {
    vif.path.caught('control', error);
  }
}

// one control message at a time, in order: a disconnect never overtakes its connect
let chain = Promise.resolve();
port.on('message', (message: ToWorker) => {
  chain = chain.then(async () => {
    switch (message.type) {
      case 'connect':
        try {
          await connect(message);
        } catch (error) {
          // untyped: a fault of the vif (the main thread makes it a VifFaultError), not of this thread
          const code = error instanceof NetbackError ? error.code : 'NETBACK_VIF_FAULT';
          post({ type: 'connect-failed', vif: message.vif, code, message: error instanceof NetbackError ? error.message : (error as Error)?.stack ?? String(error) });
        }
        break;
      case 'disconnect':
        try {
          await disconnect(message.vif);
        } catch (error) {
          log('error', `disconnecting vif ${message.vif}: ${(error as Error)?.stack ?? String(error)}`, { 'err.code': error instanceof NetbackError ? error.code : 'NETBACK_INTERNAL' });
        }
        post({ type: 'disconnected', vif: message.vif });
        break;
      case 'rate':
        forVif(message.vif, (path) => path.setRate(message.rate));
        break;
      case 'multicast':
        forVif(message.vif, (path) => path.setMulticastControl(message.enabled));
        break;
      case 'xdp-headroom':
        forVif(message.vif, (path) => path.setXdpHeadroom(message.headroom));
        break;
    }
  });
});
post({ type: 'ready' });
