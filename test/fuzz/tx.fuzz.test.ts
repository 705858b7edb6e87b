// Bounded guest-TX fuzzing in `npm test` (FUZZ_RUNS cases, default 150); `npm run fuzz` runs long.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTxProgram, txProgramArb } from './tx-fuzz.js';
import { FuzzWorld, Tally } from './world.js';

let world: FuzzWorld;
const tally = new Tally();
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => {
  await world.close();
  console.log(`fuzz_tx: ${tally.cases} cases`, JSON.stringify(tally.toJSON()));
});

describe('fuzz: guest TX ring', () => {
  it('fuzz_tx_chains_typed_oracle', async () => {
    await fc.assert(fc.asyncProperty(txProgramArb, async (program) => {
      tally.add(await runTxProgram(world, program));
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 150), seed: process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED) });
    await world.assertVictimsFlow();
    expect(tally.cases).toBeGreaterThan(0);
  });
});
