// Engine bugs the fuzzers found, one regression test each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CTRL_TYPE } from '../../src/xen/sim/ctrl-frontend.js';
import { FuzzWorld } from './world.js';

let world: FuzzWorld;
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => { await world.close(); });

describe('fuzz-found regressions', () => {
  it('regression_ctrl_ring_overflow_disables_the_vif', async () => {
    // Found by fuzz_ctrl: a frontend moved the control ring's req_prod 2^31 ahead; the backend
    // answered garbage requests 2048 per turn for ever (and the process ran out of memory).
    // More unanswered requests than the ring holds is now fatal for that vif, as on the data rings.
    const guest = await world.newHostile({ ctrlRing: true, queues: 2 });
    const ctrl = guest.ctrl!;
    world.snapshotVictims();
    const start = ctrl.ring.rspProd;
    ctrl.write(CTRL_TYPE.GET_HASH_FLAGS);
    ctrl.ring.reqProd = (start + 0x80000000) >>> 0;
    ctrl.port.notify();
    await world.settle();
    const path = world.hostileDataPath();
    expect(path.disabled?.code).toBe('NETBACK_FATAL_RING_OVERFLOW');
    expect((ctrl.ring.rspProd - start) >>> 0).toBe(0);
    expect(ctrl.responses.length).toBe(0);
    expect(world.escapes.untyped).toEqual([]);
    // later kicks cost nothing; the other vifs are unaffected
    for (let i = 0; i < 100; i++) ctrl.port.notify();
    world.clock.advance(10);
    await world.settle();
    expect(ctrl.responses.length).toBe(0);
    world.assertVictimsUntouched();
    await world.assertVictimsFlow(3);
  });

  it('regression_ctrl_ring_a_full_ring_is_still_answered', async () => {
    // the boundary of the fix: exactly a ring's worth (128) of requests is legal and answered
    const guest = await world.newHostile({ ctrlRing: true });
    const ctrl = guest.ctrl!;
    for (let i = 0; i < 128; i++) ctrl.write(CTRL_TYPE.GET_HASH_MAPPING_SIZE);
    ctrl.publish();
    ctrl.port.notify();
    world.clock.advance(1);
    await world.settle();
    expect(world.hostileDataPath().disabled).toBeUndefined();
    expect(ctrl.responses).toHaveLength(128);
    expect(ctrl.responses.every((r) => r.status === 0 && r.data === 128)).toBe(true);
  });

  it('assertHostileStillWorks_healthy_vif_passes_disabled_vif_fails', async () => {
    // the oracle a typed-error outcome now goes through must be able to fail: it passes on a
    // working hostile vif and fails on one the backend disabled
    await world.newHostile();
    await world.assertHostileStillWorks();
    const guest = await world.newHostile({ pollMode: 'manual' });
    const raw = guest.netfront.hostile(0);
    raw.setTxReqProd((raw.txRing.reqProd + 0x80000000) >>> 0);
    raw.notifyTx();
    await world.settle();
    expect(world.hostileDataPath().disabled?.code).toBe('NETBACK_FATAL_RING_OVERFLOW');
    await expect(world.assertHostileStillWorks()).rejects.toThrow();
  });
});
