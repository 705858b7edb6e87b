// Waiting on work that happens outside this event loop (a worker thread, a child process, a
// scraper): polled against the wall clock. test/backend/helpers.ts `until` counts event-loop rounds
// instead, for work on this thread, where a round is the unit that matters.

/** Polls `probe` every `pollMs` until it gives a value other than undefined; fails naming `what` after `ms`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms: number, pollMs = 10): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Polls `predicate` every `pollMs` until it holds; fails naming `what` after `ms`. */
export async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, ms: number, pollMs = 10): Promise<void> {
  await waitFor(what, async () => ((await predicate()) ? true : undefined), ms, pollMs);
}
