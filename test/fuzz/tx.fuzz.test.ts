// Bounded guest-TX fuzzing in `npm test` (FUZZ_RUNS cases, default 100); `npm run fuzz` runs long.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTxProgram, txProgramArb } from './tx-fuzz.js';
import { fuzzBudget, FuzzWorld, reportTally, Tally } from './world.js';

const DEFAULT_RUNS = 100;
let world: FuzzWorld;
const budget = fuzzBudget(DEFAULT_RUNS);
const tally = new Tally();
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => {
  await world.close();
  await reportTally('fuzz_tx', tally);
});

describe('fuzz: guest TX ring', () => {
  it('fuzz_tx_chains_typed_oracle', async () => {
    await fc.assert(fc.asyncProperty(txProgramArb, async (program) => {
      tally.add(await runTxProgram(world, program));
    }), budget.params);
    await world.assertVictimsFlow();
    expect(tally.cases).toBeGreaterThan(0);
  }, budget.timeout);
});
