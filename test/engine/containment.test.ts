// A fault in one vif stays in that vif (src/backend/containment.ts), on the in-thread data path
// (the daemon's --workers 0, the simulation, the browser) over the simulated Xen host: a fault is
// injected at each host callback (an event, a timer, the RX wake, the TAP/bridge receive, connect's
// first poll, a grant copy, a xenstore watch step, the hotplug gate) through the simulated host's
// test-only seams (SimHostOptions.faults, SimGrantTable.faults, SimXenStore.faults). Each time the
// faulted vif is disabled (logged once with the stack, counted, carrier off), the frontend is told
// as for a fatal error (Closing, error node), the vif is marked faulted for later processes, and
// the other vifs keep moving traffic; nothing escapes to the event loop. A typed error leaves no
// port masked. The worker pool's half is test/pool/containment.test.ts.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_MARKER, VifFaultError, type HostCallback } from '../../src/backend/containment.js';
import type { EngineDataPath } from '../../src/backend/datapath.js';
import type { Logger } from '../../src/log.js';
import type { SimHost } from '../../src/sim/host.js';
import { SyscallError } from '../../src/native/addon.js';
import { SoftwareBridge, type BridgePort } from '../../src/sink/bridge.js';
import { XenStoreError } from '../../src/xen/errors.js';
import { CTRL_TYPE } from '../../src/xen/sim/ctrl-frontend.js';
import { createSocket } from 'node:dgram';
import { tapInterfaces } from '../../src/tap/port.js';
import { announceSkip, ip, uniqueName } from '../tap/env.js';
import { collect, MAC1, MAC2, udpFrame, useSimHosts } from './helpers.js';

const MAC3 = [0x00, 0x16, 0x3e, 0, 3, 0];
const BACKEND1 = '/local/domain/0/backend/vif/1/0';
const ERROR_NODE1 = '/local/domain/0/error/backend/vif/1/0/error';

interface LogLine { level: string; msg: string; fields: Record<string, unknown> }
const logs: LogLine[] = [];
const log: Logger = (level, msg, fields = {}) => { logs.push({ level, msg, fields }); };

/** The fault armed for the next callback of `where` in a data path of `vif` (default vif1.0; names vif1.0 or vif1.0-qN). */
let armed: { where: HostCallback; thrown: () => unknown; vif?: string; exact?: boolean } | undefined;
const faults = (where: HostCallback, name: string): void => {
  if (armed === undefined || armed.where !== where) return;
  const vif = armed.vif ?? 'vif1.0';
  if (armed.exact === true ? name !== vif : !name.startsWith(vif)) return; // exact: the vif's own callbacks (its control ring), not its queues'
  const thrown = armed.thrown();
  armed = undefined;
  throw thrown;
};

const uncaught: unknown[] = [];
const onUncaught = (error: unknown): void => { uncaught.push(error); };
beforeAll(() => { process.on('uncaughtException', onUncaught); process.on('unhandledRejection', onUncaught); });
afterAll(() => { process.off('uncaughtException', onUncaught); process.off('unhandledRejection', onUncaught); });
afterEach(() => { armed = undefined; logs.length = 0; uncaught.length = 0; });

const newHost = useSimHosts({ faults, log });
const newTapHost = useSimHosts({ faults, log, interfaces: tapInterfaces({ up: true }) });
const newRatedHost = useSimHosts({ faults, log });

/** A bridge whose port for vif1.0 refuses the next `failWrites` frames with a typed error, as a TAP write can. */
let failWrites = 0;
const flakyBridge = new SoftwareBridge();
const newFlakyHost = useSimHosts({
  faults, log,
  interfaces: {
    create: async (name, options) => {
      const port = await flakyBridge.interfaces().create(name, options) as BridgePort;
      if (name !== 'vif1.0') return port;
      const transmit = port.transmit.bind(port);
      port.transmit = (bytes, offset, length) => {
        if (failWrites === 0) return transmit(bytes, offset, length);
        failWrites--;
        throw new SyscallError('EIO', 5, 'write', 'write to the TAP: EIO (injected)', undefined);
      };
      return port;
    },
  },
});

async function threeGuests(h: SimHost, rate?: string): Promise<void> {
  await h.addGuest({ domid: 1, nic: rate === undefined ? {} : { rate } });
  await h.addGuest({ domid: 2 });
  await h.addGuest({ domid: 3 });
}

async function until(h: SimHost, what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await h.settle(1);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Guests 2 and 3 exchange a frame each way over the bridge. */
async function othersFlow(h: SimHost): Promise<void> {
  const at2 = collect(h, 2);
  const at3 = collect(h, 3);
  expect(h.guests.get(2)!.netfront.send(udpFrame(120, MAC3, MAC2)).kind).toBe('sent');
  expect(h.guests.get(3)!.netfront.send(udpFrame(130, MAC2, MAC3)).kind).toBe('sent');
  await until(h, 'frames between guests 2 and 3', () => at2.length === 1 && at3.length === 1);
  for (const name of ['vif2.0', 'vif3.0']) expect(h.dataPaths.get(name)!.disabled).toBeUndefined();
}

/**
 * vif1.0 faulted in a `where` callback: disabled, logged once with the stack, counted, carrier
 * off; Closing with an error node and the marker, then Closed after the frontend and let go; its
 * queues released; nothing escaped.
 */
async function expectContained(h: SimHost, where: HostCallback | 'control', injected: RegExp): Promise<void> {
  await until(h, 'vif1.0 Closed', async () => (await h.xs.read(`${BACKEND1}/state`)) === '6');
  const path = h.dataPaths.get('vif1.0') as EngineDataPath;
  if (where !== 'control') {
    expect(path.disabled).toBeInstanceOf(VifFaultError);
    expect((path.disabled as VifFaultError).where).toBe(where);
    expect(path.stats.faults).toBe(1);
    expect(path.carrier).toBe(false);
    const lines = logs.filter((line) => line.fields.event === 'vif-fault');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.fields.vif).toBe('vif1.0');
    expect(lines[0]!.msg).toMatch(injected);
    expect(lines[0]!.msg).toMatch(/\n\s+at /); // the stack of what was thrown
  } else {
    expect(logs.filter((line) => line.msg.startsWith('vif step failed') && line.fields['err.code'] === 'NETBACK_INTERNAL')).toHaveLength(1);
  }
  expect(await h.xs.read(ERROR_NODE1)).toMatch(new RegExp(`^5 internal fault in the ${where} callback`));
  expect(await h.xs.read(`${BACKEND1}/${FAULT_MARKER}`)).toBe(`${where} NETBACK_VIF_FAULT`);
  expect(await h.xs.read('/local/domain/1/device/vif/0/state')).toBe('6');
  expect(h.watcher.vifs.has('1/0')).toBe(false);
  expect(path.queues).toHaveLength(0); // rings unmapped, ports unbound
  expect(uncaught).toEqual([]);
  for (const domid of [2, 3]) expect(await h.xs.read(`/local/domain/0/backend/vif/${domid}/0/state`)).toBe('4');
}

describe('containment in the data path (in-thread)', () => {
  it('contain_event_untyped_throw_disables_only_that_vif', async () => {
    const h = await newHost();
    await threeGuests(h);
    armed = { where: 'event', thrown: () => new TypeError('injected in an event') };
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1));
    await expectContained(h, 'event', /TypeError: injected in an event/);
    await othersFlow(h);
  });

  it('contain_event_untyped_throw_with_a_long_message_is_cut_in_the_error_node', async () => {
    // whatever was thrown goes into the error node: cut to 1024 bytes, never a write xenstored refuses (E2BIG)
    const h = await newHost();
    await threeGuests(h);
    armed = { where: 'event', thrown: () => new TypeError(`injected ${'x'.repeat(10_000)}`) };
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1));
    await expectContained(h, 'event', /TypeError: injected x{100}/);
    expect((await h.xs.read(ERROR_NODE1))!.length).toBe(1024);
    await othersFlow(h);
  });

  it('contain_ctrl_event_untyped_throw_disables_only_that_vif', async () => {
    // the control ring's event (queue 0's kernels serve it) is contained as the data rings' are
    const h = await newHost();
    await h.addGuest({ domid: 1, ctrlRing: true });
    await h.addGuest({ domid: 2 });
    await h.addGuest({ domid: 3 });
    armed = { where: 'event', exact: true, thrown: () => new TypeError('injected in a control ring event') };
    void h.guests.get(1)!.ctrl!.request(CTRL_TYPE.GET_HASH_FLAGS); // never answered: the vif is gone
    await expectContained(h, 'event', /TypeError: injected in a control ring event/);
    await othersFlow(h);
  });

  it('contain_event_trap_disables_only_that_vif', async () => {
    const h = await newHost();
    await threeGuests(h);
    armed = { where: 'event', thrown: () => new WebAssembly.RuntimeError('unreachable') };
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1));
    await expectContained(h, 'event', /RuntimeError: unreachable/);
    await othersFlow(h);
  });

  it('contain_timer_untyped_throw_disables_only_that_vif', async () => {
    const h = await newRatedHost();
    await threeGuests(h, '1000,100000'); // 1000 bytes per 100 ms: 8 frames of 500 bytes wait for the credit timer
    armed = { where: 'timer', thrown: () => new RangeError('injected in a timer') };
    for (let i = 0; i < 8; i++) h.guests.get(1)!.netfront.send(udpFrame(500, MAC2, MAC1, i + 1));
    await until(h, 'TX parked for credit', () => h.dataPaths.get('vif1.0')!.queues[0]?.txParked === true);
    await expectContained(h, 'timer', /RangeError: injected in a timer/);
    await othersFlow(h);
  });

  it('contain_wake_untyped_throw_disables_only_that_vif', async () => {
    const h = await newHost();
    await threeGuests(h);
    armed = { where: 'wake', thrown: () => new Error('injected in the RX wake') };
    h.guests.get(2)!.netfront.send(udpFrame(100, MAC1, MAC2));
    await expectContained(h, 'wake', /Error: injected in the RX wake/);
    await othersFlow(h);
  });

  it('contain_tap_untyped_throw_is_charged_to_the_receiving_vif', async () => {
    // the bridge hands guest 2's frame to vif1.0 inside vif2.0's TX pass: the fault is vif1.0's alone
    const h = await newHost();
    await threeGuests(h);
    armed = { where: 'tap', thrown: () => new TypeError('injected in a receive') };
    h.guests.get(2)!.netfront.send(udpFrame(100, MAC1, MAC2));
    await expectContained(h, 'tap', /TypeError: injected in a receive/);
    expect(h.dataPaths.get('vif2.0')!.stats.faults).toBe(0);
    await othersFlow(h);
  });

  it('contain_connect_untyped_throw_closes_the_vif', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 2 });
    await h.addGuest({ domid: 3 });
    armed = { where: 'connect', thrown: () => new TypeError('injected in the first poll') };
    await h.addGuest({ domid: 1 }).catch(() => undefined); // Connected for an instant at most
    await expectContained(h, 'connect', /TypeError: injected in the first poll/);
    await othersFlow(h);
  });

  it('contain_grantcopy_trap_disables_only_that_vif', async () => {
    const h = await newHost();
    await threeGuests(h);
    let left = 1;
    h.grants.faults.throwInCopy = (domid) => (domid === 1 && left-- > 0 ? new WebAssembly.RuntimeError('memory access out of bounds') : undefined);
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1));
    await expectContained(h, 'event', /RuntimeError: memory access out of bounds/);
    h.grants.faults.throwInCopy = undefined;
    await othersFlow(h);
  });

  it('contain_event_typed_error_leaves_no_port_masked', async () => {
    // a typed error out of an event's work (a TAP write the kernel refused) is counted and logged,
    // and the port is unmasked as after any event: the guest's next kick is served
    const h = await newFlakyHost();
    await threeGuests(h);
    failWrites = 1;
    const at2 = collect(h, 2);
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1, 1));
    await h.settle(10);
    expect(failWrites).toBe(0); // it was thrown
    h.guests.get(1)!.netfront.send(udpFrame(101, MAC2, MAC1, 2));
    await until(h, 'a frame from guest 1 after the typed error', () => at2.length >= 1);
    const path = h.dataPaths.get('vif1.0')!;
    expect(path.disabled).toBeUndefined();
    expect(path.stats.hostErrors).toBe(1);
    expect(logs.filter((line) => line.fields['err.code'] === 'EIO' && line.fields.where === 'event')).toHaveLength(1);
    expect(await h.xs.read(`${BACKEND1}/state`)).toBe('4');
    expect(uncaught).toEqual([]);
  });
});

describe('containment on real TAPs (in-thread)', () => {
  it('contain_tap_readable_untyped_throw_on_a_real_tap', async () => {
    // the host stack sends to both guests through their TAPs; a receive from the first TAP's
    // readable callback throws: that vif alone is closed, the other TAP's guest keeps receiving
    if (announceSkip('contain_tap_readable_untyped_throw_on_a_real_tap')) return;
    const h = await newTapHost();
    const names = [uniqueName('wnbk'), uniqueName('wnbk')];
    const guests = [1, 2];
    const net = 64 + Math.floor(Math.random() * 150);
    for (const [i, domid] of guests.entries()) {
      await h.addGuest({ domid, nic: { vifname: names[i]! } });
      const mac = `00:16:3e:00:0${domid}:00`;
      await ip('addr', 'add', `198.19.${net}.${i * 4 + 1}/30`, 'dev', names[i]!);
      await ip('neigh', 'replace', `198.19.${net}.${i * 4 + 2}`, 'lladdr', mac, 'dev', names[i]!, 'nud', 'permanent');
    }
    const at2 = collect(h, 2);
    armed = { where: 'tap', vif: names[0]!, thrown: () => new TypeError('injected in a TAP read') };
    const socket = createSocket('udp4');
    const flood = setInterval(() => {
      for (const i of [0, 1]) for (let n = 0; n < 4; n++) socket.send(Buffer.alloc(64), 9, `198.19.${net}.${i * 4 + 2}`);
    }, 2);
    try {
      const backend = '/local/domain/0/backend/vif/1/0';
      await until(h, 'the first vif Closed', async () => (await h.xs.read(`${backend}/state`)) === '6');
      const path = h.dataPaths.get(names[0]!)!;
      expect(path.disabled).toBeInstanceOf(VifFaultError);
      expect((path.disabled as VifFaultError).where).toBe('tap');
      expect(path.stats.faults).toBe(1);
      expect(await h.xs.read(ERROR_NODE1)).toMatch(/^5 internal fault in the tap callback: TypeError: injected in a TAP read/);
      expect(await h.xs.read(`${backend}/${FAULT_MARKER}`)).toBe('tap NETBACK_VIF_FAULT');
      const lines = logs.filter((line) => line.fields.event === 'vif-fault');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.msg).toMatch(/\n\s+at /);
      const before = at2.length;
      await until(h, 'the other guest still receiving from its TAP', () => at2.length > before + 20);
      expect(h.dataPaths.get(names[1]!)!.disabled).toBeUndefined();
      expect(uncaught).toEqual([]);
    } finally {
      clearInterval(flood);
      socket.close();
    }
  });
});

describe('containment in the control plane', () => {
  it('contain_watch_untyped_throw_closes_the_vif', async () => {
    const h = await newHost();
    await threeGuests(h);
    h.xs.faults.read = (path) => (path === `${BACKEND1}/rate` ? new TypeError('injected in the rate watch') : undefined);
    await h.xs.write(`${BACKEND1}/rate`, '100000,50000');
    await until(h, 'vif1.0 Closing', async () => (await h.xs.read(`${BACKEND1}/state`)) !== '4');
    h.xs.faults.read = undefined;
    await expectContained(h, 'control', /injected in the rate watch/);
    await othersFlow(h);
  });

  it('contain_hotplug_untyped_throw_closes_the_vif', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 2 });
    await h.addGuest({ domid: 3 });
    // the probe reads hotplug-status first; the hotplug gate's read after connect is the one that throws
    let reads = 0;
    h.xs.faults.read = (path) => (path === `${BACKEND1}/hotplug-status` && reads++ === 1 ? new TypeError('injected in the hotplug gate') : undefined);
    await h.addGuest({ domid: 1 }).catch(() => undefined);
    h.xs.faults.read = undefined;
    expect(reads).toBeGreaterThanOrEqual(2);
    await expectContained(h, 'control', /injected in the hotplug gate/);
    await othersFlow(h);
  });

  it('contain_watch_typed_error_closes_the_vif_cleanly_and_it_may_reconnect', async () => {
    // a typed failure is a fatal error as Linux's xenbus_dev_fatal: Closing with an error node and
    // no fault marker; the frontend may connect again, and then the vif carries traffic
    const h = await newHost();
    await threeGuests(h);
    const frontend1 = '/local/domain/1/device/vif/0';
    h.xs.faults.read = (path) => (path === `${frontend1}/request-multicast-control` ? new XenStoreError('EACCES', 'read', path) : undefined);
    await h.xs.write(`${frontend1}/request-multicast-control`, '1');
    await until(h, 'vif1.0 Closed', async () => (await h.xs.read(`${BACKEND1}/state`)) === '6');
    h.xs.faults.read = undefined;
    expect(await h.xs.read(ERROR_NODE1)).toMatch(/^22 closing after a failed step: xenstore read .*request-multicast-control: EACCES/);
    expect(await h.xs.read(`${BACKEND1}/${FAULT_MARKER}`)).toBeUndefined();
    expect(h.dataPaths.get('vif1.0')!.queues).toHaveLength(0);
    // online: the vif stays registered, and the guest's driver reload connects it again
    expect(h.watcher.vifs.has('1/0')).toBe(true);
    await h.guests.get(1)!.xenbus.restart();
    await until(h, 'vif1.0 Connected again', async () => (await h.xs.read(`${BACKEND1}/state`)) === '4');
    expect(uncaught).toEqual([]);
  });
});

describe('restart after a fault', () => {
  it('restart_after_a_fault_keeps_the_vif_closed_until_reattached', async () => {
    // The daemon restarts while the guest that set a fault off is still Connected with the same
    // ring (it never saw the Closing: from here the test plays that frontend). The new process
    // must not serve the ring again: Closing with an error node, never a data path, until the
    // toolstack re-attaches the vif.
    const h = await newHost();
    await threeGuests(h);
    await h.guests.get(1)!.xenbus.stop();
    armed = { where: 'event', thrown: () => new TypeError('injected before the restart') };
    h.guests.get(1)!.netfront.send(udpFrame(100, MAC2, MAC1));
    await until(h, 'vif1.0 Closing', async () => (await h.xs.read(`${BACKEND1}/state`)) === '5');
    await h.xs.rm(ERROR_NODE1);
    await h.xs.write('/local/domain/1/device/vif/0/state', '4'); // the frontend is Connected as far as xenstore says

    await h.restartBackend();
    await until(h, 'the new process probed vif1.0', async () => (await h.xs.read(ERROR_NODE1)) !== undefined);
    await h.settle(20);
    expect(await h.xs.read(ERROR_NODE1)).toMatch(/^5 this vif faulted in wasm-netback \(event NETBACK_VIF_FAULT\)/);
    expect(await h.xs.read(`${BACKEND1}/state`)).toBe('5');
    expect(h.watcher.vifs.get('1/0')?.config).toBeUndefined(); // no rings mapped, no data path
    expect(h.dataPaths.get('vif1.0')?.queues ?? []).toHaveLength(0);
    await until(h, 'vif2.0 and vif3.0 carried on', async () => (await h.xs.read('/local/domain/0/backend/vif/2/0/state')) === '4');
    await othersFlow(h);

    // re-attached by the toolstack: a fresh directory without the marker, served again
    await h.xs.write('/local/domain/1/device/vif/0/state', '6');
    await until(h, 'vif1.0 let go', () => !h.watcher.vifs.has('1/0'));
    h.guests.delete(1);
    await h.toolstack.detach(1, 0);
    expect(await h.xs.read(`${BACKEND1}/${FAULT_MARKER}`)).toBeUndefined();
    await h.addGuest({ domid: 1 });
    const at1 = collect(h, 1);
    h.guests.get(2)!.netfront.send(udpFrame(100, MAC1, MAC2));
    await until(h, 'a frame to the re-attached guest 1', () => at1.length === 1);
    expect(uncaught).toEqual([]);
  });
});
