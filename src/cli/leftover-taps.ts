// TAPs an earlier daemon process left behind when it died (persistent and marked with their vif's
// backend path, see src/tap/tap.ts). Before the watcher starts, those whose vif still exists are
// kept for its probe to adopt (the guest carries on) and the others removed, as their vif's
// teardown would have; once the first scan has settled, the sweep runs again for directories that
// went away in between (a TAP a live vif holds is never touched).

import type { Logger } from '../log.js';
import type { XenStore } from '../xen/types.js';

export interface LeftoverTapOptions {
  xs: XenStore;
  /** The marked TAPs there are now (ownedTaps()). */
  owned: () => Array<{ name: string; owner: string }>;
  /** Removes one (removeLeftoverTap): throws when it cannot, e.g. EBUSY while a vif holds it. */
  remove: (name: string) => void;
  log: Logger;
}

/**
 * Removes the TAPs whose vif's backend directory is gone and that no live vif holds (`held`). A
 * xenstore error keeps the TAP: only a vif known to be gone loses it. Returns the names removed.
 */
export async function sweepLeftoverTaps(options: LeftoverTapOptions, held?: (name: string) => boolean): Promise<string[]> {
  const { xs, log } = options;
  const removed: string[] = [];
  for (const { name, owner } of options.owned()) {
    if (held?.(name) === true) continue;
    let state: string | undefined;
    try {
      state = await xs.read(`${owner}/state`);
    } catch (error) {
      log('warn', `keeping ${name}: cannot tell whether its vif ${owner} exists (${(error as Error).message})`, { vif: name });
      continue;
    }
    if (state !== undefined) {
      if (held === undefined) log('info', `found ${name} left by an earlier process; its vif ${owner} still exists`, { vif: name });
      continue;
    }
    try {
      options.remove(name);
      removed.push(name);
      log('info', `removed ${name} left by an earlier process (its vif ${owner} is gone)`, { vif: name });
    } catch (error) {
      log('warn', `could not remove ${name} left by an earlier process: ${(error as Error).message}`, { vif: name });
    }
  }
  return removed;
}
