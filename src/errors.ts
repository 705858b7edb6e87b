// The base of every error the project throws on purpose: kernels' statuses (wasm/errors.ts), the
// addon's system calls (native/addon.ts), xenstore and the devices (xen/errors.ts), the CLI. A
// caller tells ours from a bug by `instanceof NetbackError`, and one kind from another by `code`,
// a stable string (NETBACK_DROP_IP_FRAGMENT, EBADF...) that never changes with the wording.

export class NetbackError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
