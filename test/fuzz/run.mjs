#!/usr/bin/env node
// The long fuzz run: `npm run fuzz -- --seconds N [--seed S]`. A third of N goes to the kernel
// targets (test/fuzz/kernel/: every Wasm entry point that reads guest, TAP or xenstore-derived
// bytes, release and debug builds, seeded random cases on one reused instance per target), the rest
// to the world properties: every test/fuzz/*.fuzz.test.ts and the parser properties of
// test/fuzz/parsers.test.ts under vitest with FUZZ_SECONDS set (each
// property runs until its share is used, no case limit), each property's tally read from
// FUZZ_REPORT. Prints cases, rate and the outcome distribution per target and property. Exits
// non-zero when any case broke the oracle, with the counterexample and the command that replays it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
};
const seconds = Number(option('seconds', '60'));
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error('usage: npm run fuzz -- --seconds N [--seed S]');
  process.exit(2);
}
const seed = option('seed', undefined);
const kernelSeconds = Math.max(1, Math.round(seconds / 3));
const worldSeconds = Math.max(1, seconds - kernelSeconds);

// kernel targets: built to dist/ and run with plain node (vitest's transform would cost most of the time)
const built = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
console.log(`fuzz: kernel targets for ${kernelSeconds} s (release and debug builds)`);
const kernel = spawnSync('node', ['dist/test/fuzz/kernel/cli.js', '--seconds', String(kernelSeconds), '--build', 'both', ...(seed === undefined ? [] : ['--seed', seed])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const kernelRows = (kernel.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
// the world properties, and the TypeScript parsers of xenstore values and control requests
// (parsers.test.ts: its parser properties take FUZZ_SECONDS too, its control-server checks a few seconds)
const files = [...readdirSync('test/fuzz').filter((f) => f.endsWith('.fuzz.test.ts')), 'parsers.test.ts'].map((f) => join('test/fuzz', f));
const workers = 2;
// each property (an it('fuzz_...'), or a fuzzRingProperty's test: 'fuzz_...') runs for its share;
// a file's properties run one after another
const properties = files.reduce((n, f) => n + (readFileSync(f, 'utf8').match(f.endsWith('parsers.test.ts') ? /budget\.params/g : /\b(?:it\(|test: )'fuzz_/g) ?? []).length, 0);
const share = Math.max(1, Math.floor((worldSeconds * Math.min(workers, files.length)) / properties));
const report = join(mkdtempSync(join(tmpdir(), 'netback-fuzz-')), 'report.jsonl');
console.log(`fuzz: ${properties} world properties in ${files.length} files, ${share} s each, ${workers} in parallel (about ${worldSeconds} s)`);
const started = Date.now();
const result = spawnSync('npx', ['vitest', 'run', `--maxWorkers=${workers}`, ...files], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SECONDS: String(share), FUZZ_REPORT: report, ...(seed === undefined ? {} : { FUZZ_SEED: seed }) },
});
const elapsed = ((Date.now() - started) / 1000).toFixed(0);
const rows = existsSync(report) ? readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
let total = 0;
const merged = {};
console.log(`\nfuzz summary (${elapsed} s wall):`);
console.log('  kernel targets (cases, cases/s wall, cases per CPU second):');
for (const row of kernelRows) {
  total += row.cases;
  console.log(`  ${row.target} (${row.build}): ${row.cases} cases, ${row.rate}/s, ${row.ratePerCpuSecond}/CPU s ${JSON.stringify(row.outcomes)}`);
  for (const [k, v] of Object.entries(row.outcomes)) merged[k] = (merged[k] ?? 0) + v;
}
console.log('  world properties (cases, cases/s wall over its share):');
for (const row of rows) {
  total += row.cases;
  console.log(`  ${row.name}: ${row.cases} cases, ${(row.cases / share).toFixed(1)}/s over its ${share} s ${JSON.stringify(row.outcomes)}`);
  for (const [k, v] of Object.entries(row.outcomes)) merged[k] = (merged[k] ?? 0) + v;
}
console.log(`  total: ${total} cases`);
for (const [k, v] of Object.entries(merged).sort((a, b) => b[1] - a[1])) console.log(`    ${k}: ${v}`);
const failed = kernel.status !== 0 || result.status !== 0;
if (result.status !== 0) {
  console.log('a world property failed: replay its counterexample with the seed and path of its "Property failed" line above:');
  console.log('  FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run <its file> -t <its test name>');
}
console.log(failed ? 'oracle: FAILED (see the counterexample and its replay command above)' : 'oracle: every case passed');
process.exit(failed ? 1 : 0);
