// Adding to a per-queue counter (counters.ts holds the indices). Kept out of counters.ts, whose
// every export is the module's export surface (index.ts re-exports it whole so a new counter needs
// no host change): an exported countAdd would let a caller add at any index, i.e. write anywhere.

import { COUNTERS_OFFSET } from './layout';

// @ts-ignore: decorator
@inline export function countAdd(counter: u32, amount: u64): void {
  const address = <usize>COUNTERS_OFFSET + (<usize>counter << 3);
  store<u64>(address, load<u64>(address) + amount);
}
