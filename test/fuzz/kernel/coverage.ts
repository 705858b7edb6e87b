// Edge coverage of assembly/ by the kernel fuzz targets: every corpus input of every target run on
// the instrumented kernels (build/netback.cover.wasm), plus optional counter dumps of libFuzzer
// runs (--seen FILE of test/fuzz/engine/libfuzzer.ts), unioned. Prints the share of edges reached
// out of those reachable and lists each edge never reached with its source line.
//   node dist/test/fuzz/kernel/coverage.js [--markdown] [seen files...]
// Not reachable, so not counted: the bench_* loops (benchmarks, no input reaches them), and
// functions no call reaches and no export names (stand-alone copies of functions the compiler
// inlined at every call site).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { KernelBench } from './bench.js';
import { coverMap, repoRoot } from './coverage-map.js';
import { kernelTargets } from './targets.js';
import { runCase } from './runner.js';

const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const root = repoRoot();
const map = coverMap();
const seen = new Uint8Array(map.counters.length);
const perTarget: Record<string, number> = {};
for (const target of kernelTargets) {
  const bench = await KernelBench.create('cover');
  const dir = join(root, 'test', 'fuzz', 'corpus', target.name);
  const counters = bench.bytes.subarray(map.base, map.base + map.counters.length);
  for (const file of existsSync(dir) ? readdirSync(dir) : []) runCase(target, bench, new Uint8Array(readFileSync(join(dir, file))));
  perTarget[target.name] = counters.reduce((n, c) => n + (c !== 0 ? 1 : 0), 0);
  for (let i = 0; i < seen.length; i++) seen[i]! |= counters[i]!;
}
for (const file of args.filter((a) => !a.startsWith('--'))) {
  const extra = readFileSync(file);
  for (let i = 0; i < seen.length; i++) seen[i]! |= extra[i] ?? 0;
}
const wat = readFileSync(join(root, 'build', 'netback.cover.wat'), 'utf8');
const called = new Set([...wat.matchAll(/\((?:call|return_call) \$([^\s)]+)/g)].map((m) => m[1]!));
const exported = new Set([...wat.matchAll(/\(export "[^"]+" \(func \$([^\s)]+)\)\)/g)].map((m) => m[1]!));
const unreachable = (fn: string): string | undefined => {
  if (/\/bench_[a-z_0-9]+$/.test(fn)) return 'benchmark loop';
  if (!called.has(fn) && !exported.has(fn)) return 'no caller (inlined at every call site)';
  return undefined;
};
let reachable = 0;
let reached = 0;
const missed: { id: number; fn: string; kind: string; location: string }[] = [];
const excluded = new Map<string, number>();
for (const c of map.counters) {
  const why = unreachable(c.fn);
  if (why !== undefined) { excluded.set(why, (excluded.get(why) ?? 0) + 1); continue; }
  reachable++;
  if (seen[c.id] !== 0) reached++;
  else missed.push({ id: c.id, fn: c.fn.replace(/^assembly\//, ''), kind: c.kind, location: (c.location ?? '').replace(/^assembly\//, '') });
}
const share = ((100 * reached) / reachable).toFixed(1);
if (markdown) {
  console.log(`Edge coverage of assembly/: **${reached} of ${reachable} reachable edges (${share} %)**; ${[...excluded].map(([why, n]) => `${n} ${why}`).join(', ')} not counted.\n`);
  console.log('| counter | function | edge | source |\n|---|---|---|---|');
  for (const m of missed) console.log(`| ${m.id} | ${m.fn} | ${m.kind} | ${m.location} |`);
} else {
  console.log(JSON.stringify({ edges: map.counters.length, reachable, reached, share: Number(share), excluded: Object.fromEntries(excluded), perTarget }));
  for (const m of missed) console.log(`  never reached: #${m.id} ${m.fn} ${m.kind} at ${m.location}`);
}
