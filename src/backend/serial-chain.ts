// Runs async tasks one after another in the order they were queued: all work for one device (a
// vif, a simulated frontend's xenbus side) goes through one, so watch events never interleave.
// No Node module here.

export class SerialChain {
  private tail: Promise<void> = Promise.resolve();

  /** Queues `task` after everything queued so far; resolves when it has run. */
  run(task: () => Promise<void>): Promise<void> {
    const next = this.tail.then(task);
    this.tail = next;
    return next;
  }

  /** Resolves when every task queued so far, and every task those queued, has run. */
  async whenIdle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.tail;
      await seen;
    } while (seen !== this.tail);
  }
}
