// The bounded fuzz property `npm test` runs for a guest ring (TX, RX): FUZZ_RUNS programs (or
// FUZZ_SECONDS, FUZZ_SEED) against one FuzzWorld, each outcome tallied and reported, then the
// victims must still carry traffic.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzBudget, FuzzWorld, reportTally, Tally, type Outcome } from './world.js';

export function fuzzRingProperty<P>(options: {
  suite: string;
  test: string;
  tallyName: string;
  defaultRuns: number;
  programs: fc.Arbitrary<P>;
  run: (world: FuzzWorld, program: P) => Promise<Outcome>;
}): void {
  let world: FuzzWorld;
  const budget = fuzzBudget(options.defaultRuns);
  const tally = new Tally();
  beforeAll(async () => { world = await FuzzWorld.create(); });
  afterAll(async () => {
    await world.close();
    await reportTally(options.tallyName, tally);
  });
  describe(options.suite, () => {
    it(options.test, async () => {
      await fc.assert(fc.asyncProperty(options.programs, async (program) => {
        tally.add(await options.run(world, program));
      }), budget.params);
      await world.assertVictimsFlow();
      expect(tally.cases).toBeGreaterThan(0);
    }, budget.timeout);
  });
}
