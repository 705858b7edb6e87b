// The kernel fuzz campaign from the command line (built to dist/, run with plain node so nothing
// but the targets costs time):
//   node dist/test/fuzz/kernel/cli.js [--target NAME|all] [--build release|debug|both]
//        [--seconds N] [--seed S] [--progress FILE] [--case I] [--replay HEX]
// Prints one JSON line per target and build; exits 1 with the counterexample on any failure.
import { writeFileSync } from 'node:fs';
import type { Build } from './bench.js';
import { kernelTargets } from './targets.js';
import { findTarget, replay, runRandom, type TargetRun } from './runner.js';
import { CaseBytes } from './input.js';

const args = process.argv.slice(2);
const option = (name: string, fallback?: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
};
const targets = option('target', 'all') === 'all' ? kernelTargets : [findTarget(option('target')!)];
const buildOption = option('build', 'both')!;
const builds: Build[] = buildOption === 'both' ? ['release', 'debug'] : [buildOption as Build];
const seconds = Number(option('seconds', '10'));
const seed = Number(option('seed', String((Date.now() & 0x7FFFFFFF) >>> 0)));
const progress = option('progress');
// a campaign: rounds of `--round-seconds` per target and build, seed + round, until --seconds
const roundSeconds = option('round-seconds') === undefined ? undefined : Number(option('round-seconds'));

async function main(): Promise<number> {
  const replayHex = option('replay');
  const caseIndex = option('case');
  if (replayHex !== undefined || caseIndex !== undefined) {
    for (const target of targets) {
      for (const build of builds) {
        const bytes = replayHex !== undefined ? new Uint8Array(Buffer.from(replayHex, 'hex')) : new CaseBytes(target.inputSize).all(seed, Number(caseIndex));
        const result = await replay(target, build, bytes);
        console.log(JSON.stringify({ target: target.name, build, ...result }));
        if ('error' in result) return 1;
      }
    }
    return 0;
  }
  // totals per target and build over every round
  const totals = new Map<string, { target: string; build: Build; cases: number; seconds: number; cpuSeconds: number; rounds: number; outcomes: Record<string, number> }>();
  const started = Date.now();
  const write = (current?: TargetRun) => {
    if (progress === undefined) return;
    const rows = [...totals.values()].map((t) => ({ ...t }));
    if (current !== undefined) {
      const row = rows.find((r) => r.target === current.target && r.build === current.build);
      if (row !== undefined) { row.cases += current.cases; row.seconds += current.seconds; row.cpuSeconds += current.cpuSeconds; }
      else rows.push({ target: current.target, build: current.build, cases: current.cases, seconds: current.seconds, cpuSeconds: current.cpuSeconds, rounds: 0, outcomes: current.outcomes });
    }
    const cases = rows.reduce((n, r) => n + r.cases, 0);
    const table = rows.map((r) => ({ target: r.target, build: r.build, cases: r.cases, rate: Math.round(r.cases / r.seconds), ratePerCpuSecond: Math.round(r.cases / r.cpuSeconds), outcomes: r.outcomes }));
    writeFileSync(progress, `${JSON.stringify({ seed, started: new Date(started).toISOString(), updated: new Date().toISOString(), wallSeconds: Math.round((Date.now() - started) / 1000), cases, failures: 0, rows: table }, null, 1)}\n`);
  };
  const share = roundSeconds ?? seconds / (targets.length * builds.length);
  for (let round = 0; round === 0 || (roundSeconds !== undefined && Date.now() - started < seconds * 1000); round++) {
    for (const target of targets) {
      for (const build of builds) {
        const run = await runRandom(target, build, (seed + round) >>> 0, share, Infinity, write);
        const key = `${target.name}:${build}`;
        const total = totals.get(key) ?? { target: target.name, build, cases: 0, seconds: 0, cpuSeconds: 0, rounds: 0, outcomes: {} };
        total.cases += run.cases; total.seconds += run.seconds; total.cpuSeconds += run.cpuSeconds; total.rounds++;
        for (const [k, v] of Object.entries(run.outcomes)) total.outcomes[k] = (total.outcomes[k] ?? 0) + v;
        totals.set(key, total);
        write();
        console.log(JSON.stringify({ ...run, rate: Math.round(run.cases / run.seconds), ratePerCpuSecond: Math.round(run.cases / run.cpuSeconds) }));
        if (run.failure !== undefined) {
          const f = run.failure;
          console.error(`\nkernel fuzz: ORACLE FAILED in ${f.target} (${f.build}), seed ${f.seed}, case ${f.index}: ${f.message}`);
          console.error(`replay: node dist/test/fuzz/kernel/cli.js --target ${f.target} --build ${f.build} --seed ${f.seed} --case ${f.index}`);
          console.error(`input: ${f.hex}`);
          if (progress !== undefined) writeFileSync(`${progress}.failure`, `${JSON.stringify(f, null, 1)}\n`);
          return 1;
        }
      }
    }
  }
  return 0;
}

process.exitCode = await main();
