// The daemon's clock: CLOCK_MONOTONIC_COARSE through the native addon. The data path reads the
// time for every frame it queues for a guest (drain deadlines) and around every event (busy time);
// Date.now() and performance.now() are a system call each where the clocksource has no vDSO mode
// (a Xen PV dom0, where each one is a trap through the hypervisor: a third of the daemon's system
// calls before this). The coarse clock ticks at the kernel's HZ, which is the resolution Linux
// netback's own deadlines have (jiffies). Node only.

import { systemClock, type Clock } from '../backend/clock.js';
import type { NativeAddon } from '../native/addon.js';

/** Milliseconds at tick resolution; performance.now() with an addon that predates the call. */
export function coarseMilliseconds(native: NativeAddon): () => number {
  // the addon's wrapper directly: this is read per queued frame and twice per event
  return native.monotonicCoarseMs ?? (() => performance.now());
}

/** systemClock's timers with the coarse time line. */
export function coarseClock(native: NativeAddon): Clock {
  return { now: coarseMilliseconds(native), setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
}
