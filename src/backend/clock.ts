// The timers the control plane uses, behind a small interface so tests drive them with a manual
// clock (src/xen/sim/clock.ts) and a browser page with its own. No Node module here.

/** An opaque timer handle: whatever the clock's setTimeout returned. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on this clock's own time line. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** globalThis timers: what the daemon and the browser use. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};
