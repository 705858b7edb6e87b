// TAP open/configure/close against the real kernel, in the root namespace: the devices stay down
// and have no address, so no traffic flows; every device is closed (hence removed) in afterAll.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, test } from 'vitest';
import { loadNative, nativeAddonFile, NativeUsageError, SyscallError } from '../../src/native/addon.js';
import { TapClosedError, TapConfigError, TapDevice } from '../../src/tap/tap.js';
import { announceSkip, linkJson, uniqueName, withTimeout } from './env.js';

const run = promisify(execFile);
const skip = announceSkip('test/tap/open.test.ts (real TAP devices)');

describe.skipIf(skip)('TAP open', () => {
  const opened: TapDevice[] = [];
  const open = (...args: Parameters<typeof TapDevice.open>): TapDevice => {
    const tap = TapDevice.open(...args);
    opened.push(tap);
    return tap;
  };
  afterAll(() => {
    for (const tap of opened) tap.close();
  });

  test('tap_open_configures', async () => {
    const name = uniqueName('wnbo');
    const tap = open({ name, mtu: 1400, offloads: { csum: true, tso4: true, tso6: true } });
    expect(tap.name).toBe(name);
    const link = await linkJson(name, undefined, '-d');
    expect(link?.mtu).toBe(1400);
    expect(tap.mtu).toBe(1400);
    // The kernel's view of how the device was created (drivers/net/tun.c tun_fill_info).
    expect((link?.linkinfo as { info_data: unknown }).info_data).toMatchObject({ type: 'tap', pi: false, vnet_hdr: true, persist: false });
    tap.setMtu(9000);
    expect((await linkJson(name))?.mtu).toBe(9000);
  });

  test('tap_open_offloads', async () => {
    // TUNSETOFFLOAD decides which features the stack may use toward us; ethtool reads them back.
    const features = async (name: string): Promise<string> => (await run('ethtool', ['-k', name], { timeout: 10_000 })).stdout;
    const on = open({ name: uniqueName('wnbo'), offloads: { csum: true, tso4: true, tso6: true } });
    const off = open({ name: uniqueName('wnbo'), offloads: {} });
    const onText = await features(on.name);
    const offText = await features(off.name);
    expect(onText).toMatch(/^tx-checksumming: on/m);
    expect(onText).toMatch(/^\s*tx-tcp-segmentation: on/m);
    expect(onText).toMatch(/^\s*tx-tcp6-segmentation: on/m);
    expect(offText).toMatch(/^tx-checksumming: off/m);
    expect(offText).toMatch(/^\s*tx-tcp-segmentation: off/m);
  });

  test('tap_open_set_up', async () => {
    const tap = open({ name: uniqueName('wnbo') });
    expect(tap.isUp()).toBe(false);
    tap.setUp(true);
    expect((await linkJson(tap.name))?.flags).toContain('UP');
    expect(tap.isUp()).toBe(true);
    tap.setUp(false);
    expect((await linkJson(tap.name))?.flags).not.toContain('UP');
    expect(tap.isUp()).toBe(false);
  });

  test('tap_open_gone_after_close', async () => {
    const tap = TapDevice.open({ name: uniqueName('wnbo'), up: true });
    expect(await linkJson(tap.name)).toBeDefined();
    tap.close();
    expect(await linkJson(tap.name)).toBeUndefined();
    expect(tap.closed).toBe(true);
    tap.close(); // idempotent
    expect(() => tap.readInto(new Uint8Array(64), 0, 64)).toThrow(TapClosedError);
    expect(() => tap.setUp(true)).toThrow(TapClosedError);
  });

  test('tap_open_name_template', () => {
    // A %d in the name lets the kernel pick the number (TUNSETIFF → dev_alloc_name).
    const prefix = uniqueName('wnbo').slice(0, 10);
    const tap = open({ name: `${prefix}%d` });
    expect(tap.name).toMatch(new RegExp(`^${prefix}\\d+$`));
  });

  test('tap_open_name_invalid', () => {
    for (const name of ['', 'a'.repeat(16), 'a/b', 'a b', 'a:b', '.', '..']) {
      const attempt = (): TapDevice => open({ name });
      expect(attempt, name).toThrow(TapConfigError);
      try { attempt(); } catch (e) { expect((e as TapConfigError).code).toBe('NETBACK_TAP_BAD_NAME'); }
    }
    // The same rule, enforced below us: the addon refuses IFNAMSIZ overflows, the kernel '/'.
    const addon = loadNative();
    const flags = addon.constants.IFF_TAP | addon.constants.IFF_NO_PI;
    expect(() => addon.tapOpen('a'.repeat(16), flags)).toThrow(NativeUsageError);
    try {
      addon.tapOpen('a/b', flags);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).code).toBe('EINVAL');
      expect((e as SyscallError).syscall).toBe('ioctl TUNSETIFF');
    }
  });

  test('tap_open_busy', () => {
    const name = uniqueName('wnbo');
    const first = open({ name });
    try {
      open({ name });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).code).toBe('EBUSY');
    }
    expect(first.isUp()).toBe(false); // the first one is untouched
  });

  test('tap_open_bad_offloads', () => {
    expect(() => open({ name: uniqueName('wnbo'), offloads: { tso4: true } })).toThrow(TapConfigError);
    // The kernel agrees: TSO without TUN_F_CSUM is EINVAL (drivers/net/tun.c set_offload).
    const tap = open({ name: uniqueName('wnbo') });
    const addon = loadNative();
    try {
      addon.tapSetOffload(tap.fd, addon.constants.TUN_F_TSO4);
      expect.unreachable();
    } catch (e) {
      expect((e as SyscallError).code).toBe('EINVAL');
    }
  });

  test('tap_open_bad_mtu', () => {
    expect(() => open({ name: uniqueName('wnbo'), mtu: 10 })).toThrow(TapConfigError);
    // Above the device's max_mtu the kernel says EINVAL, and open() leaves no device behind.
    const name = uniqueName('wnbo');
    try {
      open({ name, mtu: 65535 });
      expect.unreachable();
    } catch (e) {
      expect((e as SyscallError).code).toBe('EINVAL');
      expect((e as SyscallError).syscall).toBe('ioctl SIOCSIFMTU');
    }
    return expect(linkJson(name)).resolves.toBeUndefined();
  });

  test('tap_poll_worker_exit', async () => {
    // A queue on a worker thread ends with its poll still armed: teardown must wait for libuv to
    // close the handle (whose callback lives in the addon) instead of crashing the process.
    loadNative();
    const addonPath = nativeAddonFile()!; // the file the loader picked: a local build or the prebuilt one
    const name = uniqueName('wnbw');
    const worker = new Worker(`
      const n = require(${JSON.stringify(addonPath)}); const c = n.constants;
      const t = n.tapOpen(${JSON.stringify(name)}, c.IFF_TAP | c.IFF_NO_PI | c.IFF_VNET_HDR);
      n.pollStart(t.fd, c.UV_READABLE, () => {});
      require('node:worker_threads').parentPort.postMessage(t.fd);
      setInterval(() => {}, 1000);`, { eval: true });
    const fd = await withTimeout(new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), 10_000, 'the worker to open its TAP');
    expect(await worker.terminate()).toBe(1);
    // fds belong to the process: the device lives until someone closes the worker's fd.
    expect(await linkJson(name)).toBeDefined();
    loadNative().closeFd(fd);
    expect(await linkJson(name)).toBeUndefined();
  });
});
