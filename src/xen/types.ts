// The device handles the engine talks to, each with a real implementation (src/xen/real/, on
// /dev/xen and the native addon) and a simulated one (src/xen/sim/) that ships with the project.
// Nothing here imports a Node module: the engine runs in a browser unchanged.

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
