// The bounded fuzz property `npm test` runs for a guest ring (TX, RX): FUZZ_RUNS programs (or
// FUZZ_SECONDS, FUZZ_SEED) against two FuzzWorlds, one on the release kernels and one on the debug
// kernels (assertions kept), cases alternating between them, each outcome tallied and reported,
// then the victims of both must still carry traffic.
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
  let worlds: FuzzWorld[] = [];
  const budget = fuzzBudget(options.defaultRuns);
  const tally = new Tally();
  beforeAll(async () => { worlds = [await FuzzWorld.create({ build: 'release' }), await FuzzWorld.create({ build: 'debug' })]; });
  afterAll(async () => {
    for (const world of worlds) await world.close();
    await reportTally(options.tallyName, tally);
  });
  describe(options.suite, () => {
    it(options.test, async () => {
      let run = 0;
      await fc.assert(fc.asyncProperty(options.programs, async (program) => {
        tally.add(await options.run(worlds[run++ & 1]!, program));
      }), budget.params);
      for (const world of worlds) await world.assertVictimsFlow();
      expect(tally.cases).toBeGreaterThan(0);
    }, budget.timeout);
  });
}
