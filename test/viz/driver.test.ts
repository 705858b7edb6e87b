// The visualizer's simulation and snapshot in Node: the same objects the page draws.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, readKernels } from '../../src/index.js';
import { VizSim } from '../../src/viz/driver.js';
import { SNAPSHOT_VERSION, type HostSnapshot } from '../../src/viz/snapshot.js';

let kernels: WebAssembly.Module;
let sim: VizSim | undefined;

beforeAll(async () => { kernels = await compileKernels(await readKernels()); });
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const totalBatches = (s: HostSnapshot): number =>
  s.vifs.reduce((n, v) => n + v.queues.reduce((m, q) => m + q.counters.txBatches! + q.counters.rxBatches!, 0), 0);

describe('visualizer simulation', () => {
  it('snapshot_indices_match_the_frontend_rings', async () => {
    sim = await VizSim.create({ kernels });
    sim.burst();
    await sim.host.settle();
    const snap = JSON.parse(JSON.stringify(sim.snapshot())) as HostSnapshot;
    expect(snap.version).toBe(SNAPSHOT_VERSION);
    expect(snap.vifs.map((v) => [v.name, v.domid, v.state, v.carrier, v.disabled])).toEqual([
      ['vif1.0', 1, 'Connected', true, null], ['vif2.0', 2, 'Connected', true, null],
    ]);
    for (const vif of snap.vifs) {
      const q = vif.queues[0]!;
      // 24 frames went each way: every TX request consumed and answered, RX responses written
      expect(q.tx.reqProd).toBe(24);
      expect(q.tx.reqCons).toBe(24);
      expect(q.tx.rspProd).toBe(24);
      expect(q.rx.rspProd).toBe(24);
      expect(q.counters.tx_ring_packets).toBe(24);
      expect(q.tx.batch.every((slot) => slot.kind === 'request' && slot.status === 0 && slot.size === 64)).toBe(true);
      expect(q.rx.batch.slice(-1)[0]).toMatchObject({ kind: 'response', status: 64 });
      expect(vif.features.gsoTcpv4).toBe(true);
    }
  });

  it('step_runs_exactly_one_batch', async () => {
    sim = await VizSim.create({ kernels });
    sim.burst();
    await sim.pause();
    const frozen = totalBatches(sim.snapshot());
    await sim.host.settle();
    expect(totalBatches(sim.snapshot())).toBe(frozen);
    const first = sim.step()!;
    expect(first).toMatchObject({ batches: 1, queues: ['vif1.0-q0'] });
    expect(totalBatches(sim.snapshot())).toBe(frozen + 1);
    await sim.host.settle();
    expect(totalBatches(sim.snapshot())).toBe(frozen + 1);
    const second = sim.step()!;
    expect(second).toMatchObject({ batches: 1, queues: ['vif2.0-q0'], label: 'vif2.0 RX wake' });
  });

  it('hostile_mode_disables_only_the_hostile_vif', async () => {
    sim = await VizSim.create({ kernels, mix: 'hostile' });
    sim.burst();
    await sim.host.settle();
    const snap = sim.snapshot();
    expect(snap.vifs.map((v) => v.disabled)).toEqual([null, null, 'NETBACK_FATAL_TOO_MANY_SLOTS']);
    expect(snap.vifs[2]!.carrier).toBe(false);
  });

  it('rx_gso_off_segments_in_wasm', async () => {
    sim = await VizSim.create({ kernels, mix: 'bulk' });
    sim.burst();
    await sim.host.settle();
    expect(sim.snapshot().vifs[1]!.counters.rxSoftwareSegments).toBe(0);
    await sim.setRxGso(false);
    sim.burst();
    await sim.host.settle();
    const receiver = sim.snapshot().vifs[1]!;
    expect(receiver.features.gsoTcpv4).toBe(false);
    expect(receiver.counters.rxSoftwareSegments).toBeGreaterThan(0);
    expect(receiver.counters.rxSoftwareSegments! % 45).toBe(0); // whole frames of 45 MSS-sized segments
  });
});
