// The addon's error mapping: no addon, TAP or root needed.

import { describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_FAILURE_LOG, installFailureSummary, NativeAddonMissingError, NativeUsageError, SyscallError, translateNativeError } from '../../src/native/addon.js';
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
    const e = new NativeAddonMissingError('/x', new Error('No native build was found for platform=linux arch=ppc64\n    loaded from: /x\n'));
    expect(e.code).toBe('NETBACK_NATIVE_MISSING');
    expect(e.message).toContain('(No native build was found for platform=linux arch=ppc64)');
    expect(e.message).toContain('npm run build:native');
    expect(e.message).toContain('python3, make and gcc');
    expect(e.message).not.toContain('npm install');
    expect(e.installFailure).toBeUndefined();
  });

  test('native_error_missing_install_failure', () => {
    const e = new NativeAddonMissingError('/x', new Error('none'), '/bin/sh: 1: gcc: not found');
    expect(e.message).toContain(`npm install could not build it: /bin/sh: 1: gcc: not found (node-gyp's output: /x/${INSTALL_FAILURE_LOG})`);
    expect(e.installFailure).toBe('/bin/sh: 1: gcc: not found');
  });

  test.each([
    ['compiler', ['gyp info it worked if it ends with ok', '  CC(target) Release/obj.target/netback/native/netback.o', '/bin/sh: 1: gcc: not found',
      'make: *** [netback.target.mk:117: Release/obj.target/netback/native/netback.o] Error 127', 'gyp ERR! build error'], '/bin/sh: 1: gcc: not found'],
    ['gyp_only', ['gyp info it worked if it ends with ok', 'gyp ERR! find Python Python is not set from command line or npm configuration', 'gyp ERR! configure error'],
      'gyp ERR! find Python Python is not set from command line or npm configuration'],
    ['no_gyp', ['node-gyp not found: spawn node-gyp ENOENT'], 'node-gyp not found: spawn node-gyp ENOENT'],
    ['empty', [], 'no output'],
  ])('install_failure_summary_%s', (_case, lines, summary) => {
    const root = mkdtempSync(join(tmpdir(), 'nbaddon-'));
    try {
      mkdirSync(join(root, 'build'));
      writeFileSync(join(root, INSTALL_FAILURE_LOG), `${lines.join('\n')}\n`);
      expect(installFailureSummary(root)).toBe(summary);
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  test('install_failure_summary_no_log', () => {
    expect(installFailureSummary(mkdtempSync(join(tmpdir(), 'nbaddon-')))).toBeUndefined();
  });
});
