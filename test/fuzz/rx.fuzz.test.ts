// Bounded guest-RX / host-side frame fuzzing in `npm test` (FUZZ_RUNS cases, default 60).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRxProgram, rxProgramArb } from './rx-fuzz.js';
import { fuzzBudget, FuzzWorld, reportTally, Tally } from './world.js';

const DEFAULT_RUNS = 60;
let world: FuzzWorld;
const budget = fuzzBudget(DEFAULT_RUNS);
const tally = new Tally();
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => {
  await world.close();
  await reportTally('fuzz_rx', tally);
});

describe('fuzz: guest RX ring and frames from the TAP side', () => {
  it('fuzz_rx_requests_and_tap_frames_typed_oracle', async () => {
    await fc.assert(fc.asyncProperty(rxProgramArb, async (program) => {
      tally.add(await runRxProgram(world, program));
    }), budget.params);
    await world.assertVictimsFlow();
    expect(tally.cases).toBeGreaterThan(0);
  }, budget.timeout);
});
