// The Debian package (npm run package) as an operator installs it: into Debian 12 and 13 base
// systems (debootstrap, test/package/debian-chroot.sh, cached), each test on a fresh overlay of
// the base, with `dpkg -i` and with `apt install ./….deb`. There the installed command runs with
// its bundled Node.js and prebuilt addon, and its unit passes `systemd-analyze verify` where the
// package put it, beside Debian's own Xen units. Run by `npm run test:package` (root: chroot and
// mounts; Debian's mirror the first time), which CI runs every time.

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckReport } from '../../src/cli/check.js';
import { EXIT } from '../../src/cli/check.js';

const exec = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const SUITES = ['bookworm', 'trixie'] as const;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const UNIT = '/usr/lib/systemd/system/wasm-netback.service';
const CHROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };

/** WNB_DEB, else the newest .deb `npm run package` left in deb/. */
function packagePath(): string {
  if (process.env.WNB_DEB !== undefined) return process.env.WNB_DEB;
  const dir = join(ROOT, 'deb');
  const debs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => join(dir, f)) : [];
  const newest = debs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (newest === undefined) throw new Error('no package in deb/: run npm run package (npm run test:package does)');
  return newest;
}

interface Result { code: number; stdout: string; stderr: string }

async function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return exec(file, args, { env, maxBuffer: 64 << 20 }).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
}

/** A writable copy of a base system (an overlay: the cached base stays as built), /proc mounted. */
class Overlay {
  readonly dir = mkdtempSync(join(tmpdir(), 'wnb-deb-'));
  readonly root = join(this.dir, 'root');
  private mounted: string[] = [];
  constructor(readonly base: string) {}

  async mount(): Promise<this> {
    for (const sub of ['upper', 'work', 'root']) mkdirSync(join(this.dir, sub));
    await this.must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.base},upperdir=${join(this.dir, 'upper')},workdir=${join(this.dir, 'work')}`, this.root]);
    this.mounted.unshift(this.root);
    await this.must('mount', ['-t', 'proc', 'proc', join(this.root, 'proc')]);
    this.mounted.unshift(join(this.root, 'proc'));
    return this;
  }

  /** A command inside, with a clean environment; never throws. */
  chroot(...command: string[]): Promise<Result> {
    return run('chroot', [this.root, ...command], CHROOT_ENV);
  }

  /** The package copied in at /tmp, its path inside. */
  stage(deb: string): string {
    copyFileSync(deb, join(this.root, 'tmp', basename(deb)));
    return `/tmp/${basename(deb)}`;
  }

  async close(): Promise<void> {
    for (const point of this.mounted.splice(0)) await run('umount', [point]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async must(file: string, args: string[]): Promise<void> {
    const result = await run(file, args);
    if (result.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
  }
}

const overlays: Overlay[] = [];
const bases = new Map<string, string>();
let deb: string;

beforeAll(async () => {
  deb = packagePath();
  // both bases at once: on a fresh machine each is a debootstrap and an apt install (minutes)
  await Promise.all(SUITES.map(async (suite) => {
    const built = await run('bash', [join(ROOT, 'test/package/debian-chroot.sh'), suite]);
    if (built.code !== 0) throw new Error(`debian-chroot.sh ${suite}: ${built.stderr}`);
    bases.set(suite, built.stdout.trim().split('\n').at(-1)!);
    process.stderr.write(built.stderr);
  }));
}, 30 * 60_000);

afterAll(async () => {
  for (const overlay of overlays.splice(0)) await overlay.close();
});

async function fresh(suite: string): Promise<Overlay> {
  const overlay = new Overlay(bases.get(suite)!);
  overlays.push(overlay);
  return overlay.mount();
}

describe.each(SUITES)('the package on Debian %s', (suite) => {
  let installed: Overlay;

  test('install_dpkg_i', async () => {
    installed = await fresh(suite);
    const result = await installed.chroot('dpkg', '-i', installed.stage(deb));
    expect(result, result.stdout + result.stderr).toMatchObject({ code: 0 });
    expect((await installed.chroot('dpkg-query', '-W', '-f=${Status} ${Version}', 'wasm-netback')).stdout).toBe(`install ok installed ${VERSION}`);
  });

  test('install_apt_local_file', async () => {
    const overlay = await fresh(suite);
    const inside = overlay.stage(deb);
    const result = await overlay.chroot('sh', '-c', `cd /tmp && apt-get install -y ./${basename(inside)}`);
    expect(result, result.stdout + result.stderr).toMatchObject({ code: 0 });
    expect((await overlay.chroot('dpkg-query', '-W', '-f=${Status}', 'wasm-netback')).stdout).toBe('install ok installed');
  });

  test('version_prints_the_package_version', async () => {
    expect(await installed.chroot('wasm-netback', '--version')).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  test('check_reports_no_xen_and_the_prebuilt_addon', async () => {
    // a chroot on a machine that is not Xen: the typed report, with the addon loaded by the bundled node
    const result = await installed.chroot('wasm-netback', 'check', '--json');
    const report = JSON.parse(result.stdout) as CheckReport;
    expect(result.code).toBe(EXIT.unavailable);
    expect(report.exitCode).toBe(EXIT.unavailable);
    const item = (name: string) => report.items.find((i) => i.name === name);
    expect(item('xen')).toMatchObject({ verdict: 'missing' });
    expect(item('xenstore')).toMatchObject({ verdict: 'missing' });
    expect(item('native addon')).toMatchObject({ verdict: 'ok' });
    expect(item('native addon')!.detail).toMatch(/^loads \/usr\/lib\/wasm-netback\/prebuilds\/linux-(x64|arm64)\/wasm-netback\.glibc\.node$/);
    expect(item('root')).toMatchObject({ verdict: 'ok' });
  });

  test('runtime_is_the_bundled_node', async () => {
    // Debian 12's own nodejs is 18; the package must not depend on whatever `node` the host has
    const result = await installed.chroot('/usr/lib/wasm-netback/bin/node', '-p', 'process.version');
    expect(result).toMatchObject({ code: 0, stdout: `${process.version}\n` });
    expect((await installed.chroot('sh', '-c', 'command -v node || echo none')).stdout.trim()).toBe('none');
  });

  test('unit_passes_systemd_analyze_verify_in_place', async () => {
    const result = await installed.chroot('systemd-analyze', 'verify', UNIT);
    const ours = result.stderr.split('\n').filter((line) => line.includes('wasm-netback'));
    expect({ code: result.code, ours }).toEqual({ code: 0, ours: [] });
    expect((await installed.chroot('systemctl', 'is-enabled', 'wasm-netback.service')).stdout.trim()).toBe('disabled');
  });

  test('unit_verify_in_place_catches_a_missing_command', async () => {
    // the check above can fail there: the same unit without the command it starts
    const overlay = await fresh(suite);
    await overlay.chroot('dpkg', '-i', overlay.stage(deb));
    rmSync(join(overlay.root, 'usr/bin/wasm-netback'));
    const result = await overlay.chroot('systemd-analyze', 'verify', UNIT);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/usr/bin/wasm-netback');
  });

  test('conffile_kept_on_remove_gone_on_purge', async () => {
    const defaults = join(installed.root, 'etc/default/wasm-netback');
    expect((await installed.chroot('dpkg-query', '-W', '-f=${Conffiles}', 'wasm-netback')).stdout).toContain('/etc/default/wasm-netback');
    writeFileSync(defaults, `${readFileSync(defaults, 'utf8')}NETBACK_MAX_QUEUES=2\n`);
    expect(await installed.chroot('dpkg', '-r', 'wasm-netback')).toMatchObject({ code: 0 });
    expect(existsSync(join(installed.root, 'usr/lib/wasm-netback'))).toBe(false);
    expect(existsSync(join(installed.root, 'usr/bin/wasm-netback'))).toBe(false);
    expect(readFileSync(defaults, 'utf8')).toContain('\nNETBACK_MAX_QUEUES=2\n');
    expect(await installed.chroot('dpkg', '-P', 'wasm-netback')).toMatchObject({ code: 0 });
    expect(existsSync(defaults)).toBe(false);
  });
});
