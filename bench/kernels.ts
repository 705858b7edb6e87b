// The kernel benchmarks: each runs a bench_* loop inside Wasm on data already in linear memory,
// so what is measured is the kernel, not the JS↔Wasm call. Inputs come from the same frame
// builder the tests use.

import type { Kernels } from '../src/index.js';
import { pseudoRandomBytes } from '../test/reference/frames.js';
import { bestRate, row, type BenchRow, type TimingOptions } from './harness.js';

export interface KernelBench {
  group: string;
  run(k: Kernels, timing: TimingOptions): BenchRow[];
}

const ENGINE_NOTE = `AssemblyScript, Node ${process.version} (V8), one core, cache-hot`;

const rawChecksum: KernelBench = {
  group: 'csum_raw',
  run(k, timing) {
    const instance = k.instance;
    const buffer = instance.constant('SCRATCH_OFFSET');
    const rows: BenchRow[] = [];
    for (const size of [64, 1500, 9000, 65536]) {
      instance.write(buffer, pseudoRandomBytes(size, size), buffer, instance.constant('SCRATCH_SIZE'));
      const bench = instance.fn('bench_inet_checksum');
      const rate = bestRate((n) => bench(buffer, size, n), timing);
      rows.push(row('csum_raw', 'raw_cksum', 'wasm_simd128', size, rate, size, ENGINE_NOTE));
    }
    return rows;
  },
};

export const KERNEL_BENCHES: readonly KernelBench[] = [rawChecksum];
