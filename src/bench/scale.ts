// The scale group: the queue pool (src/pool/) serving two vifs, on one worker and then on two.
// Each vif has a real TAP (up, no address: the host stack takes every frame off it and drops it,
// a real kernel path per frame) and a simulated guest on its worker's thread that transmits
// 64-byte UDP frames as fast as its TX ring takes them (src/pool/sim-devices.ts). Measured: the
// frames both vifs' queues moved (their published tx counters) over a fixed window, the
// aggregate of workers=2 against workers=1 in the same run, and each worker's event-loop
// utilization (the share of the window its thread was busy: backend and its guests together).

import { availableParallelism } from 'node:os';
import { poolModuleUrl, QueuePool, type PooledDataPath } from '../pool/pool.js';
import { guestConfig, type SimDevicesOptions } from '../pool/sim-devices.js';
import { TapPort } from '../tap/port.js';
import { tapUnavailableReason } from '../tap/tap.js';
import { compileKernels } from '../wasm/module.js';
import { readKernels } from '../wasm/node-source.js';
import { row, type BenchRow } from './harness.js';

export const SCALE_GROUP = 'scale';
const KERNEL = 'guest_tx_udp_64B_2vifs';

interface Run {
  framesPerSecond: number;
  perVif: number[];
  utilization: number[];
  /** The process's resident set after the run, vifs still connected (bytes). */
  rss: number;
}

interface Setup {
  workers: number;
  vifs: number;
  queues: number;
  frameBytes: number;
}

async function measure(setup: Setup, seconds: number, kernels: WebAssembly.Module): Promise<Run> {
  const options: SimDevicesOptions = {
    guests: Array.from({ length: setup.vifs }, (_, i) => ({ domid: i + 1, queues: setup.queues, mac: [0x02, 0, 0x5e, 0x11, 0, i + 1] })),
    transmitBytes: setup.frameBytes,
  };
  const workers = setup.workers;
  const pool = await QueuePool.start({
    workers, kernels, engine: { fatalSlots: 20, rxStallTimeoutMs: 60_000, rxDrainTimeoutMs: 10_000 },
    devices: poolModuleUrl('sim-devices').href, devicesOptions: options,
  });
  const ports: TapPort[] = [];
  const paths: PooledDataPath[] = [];
  try {
    for (const guest of options.guests) {
      const name = `wnbs${process.pid % 100000}-${guest.domid}`;
      const port = TapPort.open(name, { mtu: 1500, up: true });
      ports.push(port);
      port.setQueueAttached(false);
      const path = pool.dataPath({
        backendDomid: 0, frontendDomid: guest.domid, devid: 0, handle: 0, name, iface: port,
        backendPath: `/local/domain/0/backend/vif/${guest.domid}/0`, frontendPath: `/local/domain/${guest.domid}/device/vif/0`,
      });
      await path.connect(guestConfig(options.guests, guest.domid));
      paths.push(path);
    }
    const frames = (): number[] => paths.map((path) => path.counters().txFrames ?? 0);
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, seconds * 300))); // warm up
    const before = frames();
    const elu = pool.threads.map((t) => t.worker.performance.eventLoopUtilization());
    const started = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const after = frames();
    const utilization = pool.threads.map((t, i) => t.worker.performance.eventLoopUtilization(elu[i]).utilization);
    const perVif = after.map((n, i) => (n - before[i]!) / elapsed);
    return { framesPerSecond: perVif.reduce((a, b) => a + b, 0), perVif, utilization, rss: process.memoryUsage.rss() };
  } finally {
    for (const path of paths) await path.disconnect();
    await pool.close();
    for (const port of ports) await port.close();
  }
}

/** The scale rows (workers=1, workers=2), or one row saying why the group was skipped. */
export async function scaleBenches(seconds: number, warn: (line: string) => void): Promise<BenchRow[]> {
  const reason = tapUnavailableReason();
  if (reason !== undefined) {
    warn(`wasm-netback bench: ${SCALE_GROUP} skipped: ${reason}`);
    return [{ group: SCALE_GROUP, kernel: 'skipped', impl: 'workers=1', size: 0, GBps: 0, Gbitps: 0, Mops: 0, ns_per_op: 0, note: `skipped: ${reason}` }];
  }
  const kernels = await compileKernels(await readKernels());
  const rows: BenchRow[] = [];
  let single: number | undefined;
  for (const workers of [1, 2]) {
    const run = await measure({ workers, vifs: 2, queues: 1, frameBytes: 64 }, seconds, kernels);
    single ??= run.framesPerSecond;
    const busy = run.utilization.reduce((a, b) => a + b, 0);
    rows.push(row(SCALE_GROUP, KERNEL, `workers=${workers}`, 64, run.framesPerSecond, 64,
      `2 vifs, 1 queue each, frames both moved guest -> TAP over ${seconds} s: per vif ${run.perVif.map((r) => (r / 1e6).toFixed(3)).join(' / ')} Mpps; `
      + `worker utilization ${run.utilization.map((u) => u.toFixed(2)).join(' / ')} (guests included); per busy worker-second ${(run.framesPerSecond / Math.max(busy, 1e-9) / 1e6).toFixed(3)} Mpps; `
      + `${(run.framesPerSecond / single).toFixed(2)}x workers=1; ${availableParallelism()} CPUs available`));
  }
  // memory: 8 vifs of 2 queues on 2 workers after a bulk run (16 Wasm instances, 16 TAP queues)
  const bulk = await measure({ workers: 2, vifs: 8, queues: 2, frameBytes: 1514 }, seconds, kernels);
  rows.push(row(SCALE_GROUP, 'guest_tx_udp_1514B_8vifs_2q', 'workers=2', 1514, bulk.framesPerSecond, 1514,
    `8 vifs x 2 queues on 2 workers, ${seconds} s bulk guest -> TAP; RSS after the run ${(bulk.rss / 2 ** 20).toFixed(0)} MiB (the whole process: main thread, `
    + `workers, their guests); worker utilization ${bulk.utilization.map((u) => u.toFixed(2)).join(' / ')}`));
  return rows;
}
