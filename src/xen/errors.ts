import { NetbackError } from '../wasm/errors.js';
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
