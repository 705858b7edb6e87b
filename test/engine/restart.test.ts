// The backend process killed (SIGKILL) under connected guests and started again, over the
// simulated host: what a crash really leaves (xenstore as it was, hotplug-status=connected, the
// rings and grants live in the guest, the old process's mappings and bindings released) and what
// the new process must make of it. The daemon's persistent TAPs are the real-TAP half of this
// (test/tap/persistent.test.ts); the real kill -9 runs in `npm run test:xen`.
import { describe, expect, it, onTestFinished } from 'vitest';
import type { NetworkInterfaceFactory } from '../../src/backend/vif.js';
import { SoftwareBridge } from '../../src/sink/bridge.js';
import type { SimHost } from '../../src/sim/host.js';
import { collect, udpFrame, useSimHosts, MAC1, MAC2 } from './helpers.js';

/** Ports that die with their process (no abandon): what a non-persistent TAP does. */
function mortalPorts(bridge: SoftwareBridge): NetworkInterfaceFactory {
  return { create: async (name) => Object.assign(bridge.attach(name), { abandon: undefined }) };
}

const mortalBridge = new SoftwareBridge();
const newHost = useSimHosts();
const newHostWithMortalPorts = useSimHosts({ interfaces: mortalPorts(mortalBridge) });

/** Every value written to a backend `state` node from now on (until the test's host closes). */
async function recordBackendStates(h: SimHost, domid: number): Promise<string[]> {
  const seen: string[] = [];
  const path = `${h.watcher.vifRoot}/${domid}/0/state`;
  const watch = await h.xs.watch(path, `test:${path}`, async () => {
    const value = await h.xs.read(path);
    if (value !== undefined && seen[seen.length - 1] !== value) seen.push(value);
  });
  onTestFinished(() => watch.close());
  await h.settle();
  seen.length = 0; // the fire-on-register event
  return seen;
}

const backendState = (h: SimHost, domid: number) => h.xs.read(`${h.watcher.vifRoot}/${domid}/0/state`);

async function exchange(h: SimHost): Promise<{ at1: number; at2: number }> {
  const at1 = collect(h, 1);
  const at2 = collect(h, 2);
  expect(h.guests.get(1)!.netfront.send(udpFrame(200, MAC2, MAC1)).kind).toBe('sent');
  expect(h.guests.get(2)!.netfront.send(udpFrame(300, MAC1, MAC2)).kind).toBe('sent');
  await h.settle(40);
  return { at1: at1.length, at2: at2.length };
}

describe('backend restart after a crash', () => {
  it('restart_after_crash_adopts_the_interface_and_the_guests_carry_on', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    expect(await exchange(h)).toEqual({ at1: 1, at2: 1 });
    const before = h.dataPaths.get('vif1.0')!;
    const states = await recordBackendStates(h, 1);

    await h.restartBackend();
    for (let i = 0; i < 50 && h.dataPaths.get('vif1.0')?.carrier !== true; i++) await h.settle();

    // a new engine on the same rings, which the guests never saw close
    expect(h.dataPaths.get('vif1.0')).not.toBe(before);
    expect(await h.xs.read(`${h.watcher.vifRoot}/1/0/state`)).toBe('4');
    expect(states).not.toContain('5');
    expect(states).not.toContain('6');
    expect(await h.xs.read(`/local/domain/1/device/vif/0/state`)).toBe('4');
    expect(h.bridge.portNames().sort()).toEqual(['vif1.0', 'vif2.0']);
    // traffic both ways through the new engine, many times round each ring past where it resumed
    for (let round = 0; round < 3; round++) expect(await exchange(h)).toEqual({ at1: 1, at2: 1 });
    const counters = h.dataPaths.get('vif1.0')!.counters();
    expect(counters.tx_ring_packets).toBe(3);
    expect(counters.rx_ring_packets).toBe(3);
  });

  it('restart_after_crash_without_the_interface_closes_the_vif_cleanly', async () => {
    const h = await newHostWithMortalPorts();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    expect(await exchange(h)).toEqual({ at1: 1, at2: 1 });
    const states = await recordBackendStates(h, 1);

    await h.restartBackend();
    for (let i = 0; i < 50 && (await h.xs.read(`${h.watcher.vifRoot}/1/0/state`)) !== '6'; i++) await h.settle();

    // never Connected on an interface nobody put on the bridge: Closing, then Closed once the frontend is
    expect(states).toEqual(['5', '6']);
    expect(h.watcher.vifs.has('1/0')).toBe(false); // unregistered until the toolstack re-creates it
    expect(await h.xs.read(`/local/domain/1/device/vif/0/state`)).toBe('6');
    expect(await h.xs.read(`${h.watcher.vifRoot}/1/0/hotplug-status`)).toBeUndefined();
    expect(await h.xs.read(`/local/domain/0/error/backend/vif/1/0/error`)).toMatch(/^19 .*earlier wasm-netback process/);
    // a re-attach brings both guests back
    await h.removeGuest(1);
    await h.removeGuest(2);
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    expect(await exchange(h)).toEqual({ at1: 1, at2: 1 });
  });

  it('regression_restart_after_crash_without_the_interface_never_reconnects_a_reloading_frontend', async () => {
    // Before: the new process published InitWait on an unbridged interface; a frontend that was
    // (re)initialising then connected, and the guest sent into a TAP on no bridge. Now the vif
    // only closes, whatever the frontend does, until it is Closed.
    const h = await newHostWithMortalPorts();
    await h.addGuest({ domid: 1 });
    const frontend = '/local/domain/1/device/vif/0';
    // the guest's driver reloading when the daemon died: from here the test plays the frontend
    await h.guests.get(1)!.xenbus.stop();
    await h.xs.write(`${frontend}/state`, '1');
    const states = await recordBackendStates(h, 1);
    await h.restartBackend();
    await h.settle(40);
    expect(states).toEqual(['5']);
    for (const state of ['2', '1', '4', '3', '4']) {
      await h.xs.write(`${frontend}/state`, state);
      await h.settle(20);
      expect(await backendState(h, 1)).toBe('5');
      expect(h.watcher.vifs.get('1/0')?.config).toBeUndefined(); // no rings mapped, no data path
    }
    await h.xs.write(`${frontend}/state`, '6');
    await h.settle(20);
    expect(states).toEqual(['5', '6']);
    expect(h.watcher.vifs.has('1/0')).toBe(false);
    // a reload after the close reaches nothing: the device waits for the toolstack
    await h.xs.write(`${frontend}/state`, '1');
    await h.settle(20);
    expect(await backendState(h, 1)).toBe('6');
    expect(h.watcher.vifs.has('1/0')).toBe(false);
  });
});
