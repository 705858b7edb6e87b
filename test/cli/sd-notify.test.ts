// Readiness for systemd: the addon's sdNotify sends one AF_UNIX datagram from this process, and
// a `sim` child announces READY=1 / STOPPING=1 itself. A Python receiver stands in for systemd's
// notification socket and reports each datagram with the sender's pid from SCM_CREDENTIALS —
// the pid systemd matches against MainPID when the unit says NotifyAccess=main.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { sdNotify } from '../../src/cli/sd-notify.js';
import { loadNative, nativeAvailable, NativeUsageError, SyscallError } from '../../src/native/addon.js';

const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const receiverScript = new URL('../support/notify-receiver.py', import.meta.url).pathname;
const python = (() => { try { execFileSync('python3', ['-c', 'import socket; socket.SO_PASSCRED']); return true; } catch { return false; } })();

interface Datagram { data: string; pid: number | null }

/** Binds `socket` in a python3 child; resolves once bound, with the datagrams as they come. */
async function receiver(socket: string, count: number): Promise<{ datagrams: Promise<Datagram[]>; child: ChildProcess }> {
  const child = spawn('python3', [receiverScript, socket, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const received: Datagram[] = [];
  let bound: () => void;
  const ready = new Promise<void>((resolve) => { bound = resolve; });
  const datagrams = new Promise<Datagram[]>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line === 'bound') bound();
      else received.push(JSON.parse(line) as Datagram);
    });
    child.on('exit', (code) => (code === 0 ? resolve(received) : reject(new Error(`receiver exited ${code} after ${JSON.stringify(received)}`))));
  });
  await Promise.race([ready, datagrams]);
  return { datagrams, child };
}

const dirs: string[] = [];
afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });
function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbnotify-'));
  dirs.push(dir);
  return join(dir, 'notify');
}
const abstractName = () => `@wasm-netback-test-${process.pid}-${Math.random().toString(16).slice(2)}`;

describe('sdNotify wrapper', () => {
  it('sdnotify_without_notify_socket_sends_nothing', () => {
    const sent: string[] = [];
    expect(sdNotify({ READY: 1 }, {}, (_p, m) => sent.push(m))).toBe(false);
    expect(sdNotify({ READY: 1 }, { NOTIFY_SOCKET: '' }, (_p, m) => sent.push(m))).toBe(false);
    expect(sent).toEqual([]);
  });

  it('sdnotify_formats_key_value_lines', () => {
    const sent: [string, string][] = [];
    expect(sdNotify({ READY: 1, MAINPID: 42, STATUS: 'serving' }, { NOTIFY_SOCKET: '@x' }, (p, m) => sent.push([p, m]))).toBe(true);
    expect(sent).toEqual([['@x', 'READY=1\nMAINPID=42\nSTATUS=serving']]);
  });
});

describe.skipIf(!nativeAvailable() || !python)('native sdNotify (AF_UNIX datagram)', () => {
  it('sdnotify_path_socket_receives_the_message_from_this_pid', async () => {
    const path = socketPath();
    const { datagrams } = await receiver(path, 1);
    expect(loadNative().sdNotify!(path, `READY=1\nMAINPID=${process.pid}`)).toBe(`READY=1\nMAINPID=${process.pid}`.length);
    expect(await datagrams).toEqual([{ data: `READY=1\nMAINPID=${process.pid}`, pid: process.pid }]);
  });

  it('sdnotify_abstract_socket', async () => {
    const name = abstractName();
    const { datagrams } = await receiver(name, 2);
    sdNotify({ STOPPING: 1 }, { NOTIFY_SOCKET: name });
    sdNotify({ RELOADING: 1, MONOTONIC_USEC: 123 }, { NOTIFY_SOCKET: name });
    expect(await datagrams).toEqual([{ data: 'STOPPING=1', pid: process.pid }, { data: 'RELOADING=1\nMONOTONIC_USEC=123', pid: process.pid }]);
  });

  it('sdnotify_invalid', () => {
    const native = loadNative();
    for (const [path, message] of [['', 'READY=1'], ['@', 'READY=1'], [`/${'x'.repeat(107)}`, 'READY=1'], [`@${'x'.repeat(108)}`, 'READY=1'], ['/tmp/x', ''], ['/tmp/x', 'x'.repeat(4096)]]) {
      expect(() => native.sdNotify!(path, message), `${path.slice(0, 10)} ${message.length}`).toThrow(NativeUsageError);
    }
    expect(() => native.sdNotify!(3 as unknown as string, 'READY=1')).toThrow(NativeUsageError);
    let error: unknown;
    try { native.sdNotify!(join(socketPath(), 'absent'), 'READY=1'); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(SyscallError);
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'sendto NOTIFY_SOCKET' });
    // nobody bound to this abstract name: the kernel refuses the datagram
    expect(() => native.sdNotify!(abstractName(), 'READY=1')).toThrow(SyscallError);
  });

  it('sdnotify_sim_child_announces_ready_and_stopping_from_its_main_pid', async () => {
    const name = abstractName();
    const { datagrams } = await receiver(name, 2);
    const sim = spawn(process.execPath, [bin, 'sim', '--seconds', '2', '--json', '--no-viz'], { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: name } });
    const exited = new Promise<number | null>((resolve) => sim.on('exit', resolve));
    const got = await datagrams;
    expect(await exited).toBe(0);
    expect(got).toEqual([{ data: `READY=1\nMAINPID=${sim.pid}`, pid: sim.pid }, { data: 'STOPPING=1', pid: sim.pid }]);
  });
});
