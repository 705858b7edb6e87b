// The queue pool with real worker threads and real TAPs: two vifs placed on two workers, each vif's
// frames from the host stack read by its worker from the TAP queue it attached (the opener's queue
// detached), its counters read on this thread from shared memory. A worker killed under traffic
// is replaced, the fds it held are closed, its vif connects again on the new thread, and the other
// worker's vif never stops. The guests are simulated netfronts on each worker's thread
// (src/pool/sim-devices.ts): real Xen devices run in `npm run test:xen`.

import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, test } from 'vitest';
import { poolModuleUrl, QueuePool, type PooledDataPath } from '../../src/pool/pool.js';
import { guestConfig, type SimGuestSpec } from '../../src/pool/sim-devices.js';
import { TapPort } from '../../src/tap/port.js';
import { attachedQueues } from '../../src/tap/tap.js';
import { compileKernels } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { announceSkip, ip, uniqueName } from '../tap/env.js';
import { waitUntil } from '../support/wait.js';

const skip = announceSkip('test/pool/pool.test.ts (real TAPs + worker threads)');

const devices = poolModuleUrl('sim-devices').href;
const GUESTS: SimGuestSpec[] = [
  { domid: 1, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x02, 0x01] },
  { domid: 2, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x02, 0x02] },
];

const until = (what: string, predicate: () => boolean, ms = 15_000) => waitUntil(what, predicate, ms);

describe.skipIf(skip)('queue pool', () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  test('pool_worker_killed_under_traffic_is_replaced', async () => {
    const kernels = await compileKernels(await readKernels('release'));
    const logs: string[] = [];
    const pool = await QueuePool.start({
      workers: 2, kernels, engine: { fatalSlots: 20, rxStallTimeoutMs: 60_000, rxDrainTimeoutMs: 10_000 },
      devices, devicesOptions: { guests: GUESTS }, log: (_level, msg) => { logs.push(msg); },
    });
    cleanup.push(() => pool.close());
    expect(pool.threads.map((t) => t.worker.threadId).every((id) => id > 0)).toBe(true);

    // one /30 of the benchmark range per vif, in this namespace: the TAP must stay where the
    // workers attach their queues by name (as the daemon's do)
    const net = 64 + Math.floor(Math.random() * 150);
    const vifs: Array<{ name: string; port: TapPort; path: PooledDataPath; guestIp: string }> = [];
    for (const [i, guest] of GUESTS.entries()) {
      const name = uniqueName('wnbq');
      const port = TapPort.open(name, { mtu: 1500 });
      cleanup.push(() => port.close());
      port.setQueueAttached(false);
      const hostIp = `198.19.${net}.${i * 4 + 1}`;
      const guestIp = `198.19.${net}.${i * 4 + 2}`;
      await ip('addr', 'add', `${hostIp}/30`, 'dev', name);
      await ip('link', 'set', 'dev', name, 'up');
      await ip('neigh', 'replace', guestIp, 'lladdr', guest.mac.map((b) => b.toString(16).padStart(2, '0')).join(':'), 'dev', name, 'nud', 'permanent');
      const path = pool.dataPath({
        backendDomid: 0, frontendDomid: guest.domid, devid: 0, handle: 0, name, iface: port,
        backendPath: `/local/domain/0/backend/vif/${guest.domid}/0`, frontendPath: `/local/domain/${guest.domid}/device/vif/0`,
      });
      await path.connect(guestConfig(GUESTS, guest.domid));
      cleanup.push(() => path.disconnect());
      vifs.push({ name, port, path, guestIp });
    }
    // the fewest queues first: one vif on each worker, each worker holding one queue of its vif's TAP
    expect(vifs.map((v) => v.path.thread?.index).sort()).toEqual([0, 1]);
    for (const vif of vifs) expect(attachedQueues(vif.name)).toBe(1);

    // the host stack sends to both guests, all the time
    const socket = createSocket('udp4');
    cleanup.push(() => socket.close());
    const payload = Buffer.alloc(64);
    const flood = setInterval(() => {
      for (const vif of vifs) for (let i = 0; i < 16; i++) socket.send(payload, 9, vif.guestIp);
    }, 2);
    cleanup.push(() => clearInterval(flood));
    const rxFrames = (vif: (typeof vifs)[number]): number => vif.path.counters().rxFrames ?? 0;
    await until('frames on both vifs', () => vifs.every((vif) => rxFrames(vif) > 100));
    expect(vifs.every((vif) => vif.path.carrier)).toBe(true);

    const [victim, survivor] = vifs[0]!.path.thread!.index === 0 ? [vifs[0]!, vifs[1]!] : [vifs[1]!, vifs[0]!];
    const slot = victim.path.thread!.index;
    const survivorBefore = rxFrames(survivor);
    await pool.threads[slot]!.worker.terminate(); // what a bug's uncaught exception does to the thread
    await until('the replacement worker', () => pool.threads[slot]!.restarts === 1);
    // the dead worker's TAP queue was closed (else the kernel would spread frames onto it for nobody)
    await until('the victim vif on its new worker', () => victim.path.published !== undefined && rxFrames(victim) > 100);
    expect(attachedQueues(victim.name)).toBe(1);
    expect(victim.path.thread).toBe(pool.threads[slot]);
    // the other worker never stopped
    expect(pool.threads[1 - slot]!.restarts).toBe(0);
    expect(rxFrames(survivor)).toBeGreaterThan(survivorBefore);
    expect(logs.some((msg) => msg.startsWith(`pool worker ${slot} died`))).toBe(true);

    clearInterval(flood);
    for (const vif of vifs) await vif.path.disconnect();
    // disconnected: the workers closed their TAP queues, the vifs publish nothing
    for (const vif of vifs) {
      expect(vif.path.counters().rxFrames ?? 0).toBe(0);
      expect(vif.path.carrier).toBe(false);
    }
    expect(pool.threads.every((t) => t.queues === 0 && t.vifs.size === 0)).toBe(true);
  }, 60_000);
});
