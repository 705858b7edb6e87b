#!/usr/bin/env node
// The long fuzz run: `npm run fuzz -- --seconds N [--seed S]`. Runs every test/fuzz/*.fuzz.test.ts
// under vitest with FUZZ_SECONDS set (each property runs until its share of N is used, no case
// limit), collects each property's tally from FUZZ_REPORT and prints cases tried and the outcome
// distribution. Exits non-zero when any case broke the oracle (vitest prints the counterexample).
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
const files = readdirSync('test/fuzz').filter((f) => f.endsWith('.fuzz.test.ts')).map((f) => join('test/fuzz', f));
const workers = 2;
// each property (an it('fuzz_...'), or a fuzzRingProperty's test: 'fuzz_...') runs for its share;
// a file's properties run one after another
const properties = files.reduce((n, f) => n + (readFileSync(f, 'utf8').match(/\b(?:it\(|test: )'fuzz_/g) ?? []).length, 0);
const share = Math.max(1, Math.floor((seconds * Math.min(workers, files.length)) / properties));
const report = join(mkdtempSync(join(tmpdir(), 'netback-fuzz-')), 'report.jsonl');
console.log(`fuzz: ${properties} properties in ${files.length} files, ${share} s each, ${workers} in parallel (about ${seconds} s)`);
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
for (const row of rows) {
  total += row.cases;
  console.log(`  ${row.name}: ${row.cases} cases ${JSON.stringify(row.outcomes)}`);
  for (const [k, v] of Object.entries(row.outcomes)) merged[k] = (merged[k] ?? 0) + v;
}
console.log(`  total: ${total} cases`);
for (const [k, v] of Object.entries(merged).sort((a, b) => b[1] - a[1])) console.log(`    ${k}: ${v}`);
console.log(result.status === 0 ? 'oracle: every case passed' : 'oracle: FAILED (see the counterexample above)');
process.exit(result.status ?? 1);
