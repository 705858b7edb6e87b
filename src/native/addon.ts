// Node-only: loads the native addon (native/netback.c) and gives it a typed face. node-gyp-build
// finds it: a local build (build/Release/netback.node, node-gyp at install or npm run build:native)
// first, else the prebuilt binary for this platform (prebuilds/linux-x64/, prebuilds/linux-arm64/,
// shipped in the npm package and the Debian package). The addon is optional: without it everything
// but real TAP and real Xen works, so loading is lazy and its absence is a typed error that says
// why (the reason npm install could not build it, which npm does not show for a dependency) and how
// to build it.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetbackError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Anything the addon reads or writes bytes in: offsets are byte offsets into this view. */
export type NativeBuffer = ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/** The raw exports of build/Release/netback.node (see native/netback.c for each call's contract). */
export interface NativeAddon {
  readonly constants: Readonly<Record<
    | 'IFF_TAP' | 'IFF_NO_PI' | 'IFF_VNET_HDR' | 'IFF_TUN_EXCL' | 'IFF_MULTI_QUEUE' | 'IFF_ATTACH_QUEUE' | 'IFF_DETACH_QUEUE' | 'TUN_F_CSUM' | 'TUN_F_TSO4' | 'TUN_F_TSO6' | 'TUN_F_TSO_ECN'
    | 'IFF_UP' | 'IFF_RUNNING' | 'UV_READABLE' | 'UV_WRITABLE' | 'IFNAMSIZ', number>>;
  /** open(/dev/net/tun, O_RDWR|O_CLOEXEC) + TUNSETIFF; name is the one the kernel settled on. */
  tapOpen(name: string, flags: number): { fd: number; name: string };
  tapSetVnetHdrSize(fd: number, bytes: number): void;
  tapSetOffload(fd: number, tunFlags: number): void;
  tapSetPersist(fd: number, persist: 0 | 1): void;
  /** TUNSETCARRIER; absent from an addon built before it was added. */
  tapSetCarrier?(fd: number, on: 0 | 1): void;
  /** TUNSETQUEUE with IFF_ATTACH_QUEUE or IFF_DETACH_QUEUE (a multi-queue TAP's fd). */
  tapSetQueue(fd: number, flags: number): void;
  ifSetMtu(name: string, mtu: number): void;
  ifGetMtu(name: string): number;
  ifGetFlags(name: string): number;
  ifSetUp(name: string, up: boolean): void;
  setNonblock(fd: number, on: boolean): void;
  closeFd(fd: number): void;
  /** read(2) of one frame into buffer[offset, offset+capacity); 0 when nothing is ready. */
  readFrame(fd: number, buffer: NativeBuffer, offset: number, capacity: number): number;
  /** write(2) of buffer[offset, offset+length); 0 when the write would block. */
  writeFrame(fd: number, buffer: NativeBuffer, offset: number, length: number): number;
  /** Up to maxFrames reads into slots offset + i*slotSize; lengths[i] gets each frame's size. */
  readFrames(fd: number, buffer: NativeBuffer, offset: number, slotSize: number, maxFrames: number, lengths: Uint32Array): number;
  /** Writes count frames described by (offset, length) pairs, trying every one; returns how many went out. */
  writeFrames(fd: number, buffer: NativeBuffer, descriptors: Uint32Array, count: number): number;
  /**
   * What readFrames/writeFrames use on this thread: a batch per io_uring_enter, or a system call
   * per frame (no io_uring, or the TAP refuses RWF_NOWAIT); 'syscalls' switches io_uring off,
   * 'io_uring' tries it again. Absent from an older build.
   */
  tapBatchMode?(mode?: TapBatchMode): TapBatchMode;
  /** uv_poll_start on the Node loop; level-triggered: drain to EAGAIN in the callback or stop. */
  pollStart(fd: number, events: number, callback: (status: number, events: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;
  /** 0: stop watching, keeping the handle; other events: watch again with the same callback. Absent from an older build. */
  pollEvents?(handle: PollHandle, events: number): void;
  // ---- Xen devices (native/netback.c, "Xen: /dev/xen/gntdev and /dev/xen/evtchn") ----
  gntdevOpen(): number;
  gntdevSetMaxGrants(fd: number, count: number): void;
  /** MAP_GRANT_REF + mmap(MAP_SHARED|MAP_FIXED) at memory + address; returns the gntdev index. */
  gntdevMapPage(fd: number, domid: number, gref: number, memory: NativeBuffer, address: number, writable: boolean): number;
  /** Anonymous zero pages back over memory + address, then UNMAP_GRANT_REF. */
  gntdevUnmapPage(fd: number, index: number, memory: NativeBuffer, address: number): void;
  /** One IOCTL_GNTDEV_GRANT_COPY for `count` GNTOP entries at memory + opsAddress; statuses written back. */
  gntdevGrantCopy(fd: number, memory: NativeBuffer, opsAddress: number, count: number, domid: number): number;
  evtchnOpen(): number;
  evtchnBindInterdomain(fd: number, remoteDomid: number, remotePort: number): number;
  evtchnUnbind(fd: number, port: number): void;
  evtchnNotify(fd: number, port: number): void;
  evtchnReset(fd: number): void;
  /** Fired ports read into `ports`; 0 when none is pending. */
  evtchnReadPending(fd: number, ports: Uint32Array): number;
  /** Writes the port back: the late EOI that re-enables delivery. */
  evtchnUnmask(fd: number, port: number): void;
  bufferAddress(buffer: NativeBuffer): number;
  // ---- simulated Xen across threads (src/xen/sim/shared/) ----
  /** A memfd mapped MAP_SHARED|MAP_FIXED over a page-aligned window of whole pages; returns its fd. */
  memfdBackPages?(pages: NativeBuffer): number;
  /** mmap(MAP_SHARED|MAP_FIXED) of the fd's page at `offset` onto memory + address. */
  mapFdPage?(fd: number, offset: number, memory: NativeBuffer, address: number, writable: boolean): void;
  /** Anonymous zero pages back over memory + address. */
  restorePage?(memory: NativeBuffer, address: number): void;
  /** CLOCK_MONOTONIC_COARSE in ms (tick resolution, read from the vDSO without a system call); absent from older builds. */
  monotonicCoarseMs?(): number;
  /** One datagram to systemd's NOTIFY_SOCKET path ('@name': abstract namespace) from this process; absent from an older build. */
  sdNotify?(path: string, message: string): number;
}

export type TapBatchMode = 'io_uring' | 'syscalls';

declare const pollHandleBrand: unique symbol;
export type PollHandle = { readonly [pollHandleBrand]: true };

/** Where native/install.mjs leaves node-gyp's output when npm install could not build the addon. */
export const INSTALL_FAILURE_LOG = 'build/native-install.log';

/** No build and no prebuilt binary for this platform loads (no compiler at install time, or not Linux). */
export class NativeAddonMissingError extends NetbackError {
  /** The first line of the reason npm install recorded, when it tried and failed. */
  readonly installFailure: string | undefined;
  constructor(root: string, cause: unknown, installFailure?: string) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0]! : String(cause);
    super(
      'NETBACK_NATIVE_MISSING',
      `the native addon is not available for ${process.platform}-${process.arch} in ${root} (${reason}). ` +
        (installFailure === undefined ? '' : `npm install could not build it: ${installFailure} (node-gyp's output: ${join(root, INSTALL_FAILURE_LOG)}). `) +
        'Real TAP devices and real Xen need it: install python3, make and gcc, then run `npm run build:native` there. ' +
        'Everything else (the Wasm kernels, the simulation, benchmarks) works without it.',
      { cause },
    );
    this.installFailure = installFailure;
  }
}

/** A syscall failed; `code` is the errno name (EAGAIN, EBADF, ENODEV...), as in Node's own errors. */
export class SyscallError extends NetbackError {
  readonly errno: number;
  readonly syscall: string;
  /** For batched writes: frames written before the failing one. */
  readonly done: number | undefined;
  constructor(code: string, errno: number, syscall: string, message: string, done: number | undefined) {
    super(code, message);
    this.errno = errno;
    this.syscall = syscall;
    this.done = done;
  }
}

/** The host passed the addon a bad argument (offset+length outside the buffer...): a backend bug. */
export class NativeUsageError extends NetbackError {}

interface RawError {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  done?: unknown;
  message?: unknown;
}

/** Turns what the addon threw into the typed errors above; anything else passes unchanged. */
export function translateNativeError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null || error instanceof NetbackError) return error;
  const raw = error as RawError;
  const message = String(raw.message);
  if (typeof raw.errno === 'number' && typeof raw.code === 'string' && typeof raw.syscall === 'string') {
    return new SyscallError(raw.code, raw.errno, raw.syscall, message, typeof raw.done === 'number' ? raw.done : undefined);
  }
  if (typeof raw.code === 'string' && raw.code.startsWith('NETBACK_NATIVE_')) {
    return new NativeUsageError(raw.code, message, { cause: error });
  }
  return error;
}

/** The package root (package.json, build/, prebuilds/): two levels above src/native/, three above dist/src/native/. */
export function packageRoot(): string {
  const roots = ['../../', '../../../'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return roots.find((dir) => existsSync(join(dir, 'package.json'))) ?? roots[0]!;
}

/** The line of node-gyp's output that says what went wrong, from the log npm install left in root. */
export function installFailureSummary(root: string): string | undefined {
  let log: string;
  try {
    log = readFileSync(join(root, INSTALL_FAILURE_LOG), 'utf8');
  } catch {
    return undefined;
  }
  const lines = log.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  // gyp's own "gyp ERR!" lines come after the compiler's or make's complaint, which says more
  const cause = lines.find((line) => /error|not found|No such file|command not found/i.test(line) && !line.startsWith('gyp ')) ?? lines.find((line) => line.startsWith('gyp ERR!'));
  return cause ?? lines[0] ?? 'no output';
}

let cached: NativeAddon | undefined;
let loadedFrom: string | undefined;

/** The addon with every call's errors translated to typed ones. Throws NativeAddonMissingError. */
export function loadNative(): NativeAddon {
  if (cached !== undefined) return cached;
  const root = packageRoot();
  let raw: NativeAddon;
  let path: string;
  try {
    // required here, not at import: the CLI's commands that never touch the addon need none of it
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    path = nodeGypBuild.path(root);
    raw = require(path) as NativeAddon;
  } catch (cause) {
    throw new NativeAddonMissingError(root, cause, installFailureSummary(root));
  }
  loadedFrom = path;
  const wrapped: Record<string, unknown> = { constants: raw.constants };
  for (const [name, fn] of Object.entries(raw)) {
    if (typeof fn !== 'function') continue;
    const call = fn as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]) => {
      try {
        return call(...args);
      } catch (error) {
        throw translateNativeError(error);
      }
    };
  }
  cached = wrapped as unknown as NativeAddon;
  return cached;
}

/** Whether the addon can be loaded here (for skipping, never for silently degrading). */
export function nativeAvailable(): boolean {
  return nativeUnavailableReason() === undefined;
}

/** Why the addon cannot be loaded here (NativeAddonMissingError's message), or undefined when it loads. */
export function nativeUnavailableReason(): string | undefined {
  try {
    loadNative();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The file the addon was loaded from (a local build or a prebuilt binary), once loadNative succeeded. */
export function nativeAddonFile(): string | undefined {
  return loadedFrom;
}
