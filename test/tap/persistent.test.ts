// The daemon's owned TAPs against the real kernel: persistent and marked while we hold them,
// removed by close(), left on their bridge when the process dies (abandon() is what the kernel does
// to a dead process's fd), adopted by the next open for the same owner, and swept when orphaned.
import { afterAll, describe, expect, test } from 'vitest';
import { TapPort, tapInterfaces } from '../../src/tap/port.js';
import { SyscallError } from '../../src/native/addon.js';
import { ownedTaps, removeLeftoverTap, TAP_OWNER_PREFIX, tapOwner, TapConfigError } from '../../src/tap/tap.js';
import { announceSkip, ip, linkJson, uniqueName } from './env.js';

const skip = announceSkip('test/tap/persistent.test.ts (real TAP devices)');

describe.skipIf(skip)('owned (persistent) TAPs', () => {
  const cleanup: string[] = [];
  afterAll(async () => {
    for (const name of cleanup) await ip('link', 'del', name).catch(() => undefined);
  });

  test('tap_owned_is_marked_and_close_removes_it', async () => {
    const name = uniqueName('wnbp');
    cleanup.push(name);
    const port = TapPort.open(name, { mtu: 1500, owner: '/local/domain/0/backend/vif/7/0' });
    expect(port.adopted).toBe(false);
    expect(tapOwner(name)).toBe('/local/domain/0/backend/vif/7/0');
    expect((await linkJson(name))?.ifalias).toBe(`${TAP_OWNER_PREFIX}/local/domain/0/backend/vif/7/0`);
    expect(ownedTaps()).toContainEqual({ name, owner: '/local/domain/0/backend/vif/7/0' });
    await port.close();
    expect(await linkJson(name)).toBeUndefined();
  });

  test('tap_not_owned_goes_with_its_process', async () => {
    const name = uniqueName('wnbp');
    cleanup.push(name);
    const port = TapPort.open(name, { mtu: 1500 });
    expect(tapOwner(name)).toBeUndefined();
    port.abandon();
    expect(await linkJson(name)).toBeUndefined();
  });

  test('tap_owned_outlives_its_process_on_its_bridge_and_is_adopted', async () => {
    const name = uniqueName('wnbp');
    const bridge = uniqueName('wnbbr');
    cleanup.push(name, bridge);
    await ip('link', 'add', bridge, 'type', 'bridge');
    const owner = '/local/domain/0/backend/vif/8/0';
    const first = TapPort.open(name, { mtu: 1400, owner });
    // what vif-bridge does after InitWait (set_mtu gives the vif the bridge's MTU)
    await ip('link', 'set', name, 'master', bridge);
    await ip('link', 'set', name, 'mtu', '9000');
    await ip('link', 'set', name, 'up');
    first.abandon();

    const left = await linkJson(name);
    expect(left?.master).toBe(bridge);
    expect(left?.flags).toContain('NO-CARRIER'); // nobody attached: the bridge stops sending to it

    // someone else's device (here another vif's leftover) is refused, not taken over and re-marked
    expect(() => TapPort.open(name, { mtu: 1400, owner: '/local/domain/0/backend/vif/9/0' })).toThrow(SyscallError);
    expect(tapOwner(name)).toBe(owner);

    const again = TapPort.open(name, { mtu: 1400, owner });
    expect(again.adopted).toBe(true);
    const adopted = await linkJson(name);
    expect(adopted?.master).toBe(bridge);
    expect(adopted?.flags).toContain('UP');
    expect(adopted?.mtu).toBe(9000); // what the hotplug script set stays
    // a second holder of a live device is refused too
    expect(() => TapPort.open(name, { mtu: 1400, owner })).toThrow(SyscallError);
    await again.close();
    expect(await linkJson(name)).toBeUndefined();
  });

  test('tap_interfaces_persistent_marks_with_the_vif_owner', async () => {
    const marked = uniqueName('wnbp');
    const plain = uniqueName('wnbp');
    cleanup.push(marked, plain);
    const owner = '/local/domain/0/backend/vif/11/0';
    const a = await tapInterfaces({ persistent: true }).create(marked, { mtu: 1500, owner });
    const b = await tapInterfaces().create(plain, { mtu: 1500, owner });
    expect(tapOwner(marked)).toBe(owner);
    expect(tapOwner(plain)).toBeUndefined();
    await a.close();
    await b.close();
    expect(await linkJson(marked)).toBeUndefined();
  });

  test('tap_leftover_is_swept', async () => {
    const name = uniqueName('wnbp');
    cleanup.push(name);
    TapPort.open(name, { mtu: 1500, owner: '/local/domain/0/backend/vif/10/0' }).abandon();
    expect(ownedTaps().map((t) => t.name)).toContain(name);
    removeLeftoverTap(name);
    expect(await linkJson(name)).toBeUndefined();
    expect(ownedTaps().map((t) => t.name)).not.toContain(name);
  });

  test('tap_owner_that_does_not_fit_an_ifalias_is_refused', () => {
    const name = uniqueName('wnbp');
    expect(() => TapPort.open(name, { mtu: 1500, owner: 'x'.repeat(300) })).toThrow(TapConfigError);
    expect(() => TapPort.open(name, { mtu: 1500, owner: 'a\nb' })).toThrow(TapConfigError);
  });
});
