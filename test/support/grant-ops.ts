// Grant-copy ops written into a kernels instance's TX op region the way the kernels write them
// (the GNTOP format read from the exports), and their statuses read back: for the grant-table
// tests of the one-thread and the cross-thread simulations.

import type { KernelInstance } from '../../src/index.js';

export interface CopyOp {
  gref: number;
  guestOffset: number;
  len: number;
  local: number;
  toGuest?: boolean;
}

/** Writes the ops at TX_OPS_OFFSET (statuses preset to -99); returns that address. */
export function writeCopyOps(k: KernelInstance, ops: readonly CopyOp[]): number {
  const base = k.constant('TX_OPS_OFFSET');
  const size = k.constant('GNTOP_SIZE');
  ops.forEach((op, i) => {
    const p = base + i * size;
    k.view.setUint32(p + k.constant('GNTOP_GREF'), op.gref, true);
    k.view.setUint16(p + k.constant('GNTOP_GUEST_OFF'), op.guestOffset, true);
    k.view.setUint16(p + k.constant('GNTOP_LEN'), op.len, true);
    k.view.setUint32(p + k.constant('GNTOP_LOCAL'), op.local, true);
    k.view.setInt16(p + k.constant('GNTOP_STATUS'), -99, true);
    k.view.setUint16(p + k.constant('GNTOP_FLAGS'), op.toGuest === true ? k.constant('GNTOP_F_TO_GUEST') : 0, true);
  });
  return base;
}

/** The GNTST status the copy wrote into op `i`. */
export function copyOpStatus(k: KernelInstance, i: number): number {
  return k.view.getInt16(k.constant('TX_OPS_OFFSET') + i * k.constant('GNTOP_SIZE') + k.constant('GNTOP_STATUS'), true);
}
