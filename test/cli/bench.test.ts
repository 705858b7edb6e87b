// `wasm-netback bench --json` rows: the peer-bench schema, and Wasm next to TypeScript for the
// kernel groups. --smoke (hidden) keeps the batches tiny: the rows are checked, not the speed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

interface Row { group: string; kernel: string; impl: string; size: number; GBps: number; Gbitps: number; Mops: number; ns_per_op: number; note: string }

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

  it('bench_baseline_dist_unbuilt_exits_64', async () => {
    await expect(run(process.execPath, [bin, 'bench', '--group', 'engine', '--baseline-dist', '/nonexistent'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('--baseline-dist') });
  });

  it('bench_unknown_group_exits_64', async () => {
    await expect(run(process.execPath, [bin, 'bench', '--group', 'nope'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('nope') });
  });
});
