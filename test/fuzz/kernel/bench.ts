// One kernels instance per fuzz target, reused across cases: the target resets only the state it
// uses, and this class keeps the pristine image of the memory so the oracle can compare every byte
// outside the regions the target's entry points may write. The comparison is sticky: a stray write
// stays in memory, so checking every `checkEvery` cases (and at the end) finds it, and the case
// window is then replayed case by case to name the first case that wrote it.

import { compileKernels, instantiateKernels, type KernelFunction, type KernelInstance } from '../../../src/wasm/module.js';
import { FrontendFatalError, PacketDropError } from '../../../src/wasm/errors.js';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export type Build = 'release' | 'debug' | 'cover';

const FILES: Record<Build, string> = { release: 'netback.wasm', debug: 'netback.debug.wasm', cover: 'netback.cover.wasm' };

/** build/ is three levels above test/fuzz/kernel/ and four above dist/test/fuzz/kernel/. */
export async function kernelsBytes(build: Build): Promise<Uint8Array> {
  for (const rel of ['../../../build/', '../../../../build/']) {
    try {
      return new Uint8Array(await readFile(fileURLToPath(new URL(rel + FILES[build], import.meta.url))));
    } catch { /* next candidate */ }
  }
  throw new Error(`build/${FILES[build]} is not built (npm run build:wasm${build === 'cover' ? ', then npm run build:cover' : ''})`);
}

const modules = new Map<Build, Promise<WebAssembly.Module>>();

export async function kernelsModule(build: Build): Promise<WebAssembly.Module> {
  let module = modules.get(build);
  if (module === undefined) {
    module = kernelsBytes(build).then((bytes) => compileKernels(bytes as Uint8Array<ArrayBuffer>));
    modules.set(build, module);
  }
  return module;
}

/** A broken oracle: never a NetbackError, so nothing can mistake it for a defined outcome. */
export class OracleFailure extends Error {
  override name = 'OracleFailure';
}

export function fail(message: string): never {
  throw new OracleFailure(message);
}

export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) fail(typeof message === 'string' ? message : message());
}

/** [start, start + size) of linear memory. */
export interface Region { name: string; start: number; size: number }

export class KernelBench {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly fns = new Map<string, KernelFunction>();
  private pristine: Uint8Array | undefined;
  private allowed: Region[] = [];

  private constructor(readonly instance: KernelInstance, readonly build: Build) {
    this.bytes = instance.bytes;
    this.view = instance.view;
  }

  static async create(build: Build): Promise<KernelBench> {
    return new KernelBench(await instantiateKernels(await kernelsModule(build)), build);
  }

  c(name: string): number {
    return this.instance.constant(name);
  }

  fn(name: string): KernelFunction {
    let f = this.fns.get(name);
    if (f === undefined) {
      f = this.instance.fn(name);
      this.fns.set(name, f);
    }
    return f;
  }

  region(name: string, start = this.c(`${name}_OFFSET`), size = this.c(`${name}_SIZE`)): Region {
    return { name, start, size };
  }

  /**
   * A status as the host turns it into an outcome: >= 0 is 'ok', a drop or a fatal is its typed
   * error's code; a host-misuse status (a backend bug, never guest input) or a number that names
   * no status fails the oracle.
   */
  outcome(status: number, fn: string): string {
    if (status >= 0) return 'ok';
    const key = `${fn}:${status}`;
    let known = this.outcomes.get(key);
    if (known === undefined) {
      known = this.classify(status, fn);
      this.outcomes.set(key, known);
    }
    return known;
  }

  private readonly outcomes = new Map<string, string>();

  private classify(status: number, fn: string): string {
    const error = this.instance.statuses.error(status, fn);
    if (error instanceof PacketDropError) check(!error.code.startsWith('NETBACK_STATUS_'), `${fn}: ${status} is no named status`);
    else check(error instanceof FrontendFatalError && !error.code.startsWith('NETBACK_STATUS_'), `${fn} returned ${error.code} (${status}): host misuse or no status from guest input`);
    return `${error instanceof FrontendFatalError ? 'fatal' : 'drop'}:${error.code.replace(/^NETBACK_/, '')}`;
  }

  /** Takes the pristine image: from now on only `writable` may differ from it. */
  seal(writable: Region[]): void {
    this.allowed = [...writable].sort((a, b) => a.start - b.start);
    this.pristine = this.bytes.slice();
  }

  /** Every byte of memory outside the writable regions equals the pristine image. */
  checkOutside(context: string): void {
    const pristine = this.pristine;
    if (pristine === undefined) fail('checkOutside before seal');
    check(this.bytes.length === pristine.length, `${context}: memory grew from ${pristine.length} to ${this.bytes.length} bytes`);
    let from = 0;
    const gaps: [number, number][] = [];
    for (const r of this.allowed) {
      if (r.start > from) gaps.push([from, r.start]);
      from = Math.max(from, r.start + r.size);
    }
    gaps.push([from, pristine.length]);
    for (const [a, b] of gaps) {
      const now = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + a, b - a);
      const then = Buffer.from(pristine.buffer, pristine.byteOffset + a, b - a);
      if (!now.equals(then)) {
        let at = a;
        while (this.bytes[at] === pristine[at]) at++;
        fail(`${context}: byte ${at} (0x${at.toString(16)}) written, outside every region this target may write (${this.allowed.map((r) => r.name).join(', ')})`);
      }
    }
  }
}
