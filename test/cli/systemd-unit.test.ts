// packaging/systemd: the unit carries what the design and Debian's Xen units need, systemd itself
// accepts it (systemd-analyze verify), and the example /etc/default file holds only settings the
// daemon knows, with the daemon's defaults.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/check.js';
import { DEFAULT_CONTROL_SOCKET } from '../../src/cli/control-protocol.js';
import { EX_CANTCREAT } from '../../src/cli/exit.js';
import { resolveDaemonSettings } from '../../src/cli/daemon.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const unitPath = new URL('../../packaging/systemd/wasm-netback.service', import.meta.url).pathname;
const defaultsPath = new URL('../../packaging/systemd/wasm-netback.default', import.meta.url).pathname;
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
// CI (CI=true) installs systemd for this: there a missing systemd-analyze fails instead of skipping
const noAnalyze = existsSync(SYSTEMD_ANALYZE) ? undefined : `${SYSTEMD_ANALYZE} not found (apt-get install systemd)`;
if (noAnalyze !== undefined) {
  if (process.env.CI === 'true') throw new Error(`test/cli/systemd-unit.test.ts: cannot verify the unit (${noAnalyze}) but CI=true`);
  console.warn(`SKIP systemd-analyze verify in test/cli/systemd-unit.test.ts: ${noAnalyze}`);
}

/** section → key → every value, in order (systemd keys may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) { section = header[1]!; out[section] ??= {}; continue; }
    const eq = line.indexOf('=');
    ((out[section]![line.slice(0, eq)] ??= [])).push(line.slice(eq + 1));
  }
  return out;
}

const unitText = readFileSync(unitPath, 'utf8');
const unit = parseUnit(unitText);
const words = (section: string, key: string) => (unit[section]?.[key] ?? []).flatMap((v) => v.split(/\s+/));

const dirs: string[] = [];
afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });

describe('packaging/systemd/wasm-netback.service', () => {
  it('unit_orders_around_xen_and_signals_readiness', () => {
    expect(words('Unit', 'Before')).toContain('xendomains.service');
    // Debian's xen.service (/etc/init.d/xen) or upstream Xen's xenstored.service and proc-xen.mount;
    // Requires= would fail on a host without one of them, and Debian has none of upstream's
    expect(words('Unit', 'Requires')).toEqual([]);
    for (const dep of ['xen.service', 'xenstored.service', 'proc-xen.mount']) {
      expect(words('Unit', 'Wants')).toContain(dep);
      expect(words('Unit', 'After')).toContain(dep);
    }
    expect(unit.Unit!.RefuseManualStop).toEqual(['true']);
    expect(unit.Service).toMatchObject({
      Type: ['notify'], NotifyAccess: ['main'], ExecReload: ['/bin/kill -HUP $MAINPID'],
      EnvironmentFile: ['-/etc/default/wasm-netback'], Restart: ['on-failure'],
      RuntimeDirectory: ['wasm-netback'], RuntimeDirectoryMode: ['0700'],
    });
    // where the Debian package (npm run package) puts the command
    expect(unit.Service!.ExecStart).toEqual(['/usr/bin/wasm-netback daemon']);
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target']);
  });

  it('unit_runtime_directory_holds_the_default_control_socket', () => {
    expect(dirname(DEFAULT_CONTROL_SOCKET)).toBe(`/run/${unit.Service!.RuntimeDirectory![0]}`);
  });

  it('unit_does_not_restart_into_the_same_failure', () => {
    // the exits no restart can heal: bad options, the control socket taken, the kernel netback loaded
    expect(words('Service', 'RestartPreventExitStatus').map(Number).sort()).toEqual([EXIT.usage, EX_CANTCREAT, EXIT.config].sort());
  });

  it.skipIf(noAnalyze !== undefined)('unit_passes_systemd_analyze_verify', async () => {
    // verify fails on an ExecStart= binary that does not exist and on dependencies it cannot load:
    // check a copy that runs this checkout's build, next to stand-ins for the Xen units this
    // machine may not have (verify looks for units in the directory of the one it checks)
    const dir = mkdtempSync(join(tmpdir(), 'nbunit-'));
    dirs.push(dir);
    const copy = unitText.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${bin} daemon`);
    expect(copy.split('\n').filter((line, i) => line !== unitText.split('\n')[i])).toHaveLength(1);
    writeFileSync(join(dir, 'wasm-netback.service'), copy);
    for (const name of ['xen.service', 'xenstored.service', 'xendomains.service']) writeFileSync(join(dir, name), '[Unit]\nDescription=stand-in\n[Service]\nExecStart=/bin/true\n');
    writeFileSync(join(dir, 'proc-xen.mount'), '[Unit]\nDescription=stand-in\n[Mount]\nWhat=xenfs\nWhere=/proc/xen\nType=xenfs\n');
    const result = await run(SYSTEMD_ANALYZE, ['verify', join(dir, 'wasm-netback.service')]).then(
      (ok) => ({ code: 0, stderr: ok.stderr }), (error: { code: number; stderr: string }) => error);
    // unknown keys and bad values are only warnings: any line about our unit counts
    const ours = result.stderr.split('\n').filter((line) => line.includes('wasm-netback'));
    expect({ code: result.code, ours }).toEqual({ code: 0, ours: [] });
  });

  it.skipIf(noAnalyze !== undefined)('unit_verify_catches_a_broken_copy', async () => {
    // the check above can fail: a misspelt Type= is an error, a misspelt key a warning line
    const dir = mkdtempSync(join(tmpdir(), 'nbunit-'));
    dirs.push(dir);
    const broken = unitText.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${bin} daemon`)
      .replace('Type=notify', 'Type=notifyy').replace('RefuseManualStop=', 'RefuseManualStopp=').replace(/^(Wants|After)=.*$/gm, '');
    writeFileSync(join(dir, 'wasm-netback.service'), broken);
    const result = await run(SYSTEMD_ANALYZE, ['verify', join(dir, 'wasm-netback.service')]).then(
      (ok) => ({ code: 0, stderr: ok.stderr }), (error: { code: number; stderr: string }) => error);
    expect(result.stderr).toContain('notifyy');
    expect(result.stderr).toContain('RefuseManualStopp');
  });
});

describe('packaging/systemd/wasm-netback.default', () => {
  const text = readFileSync(defaultsPath, 'utf8');
  const settings = [...text.matchAll(/^#(NETBACK_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!] as const);

  it('defaults_file_names_every_daemon_setting', () => {
    expect(settings.map(([key]) => key).sort()).toEqual([
      'NETBACK_CONFIG', 'NETBACK_CONTROL_SOCKET', 'NETBACK_DOMID', 'NETBACK_FATAL_SLOTS', 'NETBACK_LOG_FORMAT', 'NETBACK_MAX_QUEUES', 'NETBACK_METRICS',
      'NETBACK_RX_DRAIN_TIMEOUT_MS', 'NETBACK_RX_STALL_TIMEOUT_MS', 'NETBACK_SPLIT_EVENT_CHANNELS', 'NETBACK_VIZ', 'NETBACK_VIZ_HOST', 'NETBACK_WORKERS',
    ]);
  });

  it('defaults_file_uncommented_is_accepted_and_matches_the_defaults', () => {
    // as an environment (what EnvironmentFile= makes of it) and as a --config file
    const env = Object.fromEntries(settings.filter(([key]) => key !== 'NETBACK_CONFIG'));
    const fromEnv = resolveDaemonSettings({}, env, false);
    const uncommented = text.replace(/^#(NETBACK_(?!CONFIG)[A-Z_]+=)/gm, '$1');
    const fromFile = resolveDaemonSettings({ config: '/etc/default/wasm-netback' }, {}, false, () => uncommented);
    const defaults = resolveDaemonSettings({}, {}, false);
    for (const resolved of [fromEnv, fromFile]) {
      expect(resolved).toMatchObject({
        splitEventChannels: defaults.splitEventChannels, fatalSlots: defaults.fatalSlots, rxStallTimeoutMs: defaults.rxStallTimeoutMs,
        rxDrainTimeoutMs: defaults.rxDrainTimeoutMs, logFormat: defaults.logFormat, vizHost: defaults.vizHost, controlSocket: DEFAULT_CONTROL_SOCKET,
      });
    }
  });
});
