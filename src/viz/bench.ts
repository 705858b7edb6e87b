// The benchmark tab: the kernels' bench_* loops run inside Wasm on data already in linear memory,
// driven as src/bench/kernels.ts drives them in Node (same inputs, same loops), so the figures compare
// V8 in the browser with V8 in Node. Timing: a batch calibrated to MIN_SECONDS, best of REPS.

import { instantiateKernels, type KernelInstance } from '../wasm/module.js';
import { TxRingKernel } from '../wasm/tx-ring.js';
import { buildFrame, pseudoRandomBytes } from '../../test/reference/frames.js';
import { TestGrantTable } from '../../test/support/grant-table.js';
import { gsoExtra, makeFrame, TxFrontend } from '../../test/support/tx-frontend.js';

export interface BrowserBenchRow {
  group: string;
  kernel: string;
  size: number;
  GBps: number;
  Mops: number;
  ns_per_op: number;
}

const MIN_SECONDS = 0.25;
const REPS = 3;

function bestRate(batch: (iterations: number) => void): number {
  const time = (n: number): number => {
    const start = performance.now();
    batch(n);
    return (performance.now() - start) / 1000;
  };
  let iterations = 1;
  for (;;) {
    const elapsed = time(iterations);
    if (elapsed > MIN_SECONDS / 4) {
      iterations = Math.max(1, Math.ceil(iterations * (MIN_SECONDS / elapsed)));
      break;
    }
    iterations *= 4;
  }
  let best = 0;
  for (let r = 0; r < REPS; r++) best = Math.max(best, iterations / time(iterations));
  return best;
}

function row(group: string, kernel: string, size: number, opsPerSecond: number, bytesPerOp: number): BrowserBenchRow {
  return {
    group, kernel, size,
    GBps: (opsPerSecond * bytesPerOp) / 1e9,
    Mops: opsPerSecond / 1e6,
    ns_per_op: 1e9 / opsPerSecond,
  };
}

type Case = (k: KernelInstance) => BrowserBenchRow;

function cases(): Case[] {
  const out: Case[] = [];
  for (const size of [64, 1500, 9000, 65536]) {
    out.push((k) => {
      const at = k.constant('SCRATCH_OFFSET');
      k.write(at, pseudoRandomBytes(size, size), at, k.constant('SCRATCH_SIZE'));
      const bench = k.fn('bench_inet_checksum');
      return row('csum_raw', 'raw_cksum', size, bestRate((n) => bench(at, size, n)), size);
    });
  }
  for (const size of [64, 1500]) {
    out.push((k) => {
      const at = k.constant('SCRATCH_OFFSET');
      const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: size - 54, checksum: 'pseudo' });
      k.write(at, frame, at, k.constant('SCRATCH_SIZE'));
      const bench = k.fn('bench_csum_complete');
      return row('csum_l4', 'csum_complete_tcp4', size, bestRate((n) => bench(at, frame.length, n)), size);
    });
  }
  for (const { ip, gsoType, mss, kernel } of [{ ip: 4 as const, gsoType: 1, mss: 1448, kernel: 'tso_tcp4' }, { ip: 6 as const, gsoType: 2, mss: 1428, kernel: 'tso_tcp6' }]) {
    out.push((k) => {
      const segments = 45;
      const payload = mss * segments;
      const at = k.constant('SCRATCH_OFFSET');
      const { frame } = buildFrame({ ip, l4: 'tcp', payload, tcpOptionBytes: 12, checksum: 'pseudo' });
      k.write(at, frame, at, k.constant('SCRATCH_SIZE'));
      const bench = k.fn('bench_tso');
      const produced = bench(at, frame.length, gsoType, mss, 1);
      if (produced !== segments) throw new Error(`${kernel}: ${produced} segments, expected ${segments}`);
      // GB/s of TCP payload, Mops = segments/s (as src/bench/kernels.ts reports it)
      return row('gso', kernel, payload, bestRate((n) => bench(at, frame.length, gsoType, mss, n)) * segments, payload / segments);
    });
  }
  const shapes: [string, number, (fe: TxFrontend) => void][] = [
    ['64B', 64, (fe) => { for (let i = 0; i < 256; i++) fe.packet({ frame: makeFrame(64, i) }); }],
    ['64KiB_gso', 65535, (fe) => {
      const slots = [1024, ...Array.from({ length: 15 }, () => 4096), 65535 - 1024 - 15 * 4096];
      for (let i = 0; i < 14; i++) fe.packet({ frame: makeFrame(65535, i), slots, extras: [gsoExtra(1448, 1)] });
    }],
  ];
  for (const [label, size, fill] of shapes) {
    out.push((k) => {
      const tx = new TxRingKernel(k);
      const frontend = new TxFrontend(k, new TestGrantTable());
      fill(frontend);
      frontend.publish();
      tx.attach();
      const slotsPerRound = tx.benchParse(1);
      // Mops = M ring slots/s
      return row('tx_parse', `tx_build_commit_${label}`, size, bestRate((n) => tx.benchParse(n)) * slotsPerRound, 0);
    });
  }
  return out;
}

/** Runs every case on a fresh instance each, yielding to the page between rows. */
export async function runBrowserBenches(module: WebAssembly.Module, onRow: (row: BrowserBenchRow) => void): Promise<BrowserBenchRow[]> {
  const rows: BrowserBenchRow[] = [];
  for (const bench of cases()) {
    const instance = await instantiateKernels(module);
    const result = bench(instance);
    rows.push(result);
    onRow(result);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return rows;
}
