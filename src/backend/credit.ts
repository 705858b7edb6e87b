// Guest-TX rate limiting for one queue, as Linux netback does it: a byte credit refilled once
// per window (`rate = "<bytes>,<usecs>"`, the window kept with millisecond granularity like
// msecs_to_jiffies(usecs / 1000)), capped at max(128 KiB, bytes) so a 64 KiB GSO packet can
// always pass eventually. A packet larger than the remaining credit parks the queue until one
// timer at the next window edge; the timer refills and resumes TX. No busy loop: while parked the
// queue builds nothing. see: netback.c tx_add_credit, tx_credit_exceeded, xenvif_tx_credit_callback;
// xenbus.c xen_net_rate_changed; interface.c xenvif_init_queue

import type { Clock, TimerHandle } from './clock.js';
import type { RateLimit } from './frontend-config.js';

/** The minimum burst: a 64 KiB (or up to 128 KiB jumbo) packet never seizes the queue. see: netback.c tx_add_credit */
export const CREDIT_MIN_BURST = 131072;

/** What tx_build takes for "no limit" (the kernel's CREDIT_UNLIMITED). */
export const CREDIT_UNLIMITED_U32 = 0xFFFFFFFF;

export interface CreditStats {
  /** Times the queue parked for lack of credit (a timer was armed). */
  parks: number;
  /** Window refills (tx_add_credit calls). */
  refills: number;
}

export class CreditLimiter {
  readonly stats: CreditStats = { parks: 0, refills: 0 };
  /** Bytes per window; Infinity when unlimited (Linux's ~0UL). */
  private creditBytes = Infinity;
  /** The window in milliseconds (Linux: msecs_to_jiffies(credit_usec / 1000)). */
  private windowMs = 0;
  private remainingCredit = Infinity;
  private windowStart: number;
  private timer: TimerHandle | undefined;
  private closed = false;

  /**
   * @param onRefill called from the window-edge timer after the refill: resume TX there.
   */
  constructor(private readonly clock: Clock, rate: RateLimit, private readonly onRefill: () => void) {
    this.windowStart = clock.now();
    this.applyRate(rate);
    this.remainingCredit = this.creditBytes; // see: xenbus.c connect (remaining_credit = credit_bytes)
  }

  /** Bytes left in this window (Infinity when unlimited). */
  get remaining(): number {
    return this.remainingCredit;
  }

  /** Whether the queue waits for the window-edge timer. */
  get parked(): boolean {
    return this.timer !== undefined;
  }

  get unlimited(): boolean {
    return this.creditBytes === Infinity;
  }

  /** The credit argument for tx_build: a u32, 0xFFFFFFFF meaning unlimited. */
  buildCredit(): number {
    if (this.remainingCredit === Infinity) return CREDIT_UNLIMITED_U32;
    return Math.min(Math.max(0, Math.floor(this.remainingCredit)), CREDIT_UNLIMITED_U32 - 1);
  }

  /** Debits what a batch consumed (each packet's total size). */
  debit(bytes: number): void {
    this.remainingCredit -= bytes;
  }

  /**
   * A packet of `size` bytes did not fit the remaining credit: refill if the window has passed,
   * else park until the window edge. Returns true when TX must stop (the timer will resume it),
   * false when the refill made room and the caller should build again.
   * see: netback.c tx_credit_exceeded
   */
  exceeded(size: number): boolean {
    if (this.closed) return true;
    if (this.timer !== undefined) return true; // parked already
    const now = this.clock.now();
    const nextCredit = this.windowStart + this.windowMs;
    if (now >= nextCredit) {
      this.windowStart = now;
      this.addCredit();
    }
    if (size > this.remainingCredit) {
      // As Linux: the timer targets the edge computed before any refill above (it may lie in the
      // past after an idle spell, then it fires at once and refills again: the catch-up).
      this.arm(Math.max(0, nextCredit - now));
      this.windowStart = nextCredit;
      this.stats.parks++;
      return true;
    }
    return false;
  }

  /**
   * A live re-rate from the `rate` watch: a pending window timer fires now (with the new rate),
   * else the remaining credit is clamped down to the new burst. see: xenbus.c xen_net_rate_changed
   */
  setRate(rate: RateLimit): void {
    this.applyRate(rate);
    if (this.closed) return;
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.arm(0); // mod_timer_pending(&credit_timeout, jiffies)
    } else if (this.remainingCredit > this.creditBytes) {
      this.remainingCredit = this.creditBytes;
    }
  }

  /** Releases the timer (the queue is going away). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private applyRate(rate: RateLimit): void {
    if (rate.unlimited) {
      this.creditBytes = Infinity;
      this.windowMs = 0;
    } else {
      this.creditBytes = rate.bytes;
      this.windowMs = Math.floor(rate.usecs / 1000);
    }
  }

  // see: netback.c tx_add_credit (the ULONG_MAX wrap clamp is Infinity here)
  private addCredit(): void {
    const maxBurst = Math.max(CREDIT_MIN_BURST, this.creditBytes);
    this.remainingCredit = Math.min(this.remainingCredit + this.creditBytes, maxBurst);
    this.stats.refills++;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.addCredit(); // see: netback.c xenvif_tx_credit_callback
      this.onRefill();
    }, ms);
  }
}
