// XSA-155 as it really happens: on real Xen the ring page is mapped into the kernels' memory and a
// guest vCPU rewrites it while the backend parses it. Here the kernels run on a build with shared
// memory (build/netback.shared.wasm, the release build with `--sharedMemory`, used only by this
// test) and a hostile frontend on another thread (double-fetch-frontend.mjs) rewrites every TX slot
// continuously while tx_build runs. A double fetch shows as a decision taken on a value other than
// the private copy, so each batch is replayed on a private (unshared) instance whose ring holds
// exactly the private copies: every op, descriptor, staged status, count and result must be the
// same, and the replay must read exactly the slots the build read, also when the batch ends in a
// fatal (the same fatal status at the same slot); after tx_commit (the frontend now rewriting only the request fields), every response must
// carry the copy's id and the replay's status. The test also counts the batches during which the
// slots changed under the build, so it shows the race it claims to test happened.
import { Worker } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';

const SLOTS = 256;
const ROUNDS = Number(process.env.FUZZ_DOUBLE_FETCH_ROUNDS ?? 1000);
let worker: Worker | undefined;
afterAll(async () => { await worker?.terminate(); });

function region(k: KernelInstance, name: string, length: number): Buffer {
  return Buffer.from(k.bytes.slice(k.constant(name), k.constant(name) + length));
}

// copySlot writes byte 15 of a private copy (0); a build's reads are the positions 0.. it cleared
const UNREAD = 0xEE;
function markCopiesUnread(k: KernelInstance): void {
  const copy = k.constant('TX_REQ_COPY_OFFSET');
  for (let pos = 0; pos < SLOTS; pos++) k.bytes[copy + pos * 16 + 15] = UNREAD;
}
function slotsRead(k: KernelInstance): number {
  const copy = k.constant('TX_REQ_COPY_OFFSET');
  let n = 0;
  while (n < SLOTS && k.bytes[copy + n * 16 + 15] !== UNREAD) n++;
  return n;
}

describe('double fetch: a frontend rewriting TX slots on another thread', () => {
  it('tx_build_every_op_and_response_from_the_private_copy_under_concurrent_rewrites', async () => {
    const shared = await instantiateKernels(await compileKernels(await readFile(new URL('../../build/netback.shared.wasm', import.meta.url))));
    expect(shared.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const replay = await instantiateKernels(await compileKernels(await readKernels('release')));
    const ring = shared.constant('TX_RING_OFFSET');
    const control = new SharedArrayBuffer(12);
    const ctl = new Int32Array(control);
    Atomics.store(ctl, 0, 1);
    worker = new Worker(new URL('./double-fetch-frontend.mjs', import.meta.url), { workerData: { memory: shared.memory, control, ring, slots: SLOTS } });
    const mode = (m: number) => {
      Atomics.store(ctl, 0, m);
      while (Atomics.load(ctl, 1) !== m) Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 50);
    };
    mode(1);
    const fn = (k: KernelInstance, name: string) => k.fn(name);
    const copyBytes = SLOTS * shared.constant('TX_REQ_COPY_STRIDE');
    let raced = 0;
    let fatals = 0;
    let packets = 0;
    let responses = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const start = (round * 97) >>> 0;
      // whole-ring batches mostly reach a hostile slot (a fatal); short ones mostly end before one
      const maxPackets = round % 2 === 0 ? 256 : 1 + (round % 8);
      for (const k of [shared, replay]) {
        k.view.setUint32(k.constant('TX_RING_OFFSET') + 8, start, true);        // rsp_prod
        k.view.setUint32(k.constant('TX_RING_OFFSET') + 0, start + SLOTS, true); // req_prod
      }
      expect(fn(shared, 'tx_attach')()).toBe(0);
      markCopiesUnread(shared);
      markCopiesUnread(replay);
      mode(1);
      // start the build right after the frontend finished a pass: it is running on the other
      // core now, so its next pass overlaps the build (the machine's scheduler decides the rest)
      const passes = Atomics.load(ctl, 2);
      for (let spin = 0; spin < 1e7 && Atomics.load(ctl, 2) === passes; spin++);
      const before = Buffer.from(shared.bytes.slice(ring + 64, ring + 64 + SLOTS * 12));
      const built = fn(shared, 'tx_build')(maxPackets, 0xFFFFFFFF, 20);
      const after = Buffer.from(shared.bytes.slice(ring + 64, ring + 64 + SLOTS * 12));
      const consumed = fn(shared, 'tx_slots_consumed')();
      const read = slotsRead(shared);
      const copy = shared.constant('TX_REQ_COPY_OFFSET');
      // the race happened in this batch: the slots changed during the build, or a copy holds a
      // value the slot did not hold just before it
      let copiedRewrite = false;
      for (let pos = 0; pos < consumed && !copiedRewrite; pos++) {
        copiedRewrite = !before.subarray(((start + pos) & 255) * 12, ((start + pos) & 255) * 12 + 12).equals(Buffer.from(shared.bytes.subarray(copy + pos * 16, copy + pos * 16 + 12)));
      }
      if (!before.equals(after) || copiedRewrite) raced++;
      // the replay's ring holds exactly the private copies the shared build made, and nothing
      // past them: a replay that reads further decided on something the build never read
      const replayRing = replay.constant('TX_RING_OFFSET');
      replay.bytes.fill(0, replayRing + 64, replayRing + 64 + SLOTS * 12);
      for (let pos = 0; pos < read; pos++) {
        replay.bytes.set(shared.bytes.subarray(copy + pos * 16, copy + pos * 16 + 12), replayRing + 64 + ((start + pos) & 255) * 12);
      }
      expect(fn(replay, 'tx_attach')()).toBe(0);
      const replayed = fn(replay, 'tx_build')(maxPackets, 0xFFFFFFFF, 20);
      if (built < 0) fatals++;
      expect(replayed, `round ${round}: a decision the private copies do not explain`).toBe(built);
      expect([slotsRead(replay), fn(replay, 'tx_slots_consumed')()], `round ${round}: slots read, consumed`).toEqual([read, consumed]);
      const ops = fn(shared, 'tx_op_count')();
      const pkts = fn(shared, 'tx_packet_count')();
      expect([fn(replay, 'tx_op_count')(), fn(replay, 'tx_packet_count')()]).toEqual([ops, pkts]);
      expect(region(replay, 'TX_OPS_OFFSET', ops * 16).equals(region(shared, 'TX_OPS_OFFSET', ops * 16)), `round ${round}: ops differ from the replay of the copies`).toBe(true);
      expect(region(replay, 'TX_PKT_DESC_OFFSET', pkts * 32).equals(region(shared, 'TX_PKT_DESC_OFFSET', pkts * 32)), `round ${round}: descriptors differ`).toBe(true);
      expect(region(replay, 'TX_REQ_COPY_OFFSET', copyBytes).subarray(0, read * 16).equals(region(shared, 'TX_REQ_COPY_OFFSET', copyBytes).subarray(0, read * 16)), `round ${round}: private copies or staged responses differ`).toBe(true);
      packets += pkts;
      // commit while the frontend keeps rewriting the request fields (bytes 4..11) of every slot
      mode(2);
      for (const k of [shared, replay]) for (let o = 0; o < ops; o++) k.view.setInt16(k.constant('TX_OPS_OFFSET') + o * 16 + 12, 0, true);
      fn(shared, 'tx_commit')();
      fn(replay, 'tx_commit')();
      for (let pos = 0; pos < consumed; pos++) {
        const at = (start + pos) & 255;
        const status = shared.view.getInt16(ring + 64 + at * 12 + 2, true);
        const copyId = shared.view.getUint16(copy + pos * 16 + 8, true);
        if (status !== 1) expect(shared.view.getUint16(ring + 64 + at * 12, true), `round ${round}: response ${pos} id not from the copy`).toBe(copyId);
        expect(status, `round ${round}: response ${pos} status`).toBe(replay.view.getInt16(replayRing + 64 + at * 12 + 2, true));
        responses++;
      }
    }
    Atomics.store(ctl, 0, 0);
    console.log(`double fetch: ${ROUNDS} batches (${fatals} ending in a fatal), ${raced} with the slots rewritten during tx_build, ${Atomics.load(ctl, 2)} rewrite passes, ${packets} packets, ${responses} responses checked`);
    // the race happened: slots changed under the build in some of the batches (not a vacuous pass)
    expect(raced).toBeGreaterThan(ROUNDS / 100);
    expect(responses).toBeGreaterThan(ROUNDS);
    // fatal batches were compared too, and so were batches that ended without one
    expect(fatals).toBeGreaterThan(0);
    expect(fatals).toBeLessThan(ROUNDS);
  }, 120_000);
});
