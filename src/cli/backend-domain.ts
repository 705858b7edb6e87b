// Which domain's backends the daemon serves. In dom0 (/proc/xen/capabilities says control_d) dom0's;
// anywhere else this domain is a driver domain and serves its own, so it needs its domid, which only
// xenstore tells it: the `domid` node the toolstack writes in /local/domain/<domid>, read through the
// domain's own connection, where a relative path resolves to that directory.
// see: docs/misc/xenstore.txt (relative paths); xl.cfg(5) driver_domain

import { XenStoreError } from '../xen/errors.js';
import type { XenStore } from '../xen/types.js';

/** The backend domain's domid, or undefined when neither capabilities nor xenstore tell it. */
export async function backendDomainOf(xs: Pick<XenStore, 'read'>, capabilities: string | undefined): Promise<number | undefined> {
  if (capabilities?.includes('control_d') === true) return 0;
  let raw: string | undefined;
  try {
    raw = await xs.read('domid');
  } catch (error) {
    if (error instanceof XenStoreError) return undefined; // e.g. EACCES: the same answer as no node
    throw error;
  }
  // `Number('')` is 0: an empty or garbled node must not make a driver domain serve dom0's backends
  return raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : undefined;
}
