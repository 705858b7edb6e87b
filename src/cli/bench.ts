// `wasm-netback bench`: every benchmark (src/bench/run.ts), a table or JSON lines in the
// peer-bench schema, Wasm kernels next to their pure-TypeScript versions.

import { Option, type Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { BaselineDistError } from '../bench/engine-baseline.js';
import { BENCH_GROUPS, runBenchmarks } from '../bench/run.js';
import { integerOption, usageError } from './exit.js';

interface BenchCliOptions {
  quick: boolean;
  json: boolean;
  group?: string[];
  baseline?: string;
  baselineDist?: string;
  rounds?: number;
  smoke: boolean;
}

export function registerBench(program: Command): void {
  program.command('bench')
    .description('benchmarks of the kernels (Wasm and pure TypeScript), of the engine over the simulated host and, as root, of the engine between real TAPs and Linux stacks in namespaces of its own; no Xen needed')
    .option('--quick', 'short batches (about 10x faster, noisier)', false)
    .option('--json', 'JSON lines in the peer-bench schema (group kernel impl size GBps Gbitps Mops ns_per_op note) instead of a table', false)
    .option('--group <name...>', `only these groups (${BENCH_GROUPS.join(', ')}) (default: every group)`)
    .option('--baseline <wasm>', 'also run an earlier build of the kernels, for a before/after in one run')
    .option('--baseline-dist <dir>', 'also run the engine benchmark of another built checkout (its root or dist/), alternating with this one, for a before/after of TypeScript changes in one run')
    .option('--rounds <n>', 'with --baseline-dist: alternating rounds of 0.25 s per case, each row its best', integerOption('--rounds', 1, 1000), 10)
    .addOption(new Option('--smoke', 'tiny batches: checks the rows, not the speed (tests)').default(false).hideHelp())
    .action(async (options: BenchCliOptions) => {
      for (const group of options.group ?? []) {
        if (!(BENCH_GROUPS as readonly string[]).includes(group)) throw usageError(`--group: no group ${JSON.stringify(group)} (${BENCH_GROUPS.join(', ')})`);
      }
      // TurboFan from the first call, as `node --no-liftoff` would: every Wasm module is compiled
      // after this, so `npx wasm-netback bench` and `npm run bench` measure the same code
      // (test bench_kernels_compile_for_turbofan_from_npm_run_and_the_bin asks V8 which tier ran).
      setFlagsFromString('--no-liftoff');
      try {
        await runBenchmarks({ quick: options.quick, smoke: options.smoke, json: options.json, groups: options.group, baseline: options.baseline, baselineDist: options.baselineDist, rounds: options.rounds });
      } catch (error) {
        if (error instanceof BaselineDistError) throw usageError(`--baseline-dist: ${error.message}`);
        throw error;
      }
    });
}
