import { NetbackError } from '../errors.js';
import type { XenStoreErrno } from './types.js';

/** A xenstore operation failed; `errno` is the name xenstored answered with. */
export class XenStoreError extends NetbackError {
  readonly errno: XenStoreErrno;
  readonly path: string;
  constructor(errno: XenStoreErrno, operation: string, path: string) {
    super(`NETBACK_XENSTORE_${errno}`, `xenstore ${operation} ${path}: ${errno}`);
    this.errno = errno;
    this.path = path;
  }
}

/** A /dev/xen/gntdev operation failed (map, unmap, grant copy); `errno` is the errno name. */
export class GrantTableError extends NetbackError {
  readonly errno: string | undefined;
  constructor(code: string, message: string, errno?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.errno = errno;
  }
}

/** A /dev/xen/evtchn operation failed (bind, notify, unmask); `errno` is the errno name. */
export class EventChannelDeviceError extends NetbackError {
  readonly errno: string | undefined;
  constructor(code: string, message: string, errno?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.errno = errno;
  }
}
