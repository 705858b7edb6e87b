// A test grant table: grant references are 4096-byte pages held in a Map, and a plan of GNTOP
// ops (the 16-byte format of assembly/netif/defs.ts) is executed against a KernelInstance's
// memory the way IOCTL_GNTDEV_GRANT_COPY would: per-op status, a failed op copies nothing.
// The op format is read independently here (netif-protocol.md §3.1 / defs.ts GNTOP_*).

import type { KernelInstance } from '../../src/wasm/module.js';

export const PAGE = 4096;
// GNTST_* (grant_table.h)
export const GNTST_OKAY = 0;
export const GNTST_GENERAL_ERROR = -1;
export const GNTST_BAD_GNTREF = -4;
export const GNTST_BAD_COPY_ARG = -10;

const OP_SIZE = 16;
const F_TO_GUEST = 0x1;

export interface ExecuteOptions {
  /** Op indices to fail with the given status (default GNTST_GENERAL_ERROR) without copying. */
  failOps?: Iterable<number>;
  failStatus?: number;
  /** The whole call fails (ioctl error): nothing is copied and no status is written. */
  failCall?: boolean;
}

export interface ExecutedOp {
  index: number;
  gref: number;
  guestOffset: number;
  length: number;
  local: number;
  toGuest: boolean;
  status: number;
}

export class TestGrantTable {
  readonly pages = new Map<number, Uint8Array>();
  private nextRef = 8;
  /** Every op executed, in order, across calls. */
  readonly log: ExecutedOp[] = [];

  /** Grants a fresh page (zero-filled unless `contents` is given) and returns its reference. */
  grant(contents?: Uint8Array, at = 0): number {
    const ref = this.nextRef++;
    const page = new Uint8Array(PAGE);
    // a hostile shape may describe bytes past the page end: only what fits is granted
    if (contents !== undefined && at < PAGE) page.set(contents.subarray(0, PAGE - at), at);
    this.pages.set(ref, page);
    return ref;
  }

  page(ref: number): Uint8Array {
    const page = this.pages.get(ref);
    if (page === undefined) throw new Error(`no grant ${ref}`);
    return page;
  }

  /** Executes `count` ops at `opsAddress`; returns false on a whole-call failure. */
  execute(instance: KernelInstance, opsAddress: number, count: number, options: ExecuteOptions = {}): boolean {
    if (options.failCall === true) return false;
    const fail = new Set(options.failOps ?? []);
    const view = instance.view;
    const memory = instance.bytes;
    for (let i = 0; i < count; i++) {
      const p = opsAddress + i * OP_SIZE;
      const op = {
        index: i,
        gref: view.getUint32(p, true),
        guestOffset: view.getUint16(p + 4, true),
        length: view.getUint16(p + 6, true),
        local: view.getUint32(p + 8, true),
        toGuest: (view.getUint16(p + 14, true) & F_TO_GUEST) !== 0,
        status: GNTST_OKAY,
      };
      const page = this.pages.get(op.gref);
      if (fail.has(i)) op.status = options.failStatus ?? GNTST_GENERAL_ERROR;
      else if (page === undefined) op.status = GNTST_BAD_GNTREF;
      else if (op.guestOffset + op.length > PAGE || op.local + op.length > memory.length) op.status = GNTST_BAD_COPY_ARG;
      else if (op.toGuest) page.set(memory.subarray(op.local, op.local + op.length), op.guestOffset);
      else memory.set(page.subarray(op.guestOffset, op.guestOffset + op.length), op.local);
      view.setInt16(p + 12, op.status, true);
      this.log.push(op);
    }
    return true;
  }
}
