// The kernel fuzz targets in `npm test`: every input of the repo's corpus (test/fuzz/corpus/<target>/,
// kept by libFuzzer's merge, see test/fuzz/engine/libfuzzer.ts) replayed with the full oracle and
// the whole-memory check after each, then a bounded number of new seeded cases, on the release and
// the debug build (the debug build keeps the kernels' assertions). FUZZ_SEED fixes the seed.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelBench, type Build } from './kernel/bench.js';
import { ADDRESS_ENTRY_POINTS, NO_ADDRESS_EXPORTS, RING_BENCHMARK_EXPORTS, kernelTargets } from './kernel/targets.js';
import { kernelsModule } from './kernel/bench.js';
import { runCase, runRandom } from './kernel/runner.js';

const CASES = Number(process.env.FUZZ_KERNEL_CASES ?? 4096);
const seed = process.env.FUZZ_SEED === undefined ? (Date.now() & 0x7FFFFFFF) >>> 0 : Number(process.env.FUZZ_SEED);
const builds: Build[] = ['release', 'debug'];

describe('kernel fuzz targets', () => {
  for (const target of kernelTargets) {
    const dir = join('test', 'fuzz', 'corpus', target.name);
    const corpus = existsSync(dir) ? readdirSync(dir).sort() : [];
    for (const build of builds) {
      it(`${target.name}_corpus_replay_${build}`, async () => {
        expect(corpus.length, `the corpus of ${target.name} is empty`).toBeGreaterThan(0);
        const bench = await KernelBench.create(build);
        bench.seal(target.writable(bench));
        const failures: string[] = [];
        for (const file of corpus) {
          const result = runCase(target, bench, new Uint8Array(readFileSync(join(dir, file))));
          if ('error' in result) failures.push(`${file}: ${result.error}`);
          bench.checkOutside(file);
        }
        expect(failures).toEqual([]);
      });
      it(`${target.name}_random_cases_${build}`, async () => {
        const run = await runRandom(target, build, seed, 600, CASES);
        expect(run.failure, run.failure === undefined ? '' : `seed ${seed} case ${run.failure.index}: ${run.failure.message}\nreplay: node dist/test/fuzz/kernel/cli.js --target ${target.name} --build ${build} --seed ${seed} --case ${run.failure.index}`).toBeUndefined();
        expect(run.cases).toBe(CASES);
      });
    }
  }
});

describe('kernel_args', () => {
  it('kernel_args_calls_every_export_that_takes_an_address', async () => {
    // every function export is an address-taking entry point kernel_args fuzzes, one that takes no
    // address, or a ring benchmark; nothing else (isFatal and countAdd were exported by accident)
    for (const build of builds) {
      const exported = WebAssembly.Module.exports(await kernelsModule(build)).filter((e) => e.kind === 'function').map((e) => e.name).sort();
      const classified = [...ADDRESS_ENTRY_POINTS.map((e) => e.fn), ...NO_ADDRESS_EXPORTS, ...RING_BENCHMARK_EXPORTS].sort();
      expect(exported, build).toEqual(classified);
    }
  });
});
