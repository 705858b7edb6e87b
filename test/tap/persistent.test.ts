// The daemon's owned TAPs against the real kernel: persistent and marked while we hold them,
// removed by close(), left on their bridge when the process dies (abandon() is what the kernel does
// to a dead process's fd), adopted by the next open for the same owner, and swept when orphaned.
import { afterAll, describe, expect, test } from 'vitest';
import { TapPort } from '../../src/tap/port.js';
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
    // what vif-bridge does after InitWait
    await ip('link', 'set', name, 'master', bridge);
    await ip('link', 'set', name, 'up');
    first.abandon();

    const left = await linkJson(name);
    expect(left?.master).toBe(bridge);
    expect(left?.mtu).toBe(1400);
    expect(left?.flags).toContain('NO-CARRIER'); // nobody attached: the bridge stops sending to it

    const other = TapPort.open(name, { mtu: 1400, owner: '/local/domain/0/backend/vif/9/0' });
    expect(other.adopted).toBe(false); // someone else's leftover is not ours to carry on with
    other.abandon();
    expect(tapOwner(name)).toBe('/local/domain/0/backend/vif/9/0');

    const again = TapPort.open(name, { mtu: 1400, owner: '/local/domain/0/backend/vif/9/0' });
    expect(again.adopted).toBe(true);
    const adopted = await linkJson(name);
    expect(adopted?.master).toBe(bridge);
    expect(adopted?.flags).toContain('UP');
    await again.close();
    expect(await linkJson(name)).toBeUndefined();
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
