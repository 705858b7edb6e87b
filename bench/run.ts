// npm run bench: every kernel benchmark, as JSON lines (--json) or a table.
// Run with node --no-liftoff so V8 compiles the kernels with TurboFan from the start.

import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { kernelsFromBytes, loadKernels, type Kernels } from '../src/index.js';
import { formatTable, type BenchRow } from './harness.js';
import { engineBenches } from './engine.js';
import { KERNEL_BENCHES } from './kernels.js';

interface BenchOptions {
  quick: boolean;
  json: boolean;
  group?: string;
  baseline?: string;
}

export async function runBenchmarks(options: BenchOptions): Promise<BenchRow[]> {
  // A baseline module (an earlier build) runs in the same process, interleaved per group, so a
  // performance change is stated as a before/after from one run.
  const builds: [label: string, kernels: Kernels][] = [['', await loadKernels()]];
  if (options.baseline !== undefined) builds.push(['@baseline', await kernelsFromBytes(new Uint8Array(await readFile(options.baseline)))]);
  const timing = options.quick ? { minTime: 0.05, reps: 2 } : { minTime: 0.25, reps: 5 };
  const rows: BenchRow[] = [];
  for (const bench of KERNEL_BENCHES) {
    if (options.group !== undefined && bench.group !== options.group) continue;
    for (const [label, kernels] of builds) {
      for (const r of bench.run(kernels, timing)) {
        const labelled = { ...r, impl: r.impl + label };
        rows.push(labelled);
        if (options.json) console.log(JSON.stringify(labelled));
      }
    }
  }
  if (options.group === undefined || options.group === 'engine') {
    for (const r of await engineBenches(timing)) {
      rows.push(r);
      if (options.json) console.log(JSON.stringify(r));
    }
  }
  if (!options.json) console.log(formatTable(rows));
  return rows;
}

const program = new Command('bench')
  .description('standalone benchmarks of the Wasm kernels (no Xen needed)')
  .option('--quick', 'short batches (about 10x faster, noisier)', false)
  .option('--json', 'JSON lines in the peer-bench schema instead of a table', false)
  .option('--group <name>', 'only this group (csum_raw, csum_l4, gso, tx_parse, rx_pack, toeplitz, engine)')
  .option('--baseline <wasm>', 'also run an earlier build of the kernels, for a before/after in one run');
await runBenchmarks(program.parse(process.argv).opts<BenchOptions>());
