// The real device layer without a hypervisor: the addon's gntdev/evtchn calls on fds that are not
// Xen devices (argument and bounds checks, the op pre-checks that keep a whole-call EINVAL away,
// statuses written back when the ioctl fails), and RealGrantTable/RealEventChannels over a fake
// addon (typed errors, dispatch, overflow recovery). The real ioctls run in `npm run test:xen`.

import { closeSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeAvailable, NativeUsageError, SyscallError, type NativeAddon } from '../../src/native/addon.js';
import { GrantTableError, EventChannelDeviceError } from '../../src/xen/errors.js';
import { RealEventChannels } from '../../src/xen/real/event-channels.js';
import { RealGrantTable } from '../../src/xen/real/grant-table.js';
import type { KernelInstance } from '../../src/wasm/module.js';

// GNTOP layout, from assembly/netif/defs.ts by hand
function writeOp(view: DataView, at: number, op: { gref: number; off: number; len: number; local: number; toGuest?: boolean }): void {
  view.setUint32(at, op.gref, true); view.setUint16(at + 4, op.off, true); view.setUint16(at + 6, op.len, true);
  view.setUint32(at + 8, op.local, true); view.setInt16(at + 12, 0x7777, true); view.setUint16(at + 14, op.toGuest ? 1 : 0, true);
}

describe.skipIf(!nativeAvailable())('native gntdev/evtchn calls', () => {
  it('gntdev_grant_copy_prechecks_bad_ops_without_ioctl', () => {
    const native = loadNative();
    const memory = new WebAssembly.Memory({ initial: 1 });
    const view = new DataView(memory.buffer);
    writeOp(view, 0, { gref: 8, off: 4000, len: 200, local: 1024 });      // foreign side crosses its page
    writeOp(view, 16, { gref: 8, off: 0, len: 0, local: 1024 });          // empty
    writeOp(view, 32, { gref: 8, off: 0, len: 100, local: 65500 });       // local side outside memory
    writeOp(view, 48, { gref: 8, off: 0, len: 4097, local: 0, toGuest: true }); // longer than a page
    const fd = openSync('/dev/null', 'r+');
    try {
      expect(native.gntdevGrantCopy(fd, memory.buffer, 0, 4, 1)).toBe(0);
    } finally { closeSync(fd); }
    for (let i = 0; i < 4; i++) expect(view.getInt16(i * 16 + 12, true)).toBe(-10); // GNTST_bad_copy_arg
  });

  it('gntdev_grant_copy_ioctl_failure_marks_every_op', () => {
    const native = loadNative();
    const memory = new WebAssembly.Memory({ initial: 1 });
    const view = new DataView(memory.buffer);
    writeOp(view, 0, { gref: 8, off: 0, len: 64, local: 1024 });
    writeOp(view, 16, { gref: 9, off: 100, len: 64, local: 2048, toGuest: true });
    const fd = openSync('/dev/null', 'r+');
    let error: unknown;
    try {
      native.gntdevGrantCopy(fd, memory.buffer, 0, 2, 1);
    } catch (e) { error = e; } finally { closeSync(fd); }
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).syscall).toBe('ioctl IOCTL_GNTDEV_GRANT_COPY');
    expect(view.getInt16(12, true)).toBe(-1); // GNTST_general_error
    expect(view.getInt16(28, true)).toBe(-1);
  });

  it('gntdev_grant_copy_ops_outside_memory_rejected', () => {
    const native = loadNative();
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(() => native.gntdevGrantCopy(0, memory.buffer, 65536 - 8, 1, 1)).toThrow(NativeUsageError);
  });

  it('gntdev_map_page_checks_alignment_and_bounds', () => {
    const native = loadNative();
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(() => native.gntdevMapPage(0, 1, 8, memory.buffer, 100, true)).toThrow(NativeUsageError);
    expect(() => native.gntdevMapPage(0, 1, 8, memory.buffer, 65536, true)).toThrow(NativeUsageError);
    expect(() => native.gntdevUnmapPage(0, 0, memory.buffer, 61440 + 1)).toThrow(NativeUsageError);
  });

  it('evtchn_calls_on_a_non_evtchn_fd_are_syscall_errors', () => {
    const native = loadNative();
    const fd = openSync('/dev/null', 'r+');
    try {
      expect(() => native.evtchnBindInterdomain(fd, 1, 5)).toThrow(SyscallError);
      expect(() => native.evtchnNotify(fd, 5)).toThrow(SyscallError);
      expect(native.evtchnReadPending(fd, new Uint32Array(4))).toBe(0); // /dev/null reads EOF: nothing fired
    } finally { closeSync(fd); }
  });
});

/** A fake addon: only the calls under test, recording what they were given. */
function fakeNative(overrides: Partial<NativeAddon>): NativeAddon {
  const base: Partial<NativeAddon> = {
    constants: { UV_READABLE: 1 } as NativeAddon['constants'],
    closeFd: () => {}, pollStart: () => ({}) as never, pollStop: () => {}, bufferAddress: () => 4096,
    gntdevOpen: () => 3, gntdevSetMaxGrants: () => { throw new SyscallError('ENOTTY', 25, 'ioctl', 'no', undefined); },
    evtchnOpen: () => 4,
  };
  return { ...base, ...overrides } as NativeAddon;
}

function fakeInstance(constants: Record<string, number>): KernelInstance {
  const memory = new WebAssembly.Memory({ initial: 1 });
  return { memory, constant: (name: string) => constants[name] ?? 0 } as unknown as KernelInstance;
}
const GNTOP = { GNTOP_SIZE: 16, GNTOP_GREF: 0, GNTOP_GUEST_OFF: 4, GNTOP_LEN: 6, GNTOP_LOCAL: 8, GNTOP_STATUS: 12, GNTOP_FLAGS: 14, GNTOP_F_TO_GUEST: 1 };

describe('RealGrantTable over a fake addon', () => {
  it('grant_table_copy_failure_returns_false', () => {
    const grants = new RealGrantTable({ native: fakeNative({ gntdevGrantCopy: () => { throw new SyscallError('EFAULT', 14, 'ioctl IOCTL_GNTDEV_GRANT_COPY', 'bad', undefined); } }) });
    expect(grants.copy(1, { instance: fakeInstance(GNTOP), opsAddress: 0, count: 3 })).toBe(false);
    expect(grants.stats.copyFailures).toBe(1);
  });

  it('grant_table_refuses_a_different_op_format', () => {
    const grants = new RealGrantTable({ native: fakeNative({ gntdevGrantCopy: () => 0 }) });
    expect(() => grants.copy(1, { instance: fakeInstance({ ...GNTOP, GNTOP_LOCAL: 12 }), opsAddress: 0, count: 1 })).toThrow(GrantTableError);
  });

  it('grant_table_map_error_is_typed_and_unmap_once', () => {
    const calls: string[] = [];
    const grants = new RealGrantTable({ native: fakeNative({
      gntdevMapPage: (_fd, _d, gref) => { if (gref === 99) throw new SyscallError('EINVAL', 22, 'ioctl IOCTL_GNTDEV_MAP_GRANT_REF', 'bad', undefined); return 4096 * gref; },
      gntdevUnmapPage: (_fd, index) => { calls.push(`unmap ${index}`); },
    }) });
    const instance = fakeInstance(GNTOP);
    const error = (() => { try { grants.mapPage(1, 99, instance, 8192, false); } catch (e) { return e; } })();
    expect(error).toBeInstanceOf(GrantTableError);
    expect(error).toMatchObject({ code: 'NETBACK_GNTDEV_MAP', errno: 'EINVAL' });
    const mapping = grants.mapPage(1, 2, instance, 8192, false);
    grants.mapPage(1, 3, instance, 12288, false);
    expect(grants.stats.mapped).toBe(2);
    mapping.unmap();
    mapping.unmap();
    grants.close(); // unmaps the one left
    expect(calls).toEqual(['unmap 8192', 'unmap 12288']);
  });
});

describe('RealEventChannels over a fake addon', () => {
  it('event_channels_dispatch_unmask_and_overflow', () => {
    let ready: (() => void) | undefined;
    const pending: number[][] = [];
    const written: number[] = [];
    let reads = 0;
    let overflow = false;
    const events = new RealEventChannels({ native: fakeNative({
      pollStart: (_fd, _ev, cb) => { ready = () => cb(0, 1); return {} as never; },
      evtchnBindInterdomain: (_fd, _d, port) => port + 100,
      evtchnReadPending: (_fd, out) => {
        reads++;
        if (overflow) { overflow = false; throw new SyscallError('EFBIG', 27, 'read /dev/xen/evtchn', 'overflow', undefined); }
        const next = pending.shift() ?? [];
        next.forEach((p, i) => { out[i] = p; });
        return next.length;
      },
      evtchnUnmask: (_fd, port) => { written.push(port); },
      evtchnNotify: () => { throw new SyscallError('EINVAL', 22, 'ioctl IOCTL_EVTCHN_NOTIFY', 'gone', undefined); },
      evtchnUnbind: () => {},
    }) });
    const got: string[] = [];
    const a = events.bindInterdomain(1, 5, () => got.push('a'));
    const b = events.bindInterdomain(1, 6, () => got.push('b'));
    expect([a.localPort, b.localPort]).toEqual([105, 106]);
    // a read that did not fill the buffer emptied the device's ring: one read per wake, and a port
    // that fired after it stays pending on the level-triggered poll, delivered at its next wake
    pending.push([106, 105], [105]);
    ready!();
    expect(got).toEqual(['b', 'a']);
    expect(reads).toBe(1);
    ready!();
    expect(got).toEqual(['b', 'a', 'a']);
    expect(reads).toBe(2);
    // a full buffer may have left ports behind: read again, until a short read
    const full = Array.from({ length: 1024 }, (_, i) => (i % 2 === 0 ? 105 : 106));
    pending.push(full, [106]);
    got.length = 0;
    reads = 0;
    ready!();
    expect(got.length).toBe(1025);
    expect(got.at(-1)).toBe('b');
    expect(reads).toBe(2);
    a.unmask();
    expect(written).toEqual([105]);
    a.notify(); // a failing notify is counted, not thrown
    expect(events.stats.notifyErrors).toBe(1);
    overflow = true;
    got.length = 0;
    ready!();
    expect(got.sort()).toEqual(['a', 'b']); // lost events: every port gets one
    b.close();
    pending.push([106]);
    ready!();
    expect(got.sort()).toEqual(['a', 'b']); // nothing for a closed port
    expect(events.boundPorts).toBe(1);
  });

  it('event_channels_bind_error_is_typed', () => {
    const events = new RealEventChannels({ native: fakeNative({
      evtchnBindInterdomain: () => { throw new SyscallError('EINVAL', 22, 'ioctl IOCTL_EVTCHN_BIND_INTERDOMAIN', 'bad', undefined); },
    }) });
    expect(() => events.bindInterdomain(1, 5, () => {})).toThrow(EventChannelDeviceError);
  });
});
