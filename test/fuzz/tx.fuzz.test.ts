// Bounded guest-TX fuzzing in `npm test` (FUZZ_RUNS cases, default 100); `npm run fuzz` runs long.
import { fuzzRingProperty } from './ring-property.js';
import { runTxProgram, txProgramArb } from './tx-fuzz.js';

fuzzRingProperty({
  suite: 'fuzz: guest TX ring', test: 'fuzz_tx_chains_typed_oracle', tallyName: 'fuzz_tx',
  defaultRuns: 100, programs: txProgramArb, run: runTxProgram,
});
