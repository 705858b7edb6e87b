// The device handles the engine talks to, each with a real implementation (src/xen/real/, on
// /dev/xen and the native addon) and a simulated one (src/xen/sim/) that ships with the project.
// Nothing here imports a Node module: the engine runs in a browser unchanged.

import type { KernelInstance } from '../wasm/module.js';

/** Errors a xenstore operation reports, by errno name as xenstored sends them (xs_wire.h). */
export type XenStoreErrno = 'ENOENT' | 'EACCES' | 'EAGAIN' | 'EINVAL' | 'E2BIG' | 'EEXIST' | 'EISDIR' | 'ENOSPC' | 'EIO' | 'EBUSY' | 'EROFS' | 'EQUOTA';

export interface XenStoreTransaction {
  readonly id: number;
}

export interface XenStoreWatch {
  readonly path: string;
  readonly token: string;
  /** Stops further events; safe to call twice. */
  close(): Promise<void>;
}

/**
 * A watch callback gets the path that changed (the watched path or one below it). A watch fires
 * once right after it is registered and may fire spuriously (docs/misc/xenstore.txt), so a
 * handler re-reads what it cares about rather than trusting the event.
 */
export type XenStoreWatchHandler = (changedPath: string, token: string) => void;

export interface XenStore {
  /** The value, or undefined when the node does not exist. */
  read(path: string, tx?: XenStoreTransaction): Promise<string | undefined>;
  /** Creates missing parents, as xenstored does. */
  write(path: string, value: string, tx?: XenStoreTransaction): Promise<void>;
  /** Removes a node and everything below it; removing a missing node is not an error. */
  rm(path: string, tx?: XenStoreTransaction): Promise<void>;
  /** Child names, or [] when the node does not exist. */
  directory(path: string, tx?: XenStoreTransaction): Promise<string[]>;
  watch(path: string, token: string, handler: XenStoreWatchHandler): Promise<XenStoreWatch>;
  /**
   * Runs `body` in a transaction and commits it; when the commit fails with EAGAIN (another
   * writer touched what the transaction used) the whole body runs again, up to `attempts` times.
   */
  transaction<T>(body: (tx: XenStoreTransaction) => Promise<T>, attempts?: number): Promise<T>;
  /** /local/domain/<domid> */
  domainPath(domid: number): string;
  close(): Promise<void>;
}

// GNTST_* statuses of a grant operation. see: grant_table.h (netif-protocol.md §3.1)
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
} as const;

/** Where a plan of grant-copy ops lives: a queue's kernels and the op array in their memory. */
export interface GrantCopyPlan {
  readonly instance: KernelInstance;
  /** Address of the first GNTOP entry (the format of assembly/netif/defs.ts, read from the exports). */
  readonly opsAddress: number;
  readonly count: number;
}

export interface GrantMapping {
  /** Unmaps the page; the range in Wasm memory gets private zeroed pages back. Safe to call twice. */
  unmap(): void;
}

/** The backend's view of the grant table (gntdev on real Xen). */
export interface GrantTable {
  /**
   * Executes every op of the plan against pages granted by `domid` and writes each op's GNTST_*
   * status into the op. Returns false when the whole call failed (no status was written).
   */
  copy(domid: number, plan: GrantCopyPlan): boolean;
  /** Maps one granted page at a page-aligned `address` inside the kernels' memory (a ring page). */
  mapPage(domid: number, gref: number, instance: KernelInstance, address: number, readonly: boolean): GrantMapping;
}

export interface EventChannelPort {
  readonly localPort: number;
  readonly remoteDomid: number;
  readonly remotePort: number;
  /** Kicks the remote end. */
  notify(): void;
  /**
   * Re-enables delivery after an event was handled (late EOI, as /dev/xen/evtchn requires: a
   * fired port stays masked until written back). An event that arrived meanwhile fires again.
   */
  unmask(): void;
  /** Unbinds; no event is delivered afterwards. Safe to call twice. */
  close(): void;
}

/** The backend's view of event channels (/dev/xen/evtchn on real Xen). */
export interface EventChannels {
  /** Binds to the frontend's unbound port; `onEvent` runs once per delivery, then the port is masked until unmask(). */
  bindInterdomain(remoteDomid: number, remotePort: number, onEvent: () => void): EventChannelPort;
}
