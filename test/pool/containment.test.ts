// A fault in one vif stays in that vif on the worker pool (the daemon's default): both vifs run on
// the same worker thread over real TAPs, the host stack sends to both guests and both guests send,
// and a fault is injected at one callback of the first vif through the simulated devices' test-only
// seam (src/pool/sim-devices.ts SimFaultSpec): the TAP readable (receive), an event, a timer (the
// TX credit window), the RX wake, and a grant copy (an error and a trap). Each time the worker
// logs the fault once with its stack, counts it, turns the carrier off and tells the main thread,
// whose data path hands a VifFaultError to the vif (which closes it through xenbus: see
// test/engine/containment.test.ts for that half); the worker does not die, and the other vif on
// the same thread keeps moving frames. The last test wires the pool as the daemon does (xenstore,
// the watcher, TAPs detached for the workers) and sees the fault close the vif through xenbus.

import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, test } from 'vitest';
import { FAULT_MARKER, VifFaultError } from '../../src/backend/containment.js';
import { BackendWatcher } from '../../src/backend/watcher.js';
import { poolModuleUrl, QueuePool, type PooledDataPath } from '../../src/pool/pool.js';
import { guestConfig, type SimFaultSpec, type SimGuestSpec } from '../../src/pool/sim-devices.js';
import { TapPort, tapInterfaces } from '../../src/tap/port.js';
import { compileKernels } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { SimFrontendXenbus } from '../../src/xen/sim/frontend-xenbus.js';
import { SimToolstack } from '../../src/xen/sim/toolstack.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';
import { announceSkip, ip, uniqueName } from '../tap/env.js';
import { waitUntil } from '../support/wait.js';

const skip = announceSkip('test/pool/containment.test.ts (real TAPs + worker threads)');

const devices = poolModuleUrl('sim-devices').href;
const GUESTS: SimGuestSpec[] = [
  { domid: 1, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x03, 0x01] },
  { domid: 2, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x03, 0x02] },
];

const until = (what: string, predicate: () => boolean, ms = 20_000) => waitUntil(what, predicate, ms);

interface Case {
  where: SimFaultSpec['where'];
  kind: SimFaultSpec['kind'];
  /** What the main thread's VifFaultError says the callback was. */
  reported: string;
  thrown: RegExp;
}

const CASES: Record<string, Case> = {
  contain_pool_tap_untyped_throw_disables_only_that_vif: { where: 'tap', kind: 'error', reported: 'tap', thrown: /TypeError: injected in the tap callback/ },
  contain_pool_event_untyped_throw_disables_only_that_vif: { where: 'event', kind: 'error', reported: 'event', thrown: /TypeError: injected in the event callback/ },
  contain_pool_event_trap_disables_only_that_vif: { where: 'event', kind: 'trap', reported: 'event', thrown: /RuntimeError: injected in the event callback/ },
  contain_pool_timer_untyped_throw_disables_only_that_vif: { where: 'timer', kind: 'error', reported: 'timer', thrown: /TypeError: injected in the timer callback/ },
  contain_pool_wake_untyped_throw_disables_only_that_vif: { where: 'wake', kind: 'error', reported: 'wake', thrown: /TypeError: injected in the wake callback/ },
  contain_pool_grantcopy_trap_disables_only_that_vif: { where: 'grant-copy', kind: 'trap', reported: '(event|timer|wake|tap)', thrown: /RuntimeError: injected in the grant-copy callback/ },
};

describe.skipIf(skip)('containment on the worker pool', () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  test('contain_pool_fault_closes_the_vif_through_xenbus', async () => {
    // the daemon's wiring over the simulated xenstore: the watcher's vifs on pooled data paths,
    // TAPs created by the vifs and detached for the workers; the guests' netfronts on the worker
    const steps: Array<() => Promise<unknown> | unknown> = [];
    try {
      const kernels = await compileKernels(await readKernels('release'));
      const names = GUESTS.map(() => uniqueName('wnbx'));
      const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
      const log = (level: string, msg: string, fields: Record<string, unknown> = {}) => { logs.push({ level, msg, fields }); };
      const pool = await QueuePool.start({
        workers: 1, kernels, engine: { fatalSlots: 20, rxStallTimeoutMs: 60_000, rxDrainTimeoutMs: 10_000 }, devices, log,
        devicesOptions: { guests: GUESTS, transmitBytes: 200, fault: { vif: names[0]!, domid: GUESTS[0]!.domid, where: 'event', after: 3, kind: 'error' } },
      });
      steps.push(() => pool.close());
      const xs = new SimXenStore();
      const toolstack = new SimToolstack({ xs, interfaceExists: () => true });
      const paths = new Map<string, PooledDataPath>();
      const watcher = new BackendWatcher({
        xs, backendDomid: 0, features: { maxQueues: 1, splitEventChannels: false }, log,
        interfaces: tapInterfaces({ detached: true, up: true }),
        dataPath: (vif) => {
          const path = pool.dataPath(vif);
          paths.set(vif.name, path);
          return path;
        },
      });
      await watcher.start();
      steps.push(() => watcher.stop());
      for (const [i, guest] of GUESTS.entries()) {
        const queue = guestConfig(GUESTS, guest.domid).queues[0]!;
        const frontend = new SimFrontendXenbus({
          xs, domid: guest.domid, devid: 0, log,
          rings: { setupQueue: () => ({ txRingRef: queue.txRingRef, rxRingRef: queue.rxRingRef, txEventChannel: queue.txEventChannel, rxEventChannel: queue.rxEventChannel }), releaseQueue: () => {} },
        });
        steps.push(() => frontend.stop());
        await toolstack.attach({ domid: guest.domid, devid: 0, backendDomid: 0, vifname: names[i]! });
        await frontend.start();
      }
      const backend = (domid: number) => `/local/domain/0/backend/vif/${domid}/0`;
      await until('vif 2 Connected', () => paths.get(names[1]!)?.carrier === true);
      let state1: string | undefined;
      await until('vif 1 Closed after its fault', () => {
        void xs.read(`${backend(1)}/state`).then((value) => { state1 = value; });
        return state1 === '6';
      });
      expect(await xs.read('/local/domain/0/error/backend/vif/1/0/error')).toMatch(/^5 internal fault in the event callback: TypeError: injected in the event callback/);
      expect(await xs.read(`${backend(1)}/${FAULT_MARKER}`)).toBe('event NETBACK_VIF_FAULT');
      expect(watcher.vifs.has('1/0')).toBe(false);
      expect(paths.get(names[0]!)!.thread).toBeUndefined(); // disconnected from its worker
      expect(logs.filter((line) => line.fields.event === 'vif-fault')).toHaveLength(1);
      // the other vif on the same worker carries on
      expect(await xs.read(`${backend(2)}/state`)).toBe('4');
      const sent = () => paths.get(names[1]!)!.counters().tx_ring_packets ?? 0;
      const before = sent();
      await until('vif 2 moving frames', () => sent() > before + 50);
      expect(pool.threads[0]!.restarts).toBe(0);
    } finally {
      for (const step of steps.reverse()) await step();
    }
  }, 60_000);

  for (const [name, c] of Object.entries(CASES)) {
    test(name, async () => {
      const steps: Array<() => Promise<unknown> | unknown> = [];
      try {
        const kernels = await compileKernels(await readKernels('release'));
        const names = GUESTS.map(() => uniqueName('wnbc'));
        const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
        const pool = await QueuePool.start({
          workers: 1, kernels, engine: { fatalSlots: 20, rxStallTimeoutMs: 60_000, rxDrainTimeoutMs: 10_000 },
          devices, log: (level, msg, fields = {}) => { logs.push({ level, msg, fields }); },
          // each guest transmits all the time; the fault comes after the vif has served a while
          devicesOptions: { guests: GUESTS, transmitBytes: 200, fault: { vif: names[0]!, domid: GUESTS[0]!.domid, where: c.where, after: 3, kind: c.kind } },
        });
        steps.push(() => pool.close());
        const worker = pool.threads[0]!.worker;
        const threadId = worker.threadId;

        const net = 64 + Math.floor(Math.random() * 150);
        const vifs: Array<{ path: PooledDataPath; guestIp: string }> = [];
        const faults: VifFaultError[] = [];
        for (const [i, guest] of GUESTS.entries()) {
          const tap = names[i]!;
          const port = TapPort.open(tap, { mtu: 1500 });
          steps.push(() => port.close());
          port.setQueueAttached(false);
          const hostIp = `198.19.${net}.${i * 4 + 1}`;
          const guestIp = `198.19.${net}.${i * 4 + 2}`;
          await ip('addr', 'add', `${hostIp}/30`, 'dev', tap);
          await ip('link', 'set', 'dev', tap, 'up');
          await ip('neigh', 'replace', guestIp, 'lladdr', guest.mac.map((b) => b.toString(16).padStart(2, '0')).join(':'), 'dev', tap, 'nud', 'permanent');
          const path = pool.dataPath({
            backendDomid: 0, frontendDomid: guest.domid, devid: 0, handle: 0, name: tap, iface: port,
            backendPath: `/local/domain/0/backend/vif/${guest.domid}/0`, frontendPath: `/local/domain/${guest.domid}/device/vif/0`,
          });
          path.onFault = (fault) => faults.push(fault);
          // for the timer case the first guest's TX is rate limited (20 kB per 10 ms), so its credit
          // timer fires all the time. Only then: a limited TX ring that never empties is served from
          // the timer, the frontend is never asked to notify again, and the event fault would wait
          // for an event that need not come (it did not, about one run in two under load)
          const config = guestConfig(GUESTS, guest.domid);
          const limited = i === 0 && c.where === 'timer';
          await path.connect(limited ? { ...config, rate: { unlimited: false, bytes: 20_000, usecs: 10_000 } } : config);
          steps.push(() => path.disconnect());
          vifs.push({ path, guestIp });
        }
        const [faulty, neighbour] = vifs as [typeof vifs[0], typeof vifs[0]];
        expect(faulty.path.thread).toBe(neighbour.path.thread); // one worker: the neighbour shares the faulting thread

        // the host stack sends to both guests, all the time
        const socket = createSocket('udp4');
        steps.push(() => socket.close());
        const payload = Buffer.alloc(64);
        const flood = setInterval(() => {
          for (const vif of vifs) for (let i = 0; i < 8; i++) socket.send(payload, 9, vif.guestIp);
        }, 2);
        steps.push(() => clearInterval(flood));

        await until('the fault reported to the main thread', () => faults.length > 0);
        const fault = faults[0]!;
        expect(fault).toBeInstanceOf(VifFaultError);
        expect(fault.code).toBe('NETBACK_VIF_FAULT');
        expect(fault.where).toMatch(new RegExp(`^${c.reported}$`));
        expect(fault.message).toMatch(c.thrown);
        expect(fault.causeStack).toMatch(/\n\s+at /); // the worker's stack travelled
        expect(faulty.path.disabled?.code).toBe('NETBACK_VIF_FAULT');
        // logged once, with the stack, by the worker
        const lines = logs.filter((line) => line.fields.event === 'vif-fault');
        expect(lines).toHaveLength(1);
        expect(lines[0]!.fields.vif).toBe(names[0]);
        expect(lines[0]!.msg).toMatch(c.thrown);
        expect(lines[0]!.msg).toMatch(/\n\s+at /);
        // counted and carrier off, as the worker publishes them
        await until('the fault published', () => faulty.path.counters().faults === 1 && !faulty.path.carrier);

        // the neighbour on the same thread carries on; the thread never died
        const before = neighbour.path.counters();
        await until('the neighbour moving frames both ways', () => {
          const now = neighbour.path.counters();
          return (now.rxFrames ?? 0) > (before.rxFrames ?? 0) + 50 && (now.txFrames ?? 0) > (before.txFrames ?? 0) + 50;
        });
        expect(neighbour.path.disabled).toBeUndefined();
        expect(neighbour.path.carrier).toBe(true);
        expect(pool.threads[0]!.restarts).toBe(0);
        expect(pool.threads[0]!.worker).toBe(worker);
        expect(worker.threadId).toBe(threadId);
        expect(logs.filter((line) => line.fields.event === 'worker-died' || line.fields.event === 'worker-error')).toEqual([]);
        expect(faults).toHaveLength(1);
      } finally {
        for (const step of steps.reverse()) await step();
      }
    }, 60_000);
  }
});
