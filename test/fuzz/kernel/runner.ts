// Runs kernel targets on random cases: `seed` and the case number make each case's bytes, so any
// case is replayed from (target, build, seed, case) alone. One instance per target and build; the
// whole-memory check runs every CHECK_EVERY cases and at the end, and a failure there is narrowed
// to the first case that wrote outside its regions by replaying the window with a check per case.

import { KernelBench, OracleFailure, type Build } from './bench.js';
import { CaseBytes, FuzzInput } from './input.js';
import { kernelTargets, type KernelTarget } from './targets.js';

export const CHECK_EVERY = 1024;

export interface Counterexample {
  target: string;
  build: Build;
  seed: number;
  index: number;
  message: string;
  /** The case's input bytes, hex: `npm run fuzz -- --replay <target>:<build>:<hex>` replays them. */
  hex: string;
}

export interface TargetRun {
  target: string;
  build: Build;
  cases: number;
  seconds: number;
  /** CPU seconds this process spent (user + system): the rate per core on a shared machine. */
  cpuSeconds: number;
  outcomes: Record<string, number>;
  failure?: Counterexample;
}

export function findTarget(name: string): KernelTarget {
  const target = kernelTargets.find((t) => t.name === name);
  if (target === undefined) throw new Error(`no kernel target ${name} (${kernelTargets.map((t) => t.name).join(', ')})`);
  return target;
}

const benches = new Map<string, Promise<KernelBench>>();

/** The target's instance for a build, sealed after its first (empty) case set its state up. */
export async function benchFor(target: KernelTarget, build: Build): Promise<KernelBench> {
  const key = `${target.name}:${build}`;
  let bench = benches.get(key);
  if (bench === undefined) {
    bench = KernelBench.create(build).then((b) => {
      const writable = target.writable(b);
      if (build === 'cover') writable.push(b.region('COVER', b.c('LAYOUT_END'), b.bytes.length - b.c('LAYOUT_END')));
      b.seal(writable);
      return b;
    });
    benches.set(key, bench);
  }
  return bench;
}

/** One case; a thrown error (trap, untyped throw, oracle) is the failure message. */
export function runCase(target: KernelTarget, bench: KernelBench, input: FuzzInput | Uint8Array): { outcome: string; used: number } | { error: string; used: number } {
  const source = input instanceof FuzzInput ? input : new FuzzInput(input);
  try {
    const outcome = target.run(bench, source);
    return { outcome, used: source.used };
  } catch (error) {
    const used = source.used;
    if (error instanceof OracleFailure) return { error: error.message, used };
    if (error instanceof WebAssembly.RuntimeError) return { error: `TRAP ${error.message}`, used };
    return { error: `untyped throw: ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`, used };
  }
}

/** Runs random cases for `seconds` (or until `maxCases`). */
export async function runRandom(target: KernelTarget, build: Build, seed: number, seconds: number, maxCases = Infinity, onProgress?: (run: TargetRun) => void): Promise<TargetRun> {
  const bench = await benchFor(target, build);
  const source = new CaseBytes(target.inputSize);
  const outcomes = new Map<string, number>();
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const deadline = started + seconds * 1000;
  let index = 0;
  let lastCheck = 0;
  const run: TargetRun = { target: target.name, build, cases: 0, seconds: 0, cpuSeconds: 0, outcomes: {} };
  const finish = (failure?: Counterexample): TargetRun => {
    run.cases = index;
    run.seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    run.cpuSeconds = (cpu.user + cpu.system) / 1e6;
    run.outcomes = Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1]));
    if (failure !== undefined) run.failure = failure;
    return run;
  };
  const counterexample = (at: number, message: string, used = target.inputSize): Counterexample => ({
    target: target.name, build, seed, index: at, message, hex: Buffer.from(source.all(seed, at, used)).toString('hex'),
  });
  const sweep = (): Counterexample | undefined => {
    try {
      bench.checkOutside('memory check');
      return undefined;
    } catch (error) {
      return counterexample(lastCheck, `${(error as Error).message} (somewhere in cases ${lastCheck}..${index - 1}; replay each with --case)`);
    }
  };
  while (index < maxCases) {
    const result = runCase(target, bench, source.input(seed, index));
    if ('error' in result) return finish(counterexample(index, result.error, result.used));
    outcomes.set(result.outcome, (outcomes.get(result.outcome) ?? 0) + 1);
    index++;
    if ((index & (CHECK_EVERY - 1)) === 0) {
      const bad = sweep();
      if (bad !== undefined) return finish(bad);
      lastCheck = index;
      if (performance.now() >= deadline) break;
      onProgress?.(finish());
    }
  }
  const bad = sweep();
  return finish(bad);
}

/** Replays one case's bytes on a fresh instance, with the whole-memory check after it. */
export async function replay(target: KernelTarget, build: Build, bytes: Uint8Array): Promise<{ outcome: string; used: number } | { error: string; used: number }> {
  const bench = await KernelBench.create(build);
  const writable = target.writable(bench);
  if (build === 'cover') writable.push(bench.region('COVER', bench.c('LAYOUT_END'), bench.bytes.length - bench.c('LAYOUT_END')));
  bench.seal(writable);
  const result = runCase(target, bench, bytes);
  if ('error' in result) return result;
  try {
    bench.checkOutside('replay');
  } catch (error) {
    return { error: (error as Error).message, used: result.used };
  }
  return result;
}
