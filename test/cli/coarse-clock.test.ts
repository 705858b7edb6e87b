// The daemon's clock: CLOCK_MONOTONIC_COARSE from the addon moves with real time (to a tick) and
// never backwards, and an addon without the call falls back to performance.now().

import { describe, expect, it } from 'vitest';
import { coarseClock, coarseMilliseconds } from '../../src/cli/coarse-clock.js';
import { loadNative, nativeAvailable, type NativeAddon } from '../../src/native/addon.js';

const TICK_SLACK_MS = 25; // a tick is 1-10 ms (HZ 1000-100); the rest is scheduling noise

describe.runIf(nativeAvailable())('coarse clock', () => {
  it('coarse_clock_tracks_elapsed_time_to_a_tick', async () => {
    const now = coarseMilliseconds(loadNative());
    const c0 = now();
    const p0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const c1 = now();
    const p1 = performance.now();
    expect(c1 - c0).toBeGreaterThan(p1 - p0 - TICK_SLACK_MS);
    expect(c1 - c0).toBeLessThan(p1 - p0 + TICK_SLACK_MS);
  });

  it('coarse_clock_never_goes_backwards', () => {
    const clock = coarseClock(loadNative());
    let last = clock.now();
    let backwards = 0;
    for (let i = 0; i < 20000; i++) {
      const t = clock.now();
      if (t < last) backwards++;
      last = t;
    }
    expect(backwards).toBe(0);
  });
});

it('coarse_clock_falls_back_to_performance_now_without_the_addon_call', () => {
  const now = coarseMilliseconds({} as NativeAddon);
  const before = performance.now();
  const t = now();
  expect(t).toBeGreaterThanOrEqual(before);
  expect(t).toBeLessThanOrEqual(performance.now());
});
