// Drives a kernel target with libFuzzer, guided by the edge counters of the instrumented kernels
// (build/netback.cover.wasm, `npm run build:cover`). libFuzzer runs as a child process
// (build/libfuzzer-pipe, test/fuzz/engine/libfuzzer-pipe.c) and sends each input here; this
// process runs the case with the full oracle on one reused instance and answers with the verdict
// and the case's edge counters.
//   node dist/test/fuzz/engine/libfuzzer.js --target kernel_tx [--seconds N] [--seed S]
//        [--update-corpus] [--work DIR] [--seen FILE] [-- more libFuzzer flags]
// The repo's corpus (test/fuzz/corpus/<target>/) seeds the run; --update-corpus replaces it with
// libFuzzer's -merge of it and what the run found (the smallest set with the same coverage).
// Exit 1 with the failing input on an oracle failure (libFuzzer also saves a crash artifact).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchFor, findTarget, runCase } from '../kernel/runner.js';
import { coverMap, repoRoot } from '../kernel/coverage-map.js';

const args = process.argv.slice(2);
const dashdash = args.indexOf('--');
const own = dashdash >= 0 ? args.slice(0, dashdash) : args;
const extra = dashdash >= 0 ? args.slice(dashdash + 1) : [];
const option = (name: string, fallback?: string): string | undefined => {
  const at = own.indexOf(`--${name}`);
  return at >= 0 && own[at + 1] !== undefined ? own[at + 1] : fallback;
};
const target = findTarget(option('target', 'kernel_tx')!);
const seconds = Number(option('seconds', '30'));
const seed = option('seed');
const root = repoRoot();
const engine = join(root, 'build', 'libfuzzer-pipe');
if (!existsSync(engine)) throw new Error('build/libfuzzer-pipe is not built: npm run build:cover (needs libfuzzer-14-dev and g++)');
const map = coverMap();
const corpus = join(root, 'test', 'fuzz', 'corpus', target.name);
mkdirSync(corpus, { recursive: true });
const work = option('work') ?? mkdtempSync(join(tmpdir(), `libfuzzer-${target.name}-`));
const found = join(work, 'found');
mkdirSync(found, { recursive: true });

const bench = await benchFor(target, 'cover');
const counters = bench.bytes.subarray(map.base, map.base + map.counters.length);
const seen = new Uint8Array(map.counters.length);
const outcomes = new Map<string, number>();
let cases = 0;
let failure: { message: string; hex: string } | undefined;

/** Runs libFuzzer with `engineArgs`, serving every input it sends; resolves with its exit code. */
function runEngine(engineArgs: string[]): Promise<number> {
  const child = spawn(engine, engineArgs, {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'], env: { ...process.env, WNB_FUZZ_COUNTERS: String(map.counters.length) },
  });
  const fromEngine = child.stdio[3] as NodeJS.ReadableStream;
  const toEngine = child.stdio[4] as NodeJS.WritableStream;
  let pending: Buffer = Buffer.alloc(0);
  fromEngine.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32LE(0);
      if (pending.length < 4 + length) break;
      const input = new Uint8Array(pending.buffer, pending.byteOffset + 4, length);
      counters.fill(0);
      const result = runCase(target, bench, input);
      cases++;
      let verdict = 0;
      if ('error' in result) {
        verdict = 1;
        failure ??= { message: result.error, hex: Buffer.from(input.subarray(0, result.used)).toString('hex') };
      } else {
        outcomes.set(result.outcome, (outcomes.get(result.outcome) ?? 0) + 1);
        if ((cases & 1023) === 0) {
          try { bench.checkOutside('memory check'); } catch (error) {
            verdict = 1;
            failure ??= { message: `${(error as Error).message} (in the last 1024 inputs)`, hex: Buffer.from(input).toString('hex') };
          }
        }
      }
      const reply = Buffer.alloc(4 + counters.length);
      reply.writeUInt32LE(verdict, 0);
      reply.set(counters, 4);
      for (let i = 0; i < counters.length; i++) seen[i]! |= counters[i]!;
      toEngine.write(reply);
      pending = pending.subarray(4 + length);
    }
  });
  return new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
}

const started = performance.now();
const cpuStarted = process.cpuUsage();
await runEngine([
  found, corpus, `-max_total_time=${seconds}`, `-max_len=${target.inputSize}`, `-artifact_prefix=${work}/`, '-print_final_stats=1',
  ...(seed === undefined ? [] : [`-seed=${seed}`]), ...extra,
]);
const wall = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const fuzzCases = cases;
if (failure === undefined) bench.checkOutside('end of run');
const seenFile = option('seen');
if (seenFile !== undefined) writeFileSync(seenFile, seen);
console.log(JSON.stringify({
  target: target.name, engine: 'libFuzzer', cases: fuzzCases, seconds: Math.round(wall), rate: Math.round(fuzzCases / wall),
  ratePerCpuSecond: Math.round(fuzzCases / ((cpu.user + cpu.system) / 1e6)), edgesReached: seen.reduce((n, c) => n + (c !== 0 ? 1 : 0), 0),
  edges: map.counters.length, outcomes: Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])), work,
}));
if (failure !== undefined) {
  console.error(`\nlibFuzzer ${target.name}: ORACLE FAILED: ${failure.message}`);
  console.error(`replay: node dist/test/fuzz/kernel/cli.js --target ${target.name} --build both --replay ${failure.hex}`);
  process.exit(1);
}
if (own.includes('--update-corpus')) {
  // libFuzzer's merge keeps the smallest set of inputs that covers what the old corpus and the run cover
  const merged = join(work, 'merged');
  rmSync(merged, { recursive: true, force: true });
  mkdirSync(merged);
  await runEngine(['-merge=1', merged, corpus, found]);
  for (const f of readdirSync(corpus)) rmSync(join(corpus, f));
  for (const f of readdirSync(merged)) renameSync(join(merged, f), join(corpus, f));
  console.log(`corpus ${target.name}: ${readdirSync(corpus).length} inputs`);
}
process.exit(0);
