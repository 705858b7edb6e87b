// `check` on fake filesystem roots (each case built from what the preflight is documented to look
// at), and the daemon's option resolution, config file and log formats. The daemon against real
// devices runs in `npm run test:xen`.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { runChecks } from '../../src/cli/check.js';
import { DaemonOptionError, makeLogger, parseConfigFile, resolveDaemonSettings } from '../../src/cli/daemon.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

const roots: string[] = [];
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'nbcheck-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else writeFileSync(join(root, path), content);
  }
  return root;
}
afterEach(() => { for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true }); });

const DOM0 = {
  '/proc/xen/capabilities': 'control_d\n', '/var/run/xenstored/socket': '', '/dev/xen/gntdev': '', '/dev/xen/evtchn': '', '/dev/net/tun': '',
};

describe('wasm-netback check', () => {
  it('check_dom0_ready', () => {
    const report = runChecks({ root: fakeRoot(DOM0), uid: 0, nativeAvailable: true });
    expect(report.exitCode).toBe(0);
    expect(report.role).toBe('dom0');
    expect(report.items.every((i) => i.verdict === 'ok')).toBe(true);
  });

  it('check_driver_domain_with_xenbus_device', () => {
    const { '/proc/xen/capabilities': _c, '/var/run/xenstored/socket': _s, ...rest } = DOM0;
    const report = runChecks({ root: fakeRoot({ ...rest, '/proc/xen/capabilities': '\n', '/dev/xen/xenbus': '' }), uid: 0, nativeAvailable: true });
    expect(report.exitCode).toBe(0);
    expect(report.role).toBe('driver-domain');
    expect(report.items.find((i) => i.name === 'xenstore')?.detail).toBe('/dev/xen/xenbus');
  });

  it('check_missing_devices_named_exit_69', () => {
    const report = runChecks({ root: fakeRoot({ '/proc/xen/capabilities': 'control_d\n', '/dev/xen/xenbus': '' }), uid: 0, nativeAvailable: true });
    expect(report.exitCode).toBe(69);
    const missing = report.items.filter((i) => i.verdict === 'missing').map((i) => i.name);
    expect(missing).toEqual(['/dev/xen/gntdev', '/dev/xen/evtchn', '/dev/net/tun']);
  });

  it('check_not_xen_exit_69', () => {
    const report = runChecks({ root: fakeRoot({}), uid: 0, nativeAvailable: true });
    expect(report.exitCode).toBe(69);
    expect(report.role).toBeUndefined();
    expect(report.items.find((i) => i.name === 'xen')?.verdict).toBe('missing');
    expect(report.items.find((i) => i.name === 'xenstore')?.verdict).toBe('missing');
  });

  it('check_not_root_exit_77', () => {
    const report = runChecks({ root: fakeRoot(DOM0), uid: 1000, nativeAvailable: true });
    expect(report.exitCode).toBe(77);
  });

  it('check_native_missing_exit_69', () => {
    expect(runChecks({ root: fakeRoot(DOM0), uid: 1000, nativeAvailable: false }).exitCode).toBe(69); // 69 outranks 77
  });

  it('check_kernel_netback_loaded_refuses_78', () => {
    const loaded = runChecks({ root: fakeRoot({ ...DOM0, '/sys/module/xen_netback/': '' }), uid: 0, nativeAvailable: true });
    expect(loaded.exitCode).toBe(78);
    expect(loaded.items.find((i) => i.name === 'xen-netback')?.verdict).toBe('refuse');
    // bound as the xen-backend vif driver (built in: no /sys/module entry needed); 78 outranks 69
    const bound = runChecks({ root: fakeRoot({ '/sys/bus/xen-backend/drivers/vif/': '' }), uid: 1000, nativeAvailable: false });
    expect(bound.exitCode).toBe(78);
  });

  it('check_cli_exit_code_and_json', async () => {
    const root = fakeRoot({ ...DOM0, '/sys/module/xen_netback/': '' });
    const error = await run(process.execPath, [bin, 'check', '--root', root, '--json']).catch((e: { code: number; stdout: string }) => e);
    expect((error as { code: number }).code).toBe(78);
    const report = JSON.parse((error as { stdout: string }).stdout) as { exitCode: number };
    expect(report.exitCode).toBe(78);
  });

  it('check_cli_json_item_exit_is_0_when_ok', async () => {
    // the kernel netback loaded, the rest of a dom0 present: the items that pass say exit 0
    const root = fakeRoot({ ...DOM0, '/sys/module/xen_netback/': '' });
    const error = await run(process.execPath, [bin, 'check', '--root', root, '--json']).catch((e: { stdout: string }) => e);
    const report = JSON.parse((error as { stdout: string }).stdout) as { items: { name: string; verdict: string; exit: number }[] };
    const byName = Object.fromEntries(report.items.map((i) => [i.name, i]));
    expect(byName['xen']).toMatchObject({ verdict: 'ok', exit: 0 });
    expect(byName['/dev/xen/gntdev']).toMatchObject({ verdict: 'ok', exit: 0 });
    expect(byName['xen-netback']).toMatchObject({ verdict: 'refuse', exit: 78 });
    for (const item of report.items) expect(item.exit === 0).toBe(item.verdict === 'ok');
  });

  it('check_json_missing_item_exit_is_its_status', () => {
    const report = runChecks({ root: fakeRoot(DOM0), uid: 1000, nativeAvailable: false });
    expect(report.items.find((i) => i.name === 'root')).toMatchObject({ verdict: 'missing', exit: 77 });
    expect(report.items.find((i) => i.name === 'native addon')).toMatchObject({ verdict: 'missing', exit: 69 });
    expect(report.items.find((i) => i.name === '/dev/net/tun')).toMatchObject({ verdict: 'ok', exit: 0 });
  });
});

describe('wasm-netback daemon options', () => {
  it('daemon_options_defaults', () => {
    const s = resolveDaemonSettings({}, {}, false);
    expect(s).toMatchObject({ splitEventChannels: true, fatalSlots: 20, rxStallTimeoutMs: 60000, rxDrainTimeoutMs: 10000, logFormat: 'json', domid: undefined, preflight: true });
    expect(s.maxQueues).toBeGreaterThanOrEqual(1);
    expect(s.maxQueues).toBeLessThanOrEqual(8);
    expect(resolveDaemonSettings({}, {}, true).logFormat).toBe('human');
    expect(s.viz).toBeUndefined(); // the snapshot server is off unless asked for
    expect(s.vizHost).toBe('127.0.0.1');
    expect(resolveDaemonSettings({ viz: '7041' }, {}, false).viz).toBe(7041);
    expect(resolveDaemonSettings({}, { NETBACK_VIZ: '7042', NETBACK_VIZ_HOST: '::1' }, false)).toMatchObject({ viz: 7042, vizHost: '::1' });
    expect(s.controlSocket).toBe('/run/wasm-netback/control.sock');
    expect(resolveDaemonSettings({ controlSocket: 'none' }, {}, false).controlSocket).toBeNull();
    expect(resolveDaemonSettings({}, { NETBACK_CONTROL_SOCKET: '/run/x/c.sock' }, false).controlSocket).toBe('/run/x/c.sock');
    expect(s.metrics).toBeUndefined();
    expect(resolveDaemonSettings({ metrics: '127.0.0.1:9470' }, {}, false).metrics).toEqual({ host: '127.0.0.1', port: 9470 });
    expect(resolveDaemonSettings({}, { NETBACK_METRICS: '[::1]:0' }, false).metrics).toEqual({ host: '::1', port: 0 });
    expect(s.workers).toBe(availableParallelism()); // a worker thread per CPU the process may use
    expect(resolveDaemonSettings({ workers: '0' }, {}, false).workers).toBe(0);
    expect(resolveDaemonSettings({}, { NETBACK_WORKERS: '3' }, false).workers).toBe(3);
  });

  it('daemon_options_precedence_cli_env_file', () => {
    const file = 'NETBACK_MAX_QUEUES=3\nNETBACK_FATAL_SLOTS="30"\n# comment\nNETBACK_SPLIT_EVENT_CHANNELS=0\n';
    const s = resolveDaemonSettings({ maxQueues: '2', config: '/etc/x' }, { NETBACK_FATAL_SLOTS: '25' }, false, () => file);
    expect(s.maxQueues).toBe(2);       // command line wins
    expect(s.fatalSlots).toBe(25);     // then the environment
    expect(s.splitEventChannels).toBe(false); // then the file
  });

  it('daemon_options_invalid', () => {
    for (const [cli, env] of [
      [{ maxQueues: '0' }, {}], [{ maxQueues: 'two' }, {}], [{}, { NETBACK_FATAL_SLOTS: '-1' }],
      [{ splitEventChannels: 'maybe' }, {}], [{ logFormat: 'xml' }, {}], [{ domid: '70000' }, {}],
      [{ viz: 'http' }, {}], [{ viz: '0' }, {}], [{}, { NETBACK_VIZ: '65536' }],
      [{ workers: '-1' }, {}], [{ workers: 'all' }, {}], [{}, { NETBACK_WORKERS: '1025' }],
      [{ controlSocket: '' }, {}], [{ controlSocket: `/${'x'.repeat(107)}` }, {}],
      [{ metrics: '9470' }, {}], [{ metrics: '127.0.0.1:' }, {}], [{}, { NETBACK_METRICS: '127.0.0.1:65536' }], [{ metrics: '::1:9470' }, {}],
    ] as const) {
      expect(() => resolveDaemonSettings(cli, env, false)).toThrow(DaemonOptionError);
    }
    expect(() => resolveDaemonSettings({ config: '/x' }, {}, false, () => 'NETBACK_NOPE=1')).toThrow(/unknown setting NETBACK_NOPE/);
    expect(() => parseConfigFile('garbage line', 'f')).toThrow(/f:1/);
  });

  it('daemon_cli_invalid_option_exits_64', async () => {
    const error = await run(process.execPath, [bin, 'daemon', '--max-queues', 'zero']).catch((e: { code: number; stderr: string }) => e);
    expect((error as { code: number }).code).toBe(64);
    expect((error as { stderr: string }).stderr).toContain('--max-queues');
  });

  it('daemon_metrics_bad_address_exits_64', async () => {
    const error = await run(process.execPath, [bin, 'daemon', '--metrics', '9470']).catch((e: { code: number; stderr: string }) => e);
    expect((error as { code: number }).code).toBe(64);
    expect((error as { stderr: string }).stderr).toContain('--metrics takes HOST:PORT');
  });

  it('daemon_metrics_port_taken_exits_69_before_any_device', async () => {
    // the metrics port is taken before xenstore is opened: no Xen needed to see it refused
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const error = await run(process.execPath, [bin, 'daemon', '--no-preflight', '--control-socket', 'none', '--log-format', 'json', '--metrics', `127.0.0.1:${port}`])
        .catch((e: { code: number; stdout: string }) => e);
      expect((error as { code: number }).code).toBe(69);
      const lines = (error as { stdout: string }).stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; event?: string });
      expect(lines).toEqual([expect.objectContaining({ level: 'error', event: 'metrics', msg: expect.stringMatching(new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`)) })]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('daemon_log_formats', () => {
    const lines: string[] = [];
    const at = () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    makeLogger('json', (l) => lines.push(l), at)('info', 'vif connected', { domid: 3, devid: 0, vif: 'vif3.0', queue: undefined });
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2024-01-02T03:04:05.000Z', level: 'info', msg: 'vif connected', domid: 3, devid: 0, vif: 'vif3.0' });
    makeLogger('human', (l) => lines.push(l), at)('warn', 'slow', { vif: 'vif3.0', queue: 1 });
    expect(lines[1]).toBe('2024-01-02T03:04:05.000Z WARN  slow  vif=vif3.0 queue=1\n');
  });
});
