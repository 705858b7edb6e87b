// The only place that instantiates the kernels module and indexes its memory. The rest of the
// project holds a KernelInstance and passes integers (addresses from the layout, lengths) across;
// views over memory are rebuilt whenever memory.buffer changes (after a grow).
// see: undici lib/dispatcher/client-h1.js (one owner of the Wasm boundary)

import { KernelUsageError, StatusTable } from './errors.js';

export type KernelFunction = (...args: number[]) => number;

/** Every exported constant of assembly/layout.ts, by name (TX_RING_OFFSET, PAGE_SIZE, ...). */
export type Layout = Readonly<Record<string, number>>;

const PAGE_SIZE = 65536;

function exportedConstants(exports: WebAssembly.Exports): Map<string, number> {
  const constants = new Map<string, number>();
  for (const [name, value] of Object.entries(exports)) {
    if (value instanceof WebAssembly.Global) constants.set(name, Number(value.value));
  }
  return constants;
}

export class KernelInstance {
  readonly memory: WebAssembly.Memory;
  readonly layout: Layout;
  readonly statuses: StatusTable;
  readonly counterNames: readonly string[];
  private readonly exports: WebAssembly.Exports;
  private readonly constants: Map<string, number>;
  private buffer: ArrayBuffer | SharedArrayBuffer | undefined;
  private readonly shared: boolean;
  private u8View = new Uint8Array(0);
  private dataView = new DataView(new ArrayBuffer(0));

  constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports;
    const memory = this.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new KernelUsageError('NETBACK_MODULE_INVALID', 'kernels module exports no memory');
    this.memory = memory;
    this.shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const constants = exportedConstants(this.exports);
    this.constants = constants;
    const layout: Record<string, number> = {};
    const statuses: [string, number][] = [];
    const counters: [string, number][] = [];
    for (const [name, value] of constants) {
      if (name.startsWith('STATUS_')) statuses.push([name, value]);
      else if (name.startsWith('COUNTER_')) counters.push([name.slice('COUNTER_'.length).toLowerCase(), value]);
      else layout[name] = value;
    }
    this.layout = Object.freeze(layout);
    this.statuses = new StatusTable(statuses);
    this.counterNames = counters.sort((a, b) => a[1] - b[1]).map(([name]) => name);
    this.checkLayout();
    const end = this.constant('LAYOUT_END');
    const missing = end - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE_SIZE));
  }

  /** An exported constant (layout, STATUS_*, COUNTER_*); throws if the module lacks it (a host/module mismatch). */
  constant(name: string): number {
    const value = this.constants.get(name);
    if (value === undefined) throw new KernelUsageError('NETBACK_MODULE_INVALID', `kernels module exports no constant ${name}`);
    return value;
  }

  /** A kernel entry point; throws if the module does not export it. */
  fn(name: string): KernelFunction {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new KernelUsageError('NETBACK_MODULE_INVALID', `kernels module exports no function ${name}`);
    return f as KernelFunction;
  }

  /** Calls a kernel and throws the typed error of a negative status. */
  call(name: string, ...args: number[]): number {
    return this.statuses.check(this.fn(name)(...args), name);
  }

  get bytes(): Uint8Array {
    this.refreshViews();
    return this.u8View;
  }

  get view(): DataView {
    this.refreshViews();
    return this.dataView;
  }

  /** Copies bytes into memory at `address`, checking they fit the region [regionStart, regionStart+regionSize). */
  write(address: number, data: Uint8Array, regionStart: number, regionSize: number): void {
    if (address < regionStart || address + data.length > regionStart + regionSize) {
      throw new KernelUsageError('NETBACK_REGION_OVERFLOW', `${data.length} bytes at ${address} do not fit the region at ${regionStart} (${regionSize} bytes)`);
    }
    this.bytes.set(data, address);
  }

  /** A copy (not a view) of memory, safe to keep across later kernel calls. */
  read(address: number, length: number): Uint8Array {
    return this.bytes.slice(address, address + length);
  }

  private refreshViews(): void {
    // memory.buffer is a slow accessor (~20 ns) and the data path asks for views per frame. A grow
    // detaches a non-shared memory's old buffer, whose views then read length 0: that check is
    // enough (`length`: V8 inlines it, `byteLength` here costs ~12 ns). A shared memory's buffer
    // is never detached, so it is compared every time.
    if (this.u8View.length !== 0 && !this.shared) return;
    const buffer = this.memory.buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer;
      this.u8View = new Uint8Array(buffer);
      this.dataView = new DataView(buffer);
    }
  }

  private checkLayout(): void {
    const staticEnd = this.fn('static_data_end')();
    const base = this.constant('LAYOUT_BASE');
    if (staticEnd > base) {
      throw new KernelUsageError('NETBACK_MODULE_INVALID', `static data (${staticEnd} bytes) overlaps the layout at ${base}`);
    }
    const page = this.constant('PAGE_SIZE');
    // A region is an X_OFFSET with an X_SIZE beside it; other *_OFFSET names are struct fields.
    for (const [name, value] of Object.entries(this.layout)) {
      const isRegion = name.endsWith('_OFFSET') && this.layout[`${name.slice(0, -'_OFFSET'.length)}_SIZE`] !== undefined;
      if (isRegion && value % page !== 0) {
        throw new KernelUsageError('NETBACK_MODULE_INVALID', `${name} = ${value} is not page-aligned`);
      }
    }
  }
}

const imports = {
  env: {
    abort(_message: number, _file: number, line: number, column: number): never {
      // Only the debug build keeps assertions; reaching one is a backend bug, never guest input.
      throw new KernelUsageError('NETBACK_KERNEL_ABORT', `kernel assertion failed at ${line}:${column}`);
    },
  },
};

/** Compiles the kernels once; instantiate one KernelInstance per queue from the result. */
export function compileKernels(bytes: BufferSource): Promise<WebAssembly.Module> {
  return WebAssembly.compile(bytes);
}

export async function instantiateKernels(module: WebAssembly.Module): Promise<KernelInstance> {
  const instance = await WebAssembly.instantiate(module, imports);
  return new KernelInstance(instance);
}
