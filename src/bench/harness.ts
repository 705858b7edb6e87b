// Timing and reporting shared by every benchmark: calibrate a batch to a minimum time, keep the
// best of several batches, print JSON lines in the schema of shared/peer-bench (group kernel impl
// size GBps Gbitps Mops ns_per_op note) and a table.

export interface BenchRow {
  group: string;
  kernel: string;
  impl: string;
  size: number;
  GBps: number;
  Gbitps: number;
  Mops: number;
  ns_per_op: number;
  note: string;
  /** tap_e2e: CPU seconds (user + system) of the backend's thread(s) over the run. */
  backend_cpu_s?: number;
  /** tap_e2e: bits and frames through the backend per backend CPU-second (per backend core). */
  per_core_Gbitps?: number;
  per_core_Mops?: number;
}

export interface TimingOptions {
  /** Seconds a timed batch should last. */
  minTime: number;
  /** Timed batches; the best is kept. */
  reps: number;
}

/** Runs `batch(iterations)` until a batch lasts minTime, then returns the best operations/s. */
export function bestRate(batch: (iterations: number) => void, options: TimingOptions): number {
  let iterations = 1;
  for (;;) {
    const elapsed = timeOnce(batch, iterations);
    if (elapsed > options.minTime / 4) {
      iterations = Math.max(1, Math.ceil(iterations * (options.minTime / elapsed)));
      break;
    }
    iterations *= 4;
  }
  let best = 0;
  for (let r = 0; r < options.reps; r++) best = Math.max(best, iterations / timeOnce(batch, iterations));
  return best;
}

function timeOnce(batch: (iterations: number) => void, iterations: number): number {
  const start = process.hrtime.bigint();
  batch(iterations);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A row from operations/s and the payload bytes each operation processes. */
export function row(group: string, kernel: string, impl: string, size: number, opsPerSecond: number, bytesPerOp: number, note: string): BenchRow {
  const bytesPerSecond = opsPerSecond * bytesPerOp;
  return {
    group, kernel, impl, size,
    GBps: round(bytesPerSecond / 1e9, 3),
    Gbitps: round((bytesPerSecond * 8) / 1e9, 2),
    Mops: round(opsPerSecond / 1e6, 4),
    ns_per_op: opsPerSecond > 0 ? round(1e9 / opsPerSecond, 1) : 0,
    note,
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function formatTable(rows: readonly BenchRow[]): string {
  const perCore = rows.some((r) => r.backend_cpu_s !== undefined);
  const headers = ['group', 'kernel', 'impl', 'size', 'GB/s', 'Gbit/s', 'Mops', 'ns/op', ...(perCore ? ['cpu s', 'Gbit/s/core', 'Mops/core'] : [])];
  const optional = (v: number | undefined, digits: number) => (v === undefined ? '' : v.toFixed(digits));
  const cells = rows.map((r) => [
    r.group, r.kernel, r.impl, String(r.size), r.GBps.toFixed(2), r.Gbitps.toFixed(1), r.Mops.toFixed(3), r.ns_per_op.toFixed(1),
    ...(perCore ? [optional(r.backend_cpu_s, 2), optional(r.per_core_Gbitps, 1), optional(r.per_core_Mops, 3)] : []),
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i < 3 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
