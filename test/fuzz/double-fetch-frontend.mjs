// The hostile frontend of test/fuzz/double-fetch.test.ts, on its own thread: it rewrites the TX
// ring's request slots through the shared kernel memory for as long as the test runs, with plain
// (non-atomic) stores, as a guest vCPU can rewrite a granted ring page at any instant.
//   control[0]: 1 rewrite every byte of each slot, 2 rewrite only bytes 4..11 (leave the response
//               fields alone, so the test can read the responses commit wrote), 0 stop
//   control[1]: the mode this thread has switched to (the test waits for it)
//   control[2]: rewrites done
import { workerData } from 'node:worker_threads';

const { memory, control, ring, slots } = workerData;
const view = new DataView(memory.buffer);
const ctl = new Int32Array(control);
let x = 0x12345678;
const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
for (;;) {
  const mode = Atomics.load(ctl, 0);
  if (mode === 0) break;
  if (Atomics.load(ctl, 1) !== mode) { Atomics.store(ctl, 1, mode); Atomics.notify(ctl, 1); }
  for (let i = 0; i < slots; i++) {
    const at = ring + 64 + i * 12;
    const r = next();
    // mostly plausible one-slot packets (so a build runs long), sometimes chains and lies
    const hostile = (r & 0x70) === 0;
    if (mode === 1) view.setUint32(at, hostile ? r : r & 7, true);             // gref
    view.setUint16(at + 4, hostile ? (r >>> 4) & 0x1FFF : (r >>> 4) & 0x3FF, true); // offset
    view.setUint16(at + 6, hostile ? (r >>> 17) & 0xF : (r >>> 17) & 0x3, true); // flags: csum bits, more_data, extra_info
    view.setUint16(at + 8, next() & 0xFFFF, true);                             // id
    view.setUint16(at + 10, hostile ? x & 0xFFFF : 60 + ((x >>> 16) & 0x3FF), true); // size
  }
  Atomics.add(ctl, 2, 1);
}
