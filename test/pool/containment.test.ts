// A fault in one vif stays in that vif on the worker pool (the daemon's default): both vifs run on
// the same worker thread over real TAPs, the host stack sends to both guests and both guests send,
// and a fault is injected at one callback of the first vif through the simulated devices' test-only
// seam (src/pool/sim-devices.ts SimFaultSpec): the TAP readable (receive), an event, a timer (the
// TX credit window), the RX wake, and a grant copy (an error and a trap). Each time the worker
// logs the fault once with its stack, counts it, turns the carrier off and tells the main thread,
// whose data path hands a VifFaultError to the vif (which closes it through xenbus: see
// test/engine/containment.test.ts for that half); the worker does not die, and the other vif on
// the same thread keeps moving frames.

import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, test } from 'vitest';
import { VifFaultError } from '../../src/backend/containment.js';
import { poolModuleUrl, QueuePool, type PooledDataPath } from '../../src/pool/pool.js';
import { guestConfig, type SimFaultSpec, type SimGuestSpec } from '../../src/pool/sim-devices.js';
import { TapPort } from '../../src/tap/port.js';
import { compileKernels } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { announceSkip, ip, uniqueName } from '../tap/env.js';

const skip = announceSkip('test/pool/containment.test.ts (real TAPs + worker threads)');

const devices = poolModuleUrl('sim-devices').href;
const GUESTS: SimGuestSpec[] = [
  { domid: 1, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x03, 0x01] },
  { domid: 2, queues: 1, mac: [0x02, 0, 0x5e, 0x10, 0x03, 0x02] },
];

async function until(what: string, predicate: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
          // the first guest's TX is rate limited (20 kB per 10 ms): its credit timer fires all the time
          const config = guestConfig(GUESTS, guest.domid);
          await path.connect(i === 0 ? { ...config, rate: { unlimited: false, bytes: 20_000, usecs: 10_000 } } : config);
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
