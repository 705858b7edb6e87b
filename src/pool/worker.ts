// The body of one pool worker thread (see pool.ts): the vifs the main thread places here run
// whole on this thread, each an EngineDataPath with its Wasm instances, over this thread's own
// grant and event-channel fds and TAP queues it attaches itself. Frames enter and leave here
// (TAP queue fds, grant copies into this thread's Wasm memory); only control messages and the
// published counters cross to the main thread. Node only.

import { parentPort, workerData } from 'node:worker_threads';
import { EngineDataPath } from '../backend/datapath.js';
import type { VifIdentity } from '../backend/vif.js';
import { coarseClock } from '../cli/coarse-clock.js';
import { NetbackError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadNative } from '../native/addon.js';
import { ringIndices } from '../viz/snapshot.js';
import {
  FD_TABLE_SLOTS, Q_BACKLOG, Q_LAST_TX_OPS, Q_LAST_TX_SLOTS, Q_RX, Q_STALLED, Q_TX, queueBase, RING_INDEX_FIELDS, VIF_CARRIER,
  VIF_CARRIER_CHANGES, VIF_RX_CARRIER_DROPS, VIF_RX_MULTICAST_DROPS, vifStatsLength,
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
  for (const [id, vif] of vifs) publish(id, vif);
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
  }, full);
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
  await vif.path.disconnect();
  await closePort(vif.port);
  recordFds();
  if (vifs.size === 0 && publisher !== undefined) {
    clearInterval(publisher);
    publisher = undefined;
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
          const code = error instanceof NetbackError ? error.code : 'NETBACK_DATAPATH_CONNECT_FAILED';
          post({ type: 'connect-failed', vif: message.vif, code, message: (error as Error).message });
        }
        break;
      case 'disconnect':
        await disconnect(message.vif);
        post({ type: 'disconnected', vif: message.vif });
        break;
      case 'rate':
        vifs.get(message.vif)?.path.setRate(message.rate);
        break;
      case 'multicast':
        vifs.get(message.vif)?.path.setMulticastControl(message.enabled);
        break;
      case 'xdp-headroom':
        vifs.get(message.vif)?.path.setXdpHeadroom(message.headroom);
        break;
    }
  });
});
post({ type: 'ready' });
