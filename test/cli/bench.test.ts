// `wasm-netback bench --json` rows: the peer-bench schema, and Wasm next to TypeScript for the
// kernel groups. --smoke (hidden) keeps the batches tiny: the rows are checked, not the speed.
// The tap_e2e group runs for real as root (WNB_REQUIRE_TAP=1 makes a skip a failure) and must
// leave no namespace or TAP behind, also when interrupted; without root it is one note row.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { benchNetnsName, benchTapName } from '../../src/bench/tap-e2e.js';
import { Netns, netnsNames } from '../../src/sim/netns.js';
import { announceSkip, linkJson, withTimeout } from '../tap/env.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

interface Row { group: string; kernel: string; impl: string; size: number; GBps: number; Gbitps: number; Mops: number; ns_per_op: number; note: string; backend_cpu_s?: number; per_core_Gbitps?: number; per_core_Mops?: number }

describe('wasm-netback bench', () => {
  it('bench_json_rows_have_the_schema_and_both_impls', async () => {
    const { stdout } = await run(process.execPath, [bin, 'bench', '--smoke', '--json', '--group', 'csum_raw', 'csum_l4', 'gso', 'tx_parse', 'engine'], { timeout: 100_000 });
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(['GBps', 'Gbitps', 'Mops', 'group', 'impl', 'kernel', 'note', 'ns_per_op', 'size']);
      for (const key of ['size', 'GBps', 'Gbitps', 'Mops', 'ns_per_op'] as const) expect(Number.isFinite(r[key])).toBe(true);
      expect(r.Mops).toBeGreaterThan(0);
    }
    const impls = (group: string, kernel: string) => new Set(rows.filter((r) => r.group === group && r.kernel === kernel).map((r) => r.impl));
    for (const [group, kernel] of [['csum_raw', 'raw_cksum'], ['csum_l4', 'csum_complete_tcp4'], ['gso', 'tso_tcp4'], ['gso', 'tso_tcp6'],
      ['tx_parse', 'tx_build_commit_64B'], ['tx_parse', 'tx_build_commit_64KiB_gso']] as const) {
      expect(impls(group, kernel), `${group}/${kernel}`).toEqual(new Set(['wasm', 'ts']));
    }
    for (const kernel of ['guest_tx_64B', 'guest_rx_64B', 'guest_tx_64KiB_gso', 'guest_rx_64KiB_gso']) {
      expect(impls('engine', kernel).has('wasm'), kernel).toBe(true);
    }
  });

  it('bench_baseline_dist_rows_follow_their_case', async () => {
    // this checkout as its own baseline: the rows, not the figures
    const root = new URL('../..', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [bin, 'bench', '--smoke', '--json', '--group', 'engine', '--baseline-dist', root], { timeout: 100_000 });
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
    const kernels = ['guest_tx_64B', 'guest_rx_64B', 'guest_tx_64KiB_gso', 'guest_rx_64KiB_gso'];
    expect(rows.map((r) => `${r.kernel} ${r.impl}`)).toEqual(kernels.flatMap((k) =>
      ['wasm', 'wasm@baseline', 'wasm+sim_guest', 'wasm+sim_guest@baseline'].map((impl) => `${k} ${impl}`)));
    for (const r of rows) expect(r.Mops).toBeGreaterThan(0);
  });

  it('bench_kernels_compile_for_turbofan_from_npm_run_and_the_bin', async () => {
    // the same V8 flags either way, and Liftoff off when the kernels are instantiated
    const root = new URL('../..', import.meta.url).pathname;
    const probe = new URL('../support/wasm-tier-probe.mjs', import.meta.url).pathname;
    const args = ['--smoke', '--json', '--group', 'csum_raw'];
    const reports = async (file: string, argv: string[], env: NodeJS.ProcessEnv = process.env) => {
      const { stderr } = await run(file, argv, { cwd: root, env, timeout: 100_000 });
      // npm is a node process too: keep the report of the one that made Wasm instances
      return stderr.split('\n').filter((l) => l.startsWith('wasm-tier-probe ')).map((l) => JSON.parse(l.slice(16)) as { execArgv: string[]; tiers: string[] })
        .filter((r) => r.tiers.length > 0);
    };
    const viaNpm = await reports('npm', ['run', '--silent', 'bench', '--', ...args], { ...process.env, NODE_OPTIONS: `--import=${probe}` });
    const viaBin = await reports(process.execPath, [`--import=${probe}`, bin, 'bench', ...args]);
    expect(viaNpm).toHaveLength(1);
    expect(viaBin).toHaveLength(1);
    expect(viaNpm[0]!.execArgv).toEqual(viaBin[0]!.execArgv);
    expect(new Set([...viaNpm[0]!.tiers, ...viaBin[0]!.tiers])).toEqual(new Set(['turbofan']));
  }, 120_000);

  it('bench_baseline_dist_unbuilt_exits_64', async () => {
    await expect(run(process.execPath, [bin, 'bench', '--group', 'engine', '--baseline-dist', '/nonexistent'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('--baseline-dist') });
  });

  it('bench_unknown_group_exits_64', async () => {
    await expect(run(process.execPath, [bin, 'bench', '--group', 'nope'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('nope') });
  });
});

/** What a bench run as this process id could have left behind: its namespaces and TAPs. */
async function leftBehind(pid: number): Promise<string[]> {
  const names = await netnsNames();
  const found: string[] = [];
  for (const side of ['host', 'guest'] as const) {
    if (names.includes(benchNetnsName(pid, side))) found.push(`netns ${benchNetnsName(pid, side)}`);
    if (await linkJson(benchTapName(pid, side)) !== undefined) found.push(`link ${benchTapName(pid, side)}`);
  }
  if (await linkJson(benchTapName(pid, 'floor')) !== undefined) found.push(`link ${benchTapName(pid, 'floor')}`);
  return found;
}

const TAP_SUITE = 'test/cli/bench.test.ts tap_e2e (bench through real TAPs and namespaces)';

describe.skipIf(announceSkip(TAP_SUITE))('wasm-netback bench --group tap_e2e (root)', () => {
  it('bench_tap_e2e_rows_nonzero_and_nothing_left_behind', async () => {
    const running = run(process.execPath, [bin, 'bench', '--smoke', '--json', '--group', 'tap_e2e'], { timeout: 100_000 });
    const pid = running.child.pid!;
    const { stdout, stderr } = await running;
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
    expect(stderr).not.toMatch(/skipped/);
    const kernels = ['guest_rx_tcp_bulk', 'guest_rx_udp_64B', 'guest_tx_tcp_bulk', 'guest_tx_udp_64B'];
    // each engine row (guest on its own thread) with its veth anchor between the same namespaces,
    // and the UDP rows' floor: the TAP system calls alone
    expect(rows.map((r) => `${r.kernel} ${r.impl}`).sort()).toEqual(kernels.flatMap((k) => [
      ...(k.endsWith('udp_64B') ? [`${k} tap_syscalls`] : []), `${k} veth`, `${k} wasm+tap`,
    ]));
    for (const r of rows) {
      expect(r.group).toBe('tap_e2e');
      expect(r.Mops, `${r.kernel} ${r.impl}`).toBeGreaterThan(0);
      if (r.impl === 'wasm+tap' || r.impl === 'tap_syscalls') {
        // the backend thread's own CPU time and the figures per backend core
        expect(r.backend_cpu_s, r.kernel).toBeGreaterThan(0);
        expect(r.per_core_Mops, r.kernel).toBeGreaterThan(0);
        expect(r.per_core_Gbitps, r.kernel).toBeGreaterThan(0);
      } else {
        expect(r.backend_cpu_s, r.kernel).toBeUndefined();
      }
    }
    for (const kernel of ['guest_tx_tcp_bulk', 'guest_rx_tcp_bulk']) {
      for (const bulk of rows.filter((r) => r.kernel === kernel)) {
        expect(bulk.Gbitps, kernel).toBeGreaterThan(0);
        // TSO on both TAPs (and on the veth): the transfers cross as GSO frames, far above one MTU
        expect(bulk.size, `${kernel} ${bulk.impl}`).toBeGreaterThan(1514);
      }
    }
    expect(await leftBehind(pid)).toEqual([]);
  });

  it('bench_scale_rows_both_pool_sizes_and_nothing_left_behind', async () => {
    const running = run(process.execPath, [bin, 'bench', '--smoke', '--json', '--group', 'scale'], { timeout: 100_000 });
    const pid = running.child.pid!;
    const { stdout, stderr } = await running;
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
    expect(stderr).not.toMatch(/skipped/);
    expect(rows.map((r) => `${r.kernel} ${r.impl}`)).toEqual([
      'guest_tx_udp_64B_2vifs workers=1', 'guest_tx_udp_64B_2vifs workers=2', 'guest_tx_udp_1514B_8vifs_2q workers=2',
    ]);
    for (const r of rows) {
      expect(r.group).toBe('scale');
      expect(r.Mops, `${r.kernel} ${r.impl}`).toBeGreaterThan(0); // frames crossed the pool's workers
    }
    expect(rows[2]!.note).toMatch(/RSS after the run \d+ MiB/);
    // the pool's TAPs went with the run
    const { stdout: links } = await run('ip', ['-br', 'link']);
    expect(links).not.toMatch(new RegExp(`^wnbs${pid % 100000}-`, 'm'));
  });

  it('bench_tap_e2e_interrupted_removes_its_namespaces_and_stale_ones', async () => {
    // a namespace named after a process that is gone: what a run killed outright leaves behind
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => gone.on('exit', resolve));
    const stale = new Netns(benchNetnsName(gone.pid!, 'host'), { exact: true });
    await stale.create();
    try {
      const child = spawn(process.execPath, [bin, 'bench', '--quick', '--json', '--group', 'tap_e2e'], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // interrupt once its vif TAP is in its namespace, in the middle of setting up or measuring
      await withTimeout((async () => {
        while ((await linkJson(benchTapName(child.pid!, 'host'), benchNetnsName(child.pid!, 'host'))) === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(), 30_000, 'the bench\'s vif TAP in its namespace');
      child.kill('SIGINT');
      expect(await withTimeout(exited, 15_000, 'the interrupted bench to exit')).toBe(130);
      expect(await leftBehind(child.pid!)).toEqual([]);
      expect(await netnsNames()).not.toContain(stale.name);
    } finally {
      await stale.destroy();
    }
  });
});

describe('wasm-netback bench --group tap_e2e (not root)', () => {
  it('bench_tap_e2e_not_root_is_a_note_row_not_an_error', async () => {
    // as root, a user namespace without a uid mapping makes the same process see itself as nobody
    const [command, args] = process.getuid?.() === 0 ? ['unshare', ['--user', process.execPath]] : [process.execPath, []];
    const { stdout, stderr } = await run(command, [...args, bin, 'bench', '--json', '--group', 'tap_e2e'], { timeout: 30_000 });
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
    expect(rows).toEqual([expect.objectContaining({ group: 'tap_e2e', kernel: 'skipped', note: expect.stringMatching(/^skipped: not (root|Linux)/) })]);
    expect(stderr).toMatch(/tap_e2e skipped: not (root|Linux)/);
  });
});
