// The engine benchmark of another built checkout (its dist/src/bench/engine.js, with its own
// kernels and TypeScript engine) run in this process, alternating with this build's, so a change
// to the TypeScript side gets a before/after from one run: on a shared 2-vCPU machine figures from
// separate runs differ by more than most changes.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NetbackError } from '../errors.js';
import { engineBenches } from './engine.js';
import type { BenchRow, TimingOptions } from './harness.js';

type EngineBenches = typeof engineBenches;

/** The baseline checkout has no built engine benchmark. */
export class BaselineDistError extends NetbackError {}

/**
 * The engine benchmark module of a checkout: `dir` is its root or its dist/. Only the entry point
 * every version has, engineBenches(timing, minSeconds), is used.
 */
export async function loadBaselineEngine(dir: string): Promise<EngineBenches> {
  const candidates = ['dist/src/bench/engine.js', 'src/bench/engine.js'].map((rel) => resolve(dir, rel));
  const path = candidates.find((candidate) => existsSync(candidate));
  if (path === undefined) {
    throw new BaselineDistError('NETBACK_BENCH_BASELINE', `no built engine benchmark in ${dir} (looked for ${candidates.join(', ')}): build that checkout first`);
  }
  const module = (await import(pathToFileURL(path).href)) as { engineBenches?: unknown };
  if (typeof module.engineBenches !== 'function') throw new BaselineDistError('NETBACK_BENCH_BASELINE', `${path} exports no engineBenches`);
  return module.engineBenches as EngineBenches;
}

/**
 * `rounds` rounds, each running every case of both builds for `seconds`, the order swapped each
 * round (so neither always runs first, on a warmer or cooler machine); each row keeps its best
 * round. Many short rounds rather than a few long ones: other work on the machine only ever
 * slows a round down, and the more rounds, the likelier each build gets a quiet one.
 * The baseline's rows carry impl `<impl>@baseline`, as the kernel baseline's do, and follow this
 * build's row of the same case and impl.
 */
export async function engineBenchesWithBaseline(baseline: EngineBenches, seconds: number, rounds: number): Promise<BenchRow[]> {
  const timing: TimingOptions = { minTime: seconds, reps: 1 };
  const best = new Map<string, BenchRow>();
  const keep = (rows: readonly BenchRow[], label: string) => {
    for (const r of rows) {
      const key = `${r.kernel} ${r.impl}${label}`;
      const held = best.get(key);
      if (held === undefined || r.Mops > held.Mops) best.set(key, { ...r, impl: r.impl + label });
    }
  };
  let cases: BenchRow[] = [];
  const builds: [label: string, run: EngineBenches][] = [['', engineBenches], ['@baseline', baseline]];
  for (let round = 0; round < rounds; round++) {
    for (const [label, run] of round % 2 === 0 ? builds : [...builds].reverse()) {
      const rows = await run(timing, seconds);
      if (label === '') cases = rows;
      keep(rows, label);
    }
  }
  const note = (r: BenchRow): BenchRow => ({ ...r, note: `best of ${rounds} alternating rounds of ${seconds} s; ${r.note}` });
  return cases.flatMap(({ kernel, impl }) => {
    const ours = best.get(`${kernel} ${impl}`)!;
    const theirs = best.get(`${kernel} ${impl}@baseline`);
    return theirs === undefined ? [note(ours)] : [note(ours), note(theirs)];
  });
}
