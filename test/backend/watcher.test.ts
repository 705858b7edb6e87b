import { describe, expect, it } from 'vitest';
import { FeatureOptionError } from '../../src/backend/features.js';
import { BackendWatcher } from '../../src/backend/watcher.js';
import { XenbusState as S } from '../../src/backend/xenbus-state.js';
import { rig, settle, until } from './helpers.js';

const BE = (domid: number, devid = 0) => `/local/domain/0/backend/vif/${domid}/${devid}`;

describe('watcher', () => {
  it('watcher_serves_each_device_once', async () => {
    const r = rig();
    await r.watcher.start();
    await Promise.all([1, 2, 3].map((domid) => r.toolstack.attach({ domid, devid: 0 })));
    await r.toolstack.attach({ domid: 1, devid: 1 });
    await r.watcher.whenIdle();
    expect([...r.watcher.vifs.keys()].sort()).toEqual(['1/0', '1/1', '2/0', '3/0']);
    expect([...r.interfaces.live.keys()].sort()).toEqual(['vif1.0', 'vif1.1', 'vif2.0', 'vif3.0']);
  });

  it('watcher_storm_is_idempotent', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 4, devid: 0 });
    await r.watcher.whenIdle();
    const before = r.xs.writesTo(`${BE(4)}/state`).length;
    // Hundreds of events on the watched tree (and on the vif's own watched nodes) without a real change.
    for (let i = 0; i < 300; i++) {
      await r.xs.write(`${BE(4)}/noise`, String(i));
      if (i % 3 === 0) await r.xs.write(`/local/domain/4/device/vif/0/state`, '1');
      if (i % 5 === 0) await r.xs.write(`${BE(4)}/hotplug-status`, 'connected');
    }
    await r.watcher.whenIdle();
    await settle();
    expect(r.watcher.vifs.size).toBe(1);
    expect(r.interfaces.created).toBe(1);
    expect(r.xs.writesTo(`${BE(4)}/state`).length).toBe(before);
    expect(r.watcher.scans).toBeLessThan(300);
  });

  it('watcher_scan_untyped_throw_is_logged_and_the_next_event_rescans', async () => {
    // a bug in a scan costs that scan, never the daemon (it used to reject: an unhandled rejection, exit 70)
    const r = rig();
    const directory = r.xs.directory.bind(r.xs);
    let fail = true;
    r.xs.directory = async (path, tx) => {
      if (fail) {
        fail = false;
        throw new TypeError('injected in a scan');
      }
      return directory(path, tx);
    };
    await r.watcher.start();
    await r.watcher.whenIdle();
    expect(r.logs.filter((l) => l.level === 'error' && /^scanning .*TypeError: injected in a scan/s.test(l.msg))).toHaveLength(1);
    expect(r.logs.find((l) => /injected in a scan/.test(l.msg))!.fields!['err.code']).toBe('NETBACK_INTERNAL');
    await r.toolstack.attach({ domid: 6, devid: 0 });
    await r.watcher.whenIdle();
    expect([...r.watcher.vifs.keys()]).toEqual(['6/0']);
  });

  it('watcher_ignores_non_numeric_entries', async () => {
    const r = rig();
    await r.watcher.start();
    await r.xs.write('/local/domain/0/backend/vif/x/0/state', '1');
    await r.xs.write('/local/domain/0/backend/vif/7/01/state', '1');
    await r.watcher.whenIdle();
    await settle();
    expect(r.watcher.vifs.size).toBe(0);
  });

  it('watcher_directory_removed_removes_vif', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 5, devid: 0 });
    const fe = r.frontend(5, 0);
    await fe.start();
    await until(async () => (await r.backendState(5, 0)) === '4', 'Connected');
    await r.xs.rm(BE(5));
    await until(() => r.watcher.vifs.size === 0, 'vif removed');
    await r.watcher.whenIdle();
    expect(r.dataPaths[0]!.calls).toEqual(['connect', 'disconnect']);
    expect(r.interfaces.live.size).toBe(0);
    expect(await r.xs.read(`${BE(5)}/state`)).toBeUndefined(); // not resurrected by a late state write
    await fe.stop();
  });

  it('watcher_unregistered_device_not_reprobed_until_rewritten', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 5, devid: 0 });
    await r.watcher.whenIdle();
    await r.xs.write(`${BE(5)}/online`, '0');
    await r.xs.write('/local/domain/5/device/vif/0/state', String(S.Closed));
    await until(() => r.watcher.vifs.size === 0, 'unregistered');
    await r.xs.write(`${BE(5)}/noise`, 'x'); // an event on the still-present directory
    await r.watcher.whenIdle();
    await settle();
    expect(r.interfaces.created).toBe(1);
    await r.toolstack.attach({ domid: 5, devid: 0 }); // toolstack rewrites the device from scratch
    await r.watcher.whenIdle();
    expect(r.interfaces.created).toBe(2);
    expect(r.watcher.vifs.size).toBe(1);
  });

  it('watcher_detach_reattach_50_no_leaks', async () => {
    const r = rig();
    await r.watcher.start();
    const baseline = r.xs.openWatches;
    for (let i = 0; i < 50; i++) {
      await r.toolstack.attach({ domid: 9, devid: 0 });
      const fe = r.frontend(9, 0, { mode: i % 2 === 0 ? 'linux' : 'windows' });
      await fe.start();
      await until(async () => (await r.backendState(9, 0)) === '4', `Connected #${i}`);
      await r.toolstack.detach(9, 0);
      await fe.stop();
      await r.watcher.whenIdle();
      expect(await r.xs.read(BE(9)), `backend dir #${i}`).toBeUndefined();
      expect(r.watcher.vifs.size, `vifs #${i}`).toBe(0);
    }
    expect(r.interfaces.created).toBe(50);
    expect(r.interfaces.closed).toBe(50);
    expect(r.interfaces.live.size).toBe(0);
    expect(r.dataPaths).toHaveLength(50);
    expect(r.dataPaths.every((dp) => dp.calls.join() === 'connect,disconnect')).toBe(true);
    expect(r.xs.openWatches).toBe(baseline);
    expect(r.watcher.openWatches).toBe(1);
    expect(r.clock.pending).toBe(0);
    expect(r.toolstack.pendingWaits).toBe(0);
    expect(r.frontends.every((fe) => fe.openWatches === 0 && fe.openTimers === 0)).toBe(true);
  });

  it('watcher_stop_removes_every_vif', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 2, devid: 0 });
    await r.toolstack.attach({ domid: 3, devid: 0 });
    await r.watcher.whenIdle();
    await r.watcher.stop();
    expect(r.interfaces.live.size).toBe(0);
    expect(r.xs.openWatches).toBe(0);
    expect(await r.xs.read(`${BE(2)}/state`)).toBe('2'); // the directory is never deleted by the backend
    expect(await r.xs.read(`${BE(2)}/hotplug-status`)).toBeUndefined();
  });

  it('watcher_rejects_bad_feature_options', () => {
    const r = rig();
    expect(() => new BackendWatcher({ xs: r.xs, backendDomid: 0, interfaces: r.interfaces, dataPath: () => { throw new Error('unused'); }, features: { maxQueues: 0 } }))
      .toThrow(FeatureOptionError);
  });
});
