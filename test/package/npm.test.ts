// The npm package's native addon: prebuilt for linux-x64 and linux-arm64 (npm run build:prebuilds,
// shipped in the tarball, found at load by node-gyp-build), so an install needs no compiler; and
// when there is no prebuilt binary and node-gyp fails, the install still succeeds and
// `wasm-netback check` and the first use of the addon say why (npm shows nothing a dependency's
// install script prints). The tarball is installed into a scratch project from npm's cache.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckReport } from '../../src/cli/check.js';
import { EXIT } from '../../src/cli/check.js';

const exec = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const PREBUILT = { x64: 'prebuilds/linux-x64/wasm-netback.glibc.node', arm64: 'prebuilds/linux-arm64/wasm-netback.glibc.node' } as const;
/** Debian 12's glibc: no prebuilt binary may need a newer one. */
const OLDEST_GLIBC = [2, 36];

interface Result { code: number; stdout: string; stderr: string }

async function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return exec(file, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, maxBuffer: 64 << 20 }).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
}

const dirs: string[] = [];
afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });
let tarball: string;

beforeAll(async () => {
  // the tree npm run package built (npm run test:package): pack it as it is
  const out = mkdtempSync(join(tmpdir(), 'wnb-pack-'));
  dirs.push(out);
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out]);
  expect(packed.code, packed.stderr).toBe(0);
  tarball = join(out, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
}, 120_000);

/** A scratch project with the tarball installed (dependencies from npm's cache), its package dir. */
async function installInto(flags: string[], env: NodeJS.ProcessEnv): Promise<{ pkg: string; install: Result }> {
  const project = mkdtempSync(join(tmpdir(), 'wnb-npm-'));
  dirs.push(project);
  writeFileSync(join(project, 'package.json'), '{"name":"scratch","version":"1.0.0","private":true}\n');
  const install = await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', ...flags], { cwd: project, env });
  expect(install.code, install.stdout + install.stderr).toBe(0);
  return { pkg: join(project, 'node_modules/wasm-netback'), install };
}

async function check(pkg: string): Promise<{ code: number; report: CheckReport }> {
  const result = await run(process.execPath, [join(pkg, 'dist/src/cli/main.js'), 'check', '--json']);
  return { code: result.code, report: JSON.parse(result.stdout) as CheckReport };
}

const addonItem = (report: CheckReport) => report.items.find((i) => i.name === 'native addon')!;
/** A compiler that always fails: any build attempt under this environment fails. */
const NO_COMPILER = { ...process.env, CC: '/bin/false', CXX: '/bin/false' };

describe('prebuilt addons', () => {
  test.each(Object.entries({ x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' }))('prebuild_elf_%s', async (arch, machine) => {
    const file = join(ROOT, PREBUILT[arch as keyof typeof PREBUILT]);
    const header = await run('readelf', ['-h', file]);
    expect(header.stdout).toMatch(/Class:\s+ELF64/);
    expect(header.stdout).toMatch(/Type:\s+DYN/);
    expect(header.stdout).toMatch(new RegExp(`Machine:\\s+${machine}\\n`));
    const needs = (await run('readelf', ['-d', file])).stdout.match(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g) ?? [];
    // glibc only (libc and its dynamic loader): nothing a dom0 or a Node image would lack
    const libraries = needs.map((line) => /\[(.+)\]/.exec(line)![1]!);
    expect(libraries).toContain('libc.so.6');
    expect(libraries.filter((lib) => lib !== 'libc.so.6' && !/^ld-linux-[\w-]+\.so\.\d$/.test(lib))).toEqual([]);
    // every symbol version it needs exists in Debian 12's glibc
    const versions = [...(await run('readelf', ['-V', file])).stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(versions.length).toBeGreaterThan(0);
    for (const [major, minor] of versions) expect(major! * 1000 + minor!).toBeLessThanOrEqual(OLDEST_GLIBC[0]! * 1000 + OLDEST_GLIBC[1]!);
  });

  test('npm_pack_ships_both_prebuilds_and_the_install_hook', async () => {
    const listed = await run('tar', ['-tzf', tarball]);
    const files = listed.stdout.split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining([PREBUILT.x64, PREBUILT.arm64, 'native/install.mjs', 'native/netback.c', 'binding.gyp', 'build/netback.wasm']));
    expect(files.filter((f) => f.startsWith('build/Release'))).toEqual([]);
  });
});

describe('npm install', () => {
  test('npm_install_uses_the_prebuild_without_a_compiler', async () => {
    const { pkg } = await installInto([], NO_COMPILER);
    expect(existsSync(join(pkg, 'build/Release'))).toBe(false);
    expect(existsSync(join(pkg, 'build/native-install.log'))).toBe(false);
    const { report } = await check(pkg);
    expect(addonItem(report)).toMatchObject({ verdict: 'ok', detail: `loads ${join(pkg, PREBUILT[process.arch as keyof typeof PREBUILT])}` });
  }, 300_000);

  test('npm_install_failed_build_shown_by_check_and_first_use', async () => {
    // --build-from-source skips the prebuilt binary, as on a platform without one; the compiler fails
    const { pkg } = await installInto(['--build-from-source'], NO_COMPILER);
    expect(existsSync(join(pkg, 'build/Release/netback.node'))).toBe(false);
    rmSync(join(pkg, 'prebuilds'), { recursive: true }); // what a platform with no prebuilt binary has
    const { code, report } = await check(pkg);
    expect(code).toBe(EXIT.unavailable);
    const item = addonItem(report);
    expect(item.verdict).toBe('missing');
    expect(item.detail).toContain('npm install could not build it: ');
    expect(item.detail).toContain(join(pkg, 'build/native-install.log'));
    expect(item.detail).toContain('npm run build:native');
    // the first use of the addon says the same: sim --tap (root) stops before any work, exit 69
    const sim = await run(process.execPath, [join(pkg, 'dist/src/cli/main.js'), 'sim', '--tap', '--seconds', '1']);
    expect(sim.code).toBe(EXIT.unavailable);
    expect(sim.stderr).toContain('npm install could not build it: ');
    expect(readdirSync(join(pkg, 'build'))).toContain('native-install.log');
  }, 300_000);
});
