// A test grant table for the guest-RX path: guest pages by gref, and an executor for a kernel's
// grant-copy plan (GNTOP_* format) against a KernelInstance's memory, with per-op failure
// injection. Mirrors what the host's grant layer does: a copy must stay inside one 4 KiB guest
// page (GNTST_bad_copy_arg otherwise) and an unknown gref fails with GNTST_bad_gntref.

import type { KernelInstance } from '../../src/wasm/module.js';

export const GNTST_OKAY = 0;
export const GNTST_BAD_GNTREF = -3;
export const GNTST_BAD_COPY_ARG = -10;

const GUEST_PAGE = 4096;

export class GrantPages {
  readonly pages = new Map<number, Uint8Array>();
  /** Op index → status to report instead of copying (failure injection). */
  readonly failOps = new Map<number, number>();

  page(gref: number): Uint8Array {
    let p = this.pages.get(gref);
    if (!p) {
      p = new Uint8Array(GUEST_PAGE);
      this.pages.set(gref, p);
    }
    return p;
  }

  /** Executes `count` ops starting at `opsAddress` and writes each op's s16 status. */
  execute(k: KernelInstance, opsAddress: number, count: number): void {
    const c = (n: string): number => k.constant(n);
    const size = c('GNTOP_SIZE');
    for (let i = 0; i < count; i++) {
      const a = opsAddress + i * size;
      const view = k.view;
      const gref = view.getUint32(a + c('GNTOP_GREF'), true);
      const off = view.getUint16(a + c('GNTOP_GUEST_OFF'), true);
      const len = view.getUint16(a + c('GNTOP_LEN'), true);
      const local = view.getUint32(a + c('GNTOP_LOCAL'), true);
      const toGuest = (view.getUint16(a + c('GNTOP_FLAGS'), true) & c('GNTOP_F_TO_GUEST')) !== 0;
      let status = this.failOps.get(i) ?? GNTST_OKAY;
      if (status === GNTST_OKAY) {
        const page = this.pages.get(gref);
        if (!page) status = GNTST_BAD_GNTREF;
        else if (len === 0 || off + len > GUEST_PAGE) status = GNTST_BAD_COPY_ARG;
        else if (toGuest) page.set(k.bytes.subarray(local, local + len), off);
        else k.bytes.set(page.subarray(off, off + len), local);
      }
      k.view.setInt16(a + c('GNTOP_STATUS'), status, true);
    }
  }
}
