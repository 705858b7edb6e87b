// Every benchmark of the project in one runner, shared by `wasm-netback bench` and `npm run bench`
// (which is that command): the kernels (Wasm, and pure TypeScript where a version exists), the
// engine end to end over the simulated host, and (as root) the engine between real TAPs and real
// Linux stacks. Rows are printed as they come (JSON lines) or as a table at the end.

import { readFile } from 'node:fs/promises';
import { kernelsFromBytes, type Kernels } from '../wasm/kernels.js';
import { readKernels } from '../wasm/node-source.js';
import { engineBenches } from './engine.js';
import { engineBenchesWithBaseline, loadBaselineEngine } from './engine-baseline.js';
import { formatTable, type BenchRow, type TimingOptions } from './harness.js';
import { KERNEL_BENCHES } from './kernels.js';
import { TAP_E2E_GROUP, tapEndToEndBenches } from './tap-e2e.js';
import { SCALE_GROUP, scaleBenches } from './scale.js';

export interface BenchOptions {
  quick?: boolean;
  /** Shortest batches (tests): rows with the schema, figures meaningless. */
  smoke?: boolean;
  json?: boolean;
  /** Only these groups (csum_raw, csum_l4, gso, tx_parse, rx_pack, toeplitz, flow_hash, engine, tap_e2e). */
  groups?: readonly string[];
  /** An earlier build of the kernels, run interleaved per group for a before/after in one run. */
  baseline?: string;
  /** Another built checkout (root or dist/): its engine benchmark runs alternating with this one's. */
  baselineDist?: string;
  /** Alternating rounds with baselineDist (default 10). */
  rounds?: number;
  /** Where rows and the table go (default stdout). */
  write?: (text: string) => void;
  /** Where a skipped group says why (default stderr). */
  warn?: (line: string) => void;
}

export const BENCH_GROUPS = ['csum_raw', 'csum_l4', 'gso', 'tx_parse', 'rx_pack', 'toeplitz', 'flow_hash', 'engine', TAP_E2E_GROUP, SCALE_GROUP] as const;

export async function runBenchmarks(options: BenchOptions = {}): Promise<BenchRow[]> {
  const write = options.write ?? ((text: string) => { process.stdout.write(text); });
  const builds: [label: string, kernels: Kernels][] = [['', await kernelsFromBytes(await readKernels())]];
  if (options.baseline !== undefined) builds.push(['@baseline', await kernelsFromBytes(new Uint8Array(await readFile(options.baseline)))]);
  const timing: TimingOptions = options.smoke ? { minTime: 0.002, reps: 1 } : options.quick ? { minTime: 0.05, reps: 2 } : { minTime: 0.25, reps: 5 };
  const wanted = (group: string) => options.groups === undefined || options.groups.includes(group);
  const rows: BenchRow[] = [];
  const emit = (r: BenchRow) => {
    rows.push(r);
    if (options.json) write(`${JSON.stringify(r)}\n`);
  };
  for (const bench of KERNEL_BENCHES) {
    if (!wanted(bench.group)) continue;
    builds.forEach(([label, kernels], b) => {
      for (const r of bench.run(kernels, timing)) {
        // The TypeScript rows do not depend on the kernels build: once is enough.
        if (b > 0 && r.impl === 'ts') continue;
        emit(r.impl === 'ts' ? r : { ...r, impl: r.impl + label });
      }
    });
  }
  if (wanted('engine')) {
    const minSeconds = options.smoke ? 0.05 : 0.5;
    const engineRows = options.baselineDist === undefined
      ? await engineBenches(timing, minSeconds)
      : await engineBenchesWithBaseline(await loadBaselineEngine(options.baselineDist), options.smoke ? 0.05 : options.quick ? 0.1 : 0.25, options.smoke ? 1 : options.rounds ?? 10);
    for (const r of engineRows) emit(r);
  }
  if (wanted(TAP_E2E_GROUP)) {
    // seconds per transfer: TCP needs a few round trips of slow start before it runs at speed
    const seconds = options.smoke ? 0.3 : options.quick ? 1 : 3;
    const warn = options.warn ?? ((line: string) => { process.stderr.write(`${line}\n`); });
    for (const r of await tapEndToEndBenches(seconds, warn)) emit(r);
  }
  if (wanted(SCALE_GROUP)) {
    const warn = options.warn ?? ((line: string) => { process.stderr.write(`${line}\n`); });
    for (const r of await scaleBenches(options.smoke ? 0.3 : options.quick ? 1 : 3, warn)) emit(r);
  }
  if (!options.json) write(`${formatTable(rows)}\n`);
  return rows;
}
