// Bounded guest-RX / host-side frame fuzzing in `npm test` (FUZZ_RUNS cases, default 60).
import { fuzzRingProperty } from './ring-property.js';
import { runRxProgram, rxProgramArb } from './rx-fuzz.js';

fuzzRingProperty({
  suite: 'fuzz: guest RX ring and frames from the TAP side', test: 'fuzz_rx_requests_and_tap_frames_typed_oracle', tallyName: 'fuzz_rx',
  defaultRuns: 60, programs: rxProgramArb, run: runRxProgram,
});
