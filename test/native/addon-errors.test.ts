// The addon's error mapping: no addon, TAP or root needed.

import { describe, expect, test } from 'vitest';
import { NativeAddonMissingError, NativeUsageError, SyscallError, translateNativeError } from '../../src/native/addon.js';
import { NetbackError } from '../../src/errors.js';

describe('native errors', () => {
  test('native_error_errno', () => {
    const raw = Object.assign(new Error('read: EBADF (Bad file descriptor)'), { code: 'EBADF', errno: 9, syscall: 'read' });
    const e = translateNativeError(raw);
    expect(e).toBeInstanceOf(SyscallError);
    expect(e).toBeInstanceOf(NetbackError);
    expect(e).toMatchObject({ code: 'EBADF', errno: 9, syscall: 'read', done: undefined });
    expect(translateNativeError(Object.assign(new Error('w'), { code: 'EIO', errno: 5, syscall: 'write', done: 3 }))).toMatchObject({ done: 3 });
  });

  test('native_error_usage', () => {
    const e = translateNativeError(Object.assign(new RangeError('offset'), { code: 'NETBACK_NATIVE_BOUNDS' }));
    expect(e).toBeInstanceOf(NativeUsageError);
    expect((e as NativeUsageError).code).toBe('NETBACK_NATIVE_BOUNDS');
    const other = new TypeError('something else');
    expect(translateNativeError(other)).toBe(other);
  });

  test('native_error_missing', () => {
    const e = new NativeAddonMissingError(['/x/build/Release/netback.node'], new Error('not built'));
    expect(e.code).toBe('NETBACK_NATIVE_MISSING');
    expect(e.message).toContain('npm run build:native');
    expect(e.message).toContain('python3, make and gcc');
  });
});
