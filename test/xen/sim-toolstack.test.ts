import { describe, expect, it } from 'vitest';
import { XenbusState as S } from '../../src/backend/xenbus-state.js';
import { LIBXL_DESTROY_TIMEOUT_MS, LIBXL_INIT_TIMEOUT_MS, ToolstackError } from '../../src/xen/sim/toolstack.js';
import { XENNET_TIMEOUT_MS } from '../../src/xen/sim/frontend-xenbus.js';
import { backendDomainOf } from '../../src/cli/backend-domain.js';
import { SimDomainXenStore } from '../../src/xen/sim/xenstore.js';
import { rig, settle, until } from '../backend/helpers.js';

const BE = '/local/domain/0/backend/vif/3/1';
const FE = '/local/domain/3/device/vif/1';

describe('sim toolstack', () => {
  it('toolstack_writeDevice_nodes_of_section_4_1', async () => {
    const r = rig();
    await r.toolstack.writeDevice({ domid: 3, devid: 1, mac: '00:16:3e:aa:bb:cc', rate: '125000,50000', mtu: 9000, vifname: 'g3', ip: '10.0.0.3' });
    const be = Object.fromEntries([...r.xs.inner.dump(BE)].filter(([p]) => p !== BE).map(([p, v]) => [p.slice(BE.length + 1), v]));
    expect(be).toEqual({
      frontend: FE, 'frontend-id': '3', online: '1', state: '1', script: '/etc/xen/scripts/vif-bridge', mac: '00:16:3e:aa:bb:cc',
      bridge: 'xenbr0', handle: '1', type: 'vif', 'hotplug-status': '', ip: '10.0.0.3', rate: '125000,50000', mtu: '9000', vifname: 'g3',
    });
    const fe = Object.fromEntries([...r.xs.inner.dump(FE)].filter(([p]) => p !== FE).map(([p, v]) => [p.slice(FE.length + 1), v]));
    expect(fe).toEqual({ backend: BE, 'backend-id': '0', state: '1', handle: '1', mac: '00:16:3e:aa:bb:cc', trusted: '1', mtu: '9000' });
  });

  it('toolstack_attach_init_timeout', async () => {
    const r = rig(); // no backend running
    const attach = r.toolstack.attach({ domid: 3, devid: 1 });
    const outcome = attach.then(() => 'ok', (e: unknown) => e);
    await settle();
    r.clock.advance(LIBXL_INIT_TIMEOUT_MS - 1);
    await settle();
    expect(r.toolstack.pendingWaits).toBe(1);
    r.clock.advance(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(ToolstackError);
    expect((err as ToolstackError).code).toBe('NETBACK_TOOLSTACK_INIT_TIMEOUT');
    expect(r.toolstack.pendingWaits).toBe(0);
    expect(r.clock.pending).toBe(0);
    expect(r.toolstack.hotplugRuns).toEqual([]);
  });

  it('toolstack_attach_hotplug_error', async () => {
    const r = rig();
    await r.watcher.start();
    r.interfaces.create = async () => ({ name: 'elsewhere', close: async () => {} }); // wrong name: the script cannot find vif3.1
    const err = await r.toolstack.attach({ domid: 3, devid: 1 }).then(() => undefined, (e: unknown) => e);
    expect((err as ToolstackError).code).toBe('NETBACK_TOOLSTACK_HOTPLUG_FAILED');
    expect(await r.xs.read(`${BE}/hotplug-status`)).toBe('error');
    expect(await r.xs.read(`${BE}/hotplug-error`)).toBe('Cannot find device vif3.1');
    expect(r.xs.writes.findIndex(([p]) => p === `${BE}/hotplug-error`)).toBeLessThan(r.xs.writes.findIndex(([p, v]) => p === `${BE}/hotplug-status` && v === 'error'));
  });

  it('toolstack_attach_backend_that_gives_up_fails_at_once_quoting_its_error', async () => {
    const r = rig();
    await r.watcher.start();
    r.interfaces.create = async () => { throw new Error('TUNSETIFF: EBUSY'); };
    const err = await r.toolstack.attach({ domid: 3, devid: 1 }).then(() => undefined, (e: unknown) => e);
    // no clock advance: the backend's Closing ends the wait, not libxl's 10 s timer
    expect(err).toBeInstanceOf(ToolstackError);
    expect((err as ToolstackError).code).toBe('NETBACK_TOOLSTACK_BACKEND_FAILED');
    expect((err as ToolstackError).message).toMatch(/went to Closing instead of InitWait \(backend error: 22 creating interface vif3\.1: TUNSETIFF: EBUSY\)/);
    expect(r.toolstack.pendingWaits).toBe(0);
    expect(r.clock.pending).toBe(0);
    expect(r.toolstack.hotplugRuns).toEqual([]);
  });

  it('toolstack_detach_waits_for_closed_then_removes', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 3, devid: 1 });
    const fe = r.frontend(3, 1);
    await fe.start();
    await until(async () => (await r.xs.read(`${BE}/state`)) === '4', 'Connected');
    await r.toolstack.detach(3, 1);
    expect(r.xs.writesTo(`${BE}/online`)).toEqual(['1', '0']);
    expect(fe.history).toEqual([S.Initialising, S.Connected, S.Closed]);
    expect(r.xs.writesTo(`${BE}/state`).slice(-2)).toEqual(['5', '6']);
    expect(await r.xs.read(BE)).toBeUndefined();
    expect(await r.xs.read(FE)).toBeUndefined();
    expect(await r.xs.read('/local/domain/0/backend/vif/3')).toBeUndefined(); // empty parents cleaned up
    expect(r.toolstack.hotplugRuns.map((h) => h.action)).toEqual(['online', 'offline']);
    await fe.stop();
  });

  it('toolstack_detach_destroy_timeout_forces_removal', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 3, devid: 1 }); // no frontend: nobody answers Closing
    const detach = r.toolstack.detach(3, 1);
    await settle();
    expect(await r.xs.read(`${BE}/state`)).toBe('5');
    r.clock.advance(LIBXL_DESTROY_TIMEOUT_MS);
    await detach;
    expect(await r.xs.read(BE)).toBeUndefined();
    await until(() => r.watcher.vifs.size === 0, 'vif removed with its directory');
    await r.watcher.whenIdle();
    await settle();
    expect(r.interfaces.live.size).toBe(0);
    expect(r.logs.some((l) => l.msg.includes('forcing removal'))).toBe(true);
  });

  it('toolstack_destroy_guest_gone', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.create([{ domid: 3, devid: 0 }, { domid: 3, devid: 1 }]);
    const fes = [r.frontend(3, 0), r.frontend(3, 1)];
    for (const fe of fes) await fe.start();
    await until(async () => (await r.xs.read(`${BE}/state`)) === '4', 'Connected');
    for (const fe of fes) await fe.stop();
    await r.toolstack.destroy(3);
    expect(await r.xs.read('/local/domain/0/backend/vif/3')).toBeUndefined();
    await r.watcher.whenIdle();
    expect(r.watcher.vifs.size).toBe(0);
    expect(r.interfaces.live.size).toBe(0);
    expect(r.dataPaths.map((dp) => dp.calls.join())).toEqual(['connect,disconnect', 'connect,disconnect']);
  });

  it('toolstack_driver_domain_serves_a_guest_vif_from_its_own_backend_directory', async () => {
    const DD = 5, DDBE = '/local/domain/5/backend/vif/7/0', DDFE = '/local/domain/7/device/vif/0';
    const r = rig({ backendDomid: DD });
    await r.toolstack.createDomain(DD, 'netdd');
    // what the daemon in the driver domain does first: no control_d, so its domid from xenstore
    expect(await backendDomainOf(new SimDomainXenStore(r.xs, DD), '')).toBe(DD);
    await r.watcher.start();
    await r.toolstack.createDomain(7, 'ddguest');
    await r.toolstack.attach({ domid: 7, devid: 0, backendDomid: DD, bridge: 'ddbr0' });
    const fe = r.frontend(7, 0);
    await fe.start();
    await until(() => fe.state === S.Connected, 'Connected');
    expect(await r.xs.read(`${DDBE}/state`)).toBe('4');
    expect(await r.xs.read(`${DDFE}/backend`)).toBe(DDBE);
    expect(await r.xs.read(`${DDFE}/backend-id`)).toBe('5');
    expect(await r.xs.directory('/local/domain/0/backend')).toEqual([]); // dom0 serves nothing of it
    expect(r.toolstack.hotplugRuns).toEqual([{ action: 'online', domain: DD, vif: 'vif7.0', backendPath: DDBE, ok: true }]);
    expect([...r.interfaces.live.keys()]).toEqual(['vif7.0']);
    // the driver domain's daemon stops under the running guest: the device closes
    await r.watcher.stop({ closeDevices: true });
    await until(() => fe.state === S.Closed, 'frontend Closed');
    expect(await r.xs.read(`${DDBE}/state`)).toBe('6');
    expect(r.interfaces.live.size).toBe(0);
    expect(r.dataPaths.map((dp) => dp.calls.join())).toEqual(['connect,disconnect']);
    await fe.stop();
    await r.toolstack.destroy(7);
    expect(await r.xs.read('/local/domain/5/backend/vif/7')).toBeUndefined();
    expect(r.toolstack.hotplugRuns.map((h) => `${h.action}@${h.domain}`)).toEqual(['online@5', 'offline@5']);
  });

  it('toolstack_driver_domain_leaves_dom0s_backends_alone', async () => {
    const r = rig({ backendDomid: 5 });
    await r.toolstack.createDomain(5, 'netdd');
    await r.watcher.start();
    await r.toolstack.writeDevice({ domid: 7, devid: 0 }); // backend in dom0, which the driver domain does not serve
    await settle();
    expect(await r.xs.read('/local/domain/0/backend/vif/7/0/state')).toBe('1');
    expect(r.interfaces.created).toBe(0);
    expect(r.watcher.vifs.size).toBe(0);
    await r.watcher.stop();
  });

  it('toolstack_save_restore_moves_the_vif_to_the_new_domid', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.createDomain(3, 'life');
    await r.toolstack.attach({ domid: 3, devid: 0 });
    const before = r.frontend(3, 0);
    await before.start();
    await until(() => before.state === S.Connected, 'Connected');
    await before.stop(); // suspended: the guest answers nothing more
    const saved = await r.toolstack.save(3);
    expect(await r.xs.read('/local/domain/3')).toBeUndefined();
    expect(await r.xs.read('/local/domain/0/backend/vif/3')).toBeUndefined();
    await r.watcher.whenIdle();
    expect(r.interfaces.live.size).toBe(0);
    await r.toolstack.restore(saved, 4, 'life');
    const after = r.frontend(4, 0);
    await after.start();
    await until(() => after.state === S.Connected, 'Connected as domain 4');
    expect(await r.xs.read('/local/domain/4/domid')).toBe('4');
    // the MAC libxl generated for domain 3 stays with the guest
    expect(await r.xs.read('/local/domain/0/backend/vif/4/0/mac')).toBe('00:16:3e:00:03:00');
    expect([...r.interfaces.live.keys()]).toEqual(['vif4.0']);
    expect(r.dataPaths.map((dp) => `${dp.identity.name} ${dp.calls.join()}`)).toEqual(['vif3.0 connect,disconnect', 'vif4.0 connect']);
    await after.stop();
    await r.watcher.stop();
  });
});

describe('sim frontend', () => {
  it('frontend_close_retries_every_xennet_timeout', async () => {
    const r = rig(); // no backend: the test plays it by hand
    await r.toolstack.writeDevice({ domid: 3, devid: 1 });
    await r.xs.write(`${BE}/state`, '4');
    const fe = r.frontend(3, 1);
    await fe.start();
    const closing = fe.close();
    await settle();
    expect(fe.history).toEqual([S.Initialising, S.Closing]);
    r.clock.advance(XENNET_TIMEOUT_MS);
    await settle();
    // Another round: the write is skipped (same state, as xenbus_switch_state does), the wait re-armed.
    expect(fe.history).toEqual([S.Initialising, S.Closing]);
    expect(fe.openTimers).toBe(1);
    expect(r.clock.pending).toBe(1);
    await r.xs.write(`${BE}/state`, '5');
    await settle();
    expect(fe.history.at(-1)).toBe(S.Closed);
    await r.xs.write(`${BE}/state`, '6');
    await closing;
    expect(fe.openTimers).toBe(0);
    await fe.stop();
    expect(fe.openWatches).toBe(0);
    expect(r.clock.pending).toBe(0);
  });

  it('frontend_refuses_backend_without_rx_copy', async () => {
    const r = rig();
    await r.toolstack.writeDevice({ domid: 3, devid: 1 });
    const fe = r.frontend(3, 1, { log: (level, msg) => r.logs.push({ level, msg }) });
    await fe.start();
    await r.xs.write(`${BE}/state`, '2');
    await settle();
    expect(fe.connects).toBe(0);
    expect(fe.history).toEqual([S.Initialising]);
    expect(r.logs.some((l) => l.msg.includes('rx-copy'))).toBe(true);
    await fe.stop();
  });

  it('frontend_talk_to_netback_keys', async () => {
    const r = rig();
    await r.watcher.start();
    await r.toolstack.attach({ domid: 3, devid: 1 });
    const fe = r.frontend(3, 1, { maxQueues: 2, xdp: true });
    await fe.start();
    await until(() => fe.state === S.Connected, 'Connected');
    const keys = [...r.xs.inner.dump(FE).keys()].map((p) => p.slice(FE.length + 1)).filter((k) => k !== '').sort();
    expect(keys).toEqual([
      'backend', 'backend-id', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-ipv6-csum-offload', 'feature-rx-notify', 'feature-sg',
      'handle', 'mac', 'mtu', 'multi-queue-num-queues', 'queue-0', 'queue-0/event-channel-rx', 'queue-0/event-channel-tx',
      'queue-0/rx-ring-ref', 'queue-0/tx-ring-ref', 'queue-1', 'queue-1/event-channel-rx', 'queue-1/event-channel-tx',
      'queue-1/rx-ring-ref', 'queue-1/tx-ring-ref', 'request-rx-copy', 'state', 'trusted', 'xdp-headroom',
    ]);
    expect(await r.xs.read(`${FE}/xdp-headroom`)).toBe('256');
    expect(await r.xs.read(`${FE}/multi-queue-num-queues`)).toBe('2');
    await fe.stop();
  });
});
