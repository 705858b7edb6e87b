// Node-only: a Linux TAP device through the native addon, the PacketSink the daemon connects each
// vif to. Frames cross it with a 10-byte virtio_net_hdr in front (IFF_VNET_HDR, TUNSETVNETHDRSZ
// 10) in BOTH directions: a read returns header + frame, a write must start with a header. So a
// caller reading into a packet buffer leaves VNET_HDR_SIZE bytes of room before where the frame
// should land, and a caller writing puts the header right before the frame. With TSO offloads on,
// a single frame can be up to 64 KiB plus header: size read buffers for that.
//
// By default the TAP is not persistent: closing the fd removes the device, as xen-netback does
// when a vif goes away. With an `owner` (the daemon's vifs) it is persistent and marked with that
// owner in its ifalias, and close() removes it: only a process that dies without close() leaves it
// behind, still enslaved to its bridge, for a restarted daemon to adopt (or to sweep when its vif
// is gone). All I/O is nonblocking; readiness comes from libuv (uv_poll), no thread per device.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { NetbackError } from '../errors.js';
import { loadNative, nativeUnavailableReason, SyscallError, type NativeAddon, type NativeBuffer, type PollHandle, type TapBatchMode } from '../native/addon.js';
import { VNET_HDR_SIZE } from '../backend/vnet-header.js';

export interface TapOffloads {
  /** TUN_F_CSUM: the stack may hand us, and accept from us, frames with a partial checksum. */
  csum?: boolean;
  /** TUN_F_TSO4 (needs csum): TCPv4 GSO frames up to 64 KiB cross as one frame. */
  tso4?: boolean;
  /** TUN_F_TSO6 (needs csum). */
  tso6?: boolean;
}

export interface TapOpenOptions {
  /** The interface name, 1..15 bytes (IFNAMSIZ - 1), e.g. vif3.0. */
  name: string;
  mtu?: number;
  offloads?: TapOffloads;
  /** Bring the link up once configured (default: leave it down, as hotplug scripts expect). */
  up?: boolean;
  /**
   * Who the device belongs to (the daemon passes the vif's backend path): makes it persistent
   * and marks it, so it outlives a crash of this process and a restart can adopt it.
   */
  owner?: string;
}

/** What an owned TAP's ifalias holds: visible to operators in `ip link`, read back by a restart. */
export const TAP_OWNER_PREFIX = 'wasm-netback:';

/** The owner recorded in an interface's ifalias, if it is one of ours (undefined otherwise). */
export function tapOwner(name: string, sysClassNet = '/sys/class/net'): string | undefined {
  let alias: string;
  try {
    alias = readFileSync(`${sysClassNet}/${name}/ifalias`, 'utf8').trim();
  } catch {
    return undefined; // no such interface
  }
  return alias.startsWith(TAP_OWNER_PREFIX) ? alias.slice(TAP_OWNER_PREFIX.length) : undefined;
}

/**
 * Queues attached to a TAP right now, as the kernel's real_num_rx_queues shows them (it reads 1
 * with none attached). A holder that detached its queue (setQueueAttached(false)) is not counted.
 */
export function attachedQueues(name: string, sysClassNet = '/sys/class/net'): number {
  try {
    return readdirSync(`${sysClassNet}/${name}/queues`).filter((entry) => entry.startsWith('rx-')).length;
  } catch {
    return 0;
  }
}

/** Why TAP devices (and the network namespaces they are tested in) cannot be used here, or undefined. */
export function tapUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (TAP devices and network namespaces need CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  const noAddon = nativeUnavailableReason();
  if (noAddon !== undefined) return noAddon;
  return undefined;
}

/** The TAP configuration was refused before any syscall (bad name, offload combination...). */
export class TapConfigError extends NetbackError {}

/** The device was used after close(): its fd number may already belong to something else. */
export class TapClosedError extends NetbackError {
  constructor(name: string) {
    super('NETBACK_TAP_CLOSED', `TAP ${name} is closed`);
  }
}

/** Linux's rule for interface names. see: net/core/dev.c dev_valid_name */
export function validateInterfaceName(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes >= 16) {
    throw new TapConfigError('NETBACK_TAP_BAD_NAME', `interface name ${JSON.stringify(name)} must be 1..15 bytes`);
  }
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new TapConfigError('NETBACK_TAP_BAD_NAME', `interface name ${JSON.stringify(name)} may not be . or .. or contain /, : or whitespace`);
  }
}

function offloadBits(addon: NativeAddon, offloads: TapOffloads): number {
  const c = addon.constants;
  // see: drivers/net/tun.c set_offload — TSO bits are only accepted together with TUN_F_CSUM.
  if ((offloads.tso4 || offloads.tso6) && !offloads.csum) {
    throw new TapConfigError('NETBACK_TAP_BAD_OFFLOADS', 'TSO offloads need the csum offload (TUN_F_CSUM)');
  }
  return (offloads.csum ? c.TUN_F_CSUM : 0) | (offloads.tso4 ? c.TUN_F_TSO4 : 0) | (offloads.tso6 ? c.TUN_F_TSO6 : 0);
}

/** A SharedArrayBuffer (a shared WebAssembly.Memory) reaches the addon through a byte view. */
function asNative(buffer: NativeBuffer): NativeBuffer {
  return buffer instanceof SharedArrayBuffer ? new Uint8Array(buffer) : buffer;
}

export class TapDevice {
  /** Bytes of virtio_net_hdr in front of every frame read or written. */
  readonly vnetHeaderSize = VNET_HDR_SIZE;
  private fdOrClosed: number;
  private poll: PollHandle | undefined;
  /** What the poll calls while watching (onReadable). */
  private readable: (() => void) | undefined;

  private constructor(
    private readonly addon: NativeAddon,
    fd: number,
    /** The name the kernel gave the device. */
    readonly name: string,
    /** Persistent and marked (opened with an owner): close() must remove it explicitly. */
    readonly persistent: boolean,
    /** The device already existed with the same owner: left behind by an earlier process. */
    readonly adopted: boolean,
    /** IFF_MULTI_QUEUE: further queues can be attached (attachQueue), this one detached. */
    readonly multiQueue: boolean,
  ) {
    this.fdOrClosed = fd;
    applyBatchModeFromEnv(addon);
  }

  /** Creates (or attaches to) the TAP, sets header size, offloads, MTU and nonblocking mode. */
  static open(options: TapOpenOptions): TapDevice {
    validateInterfaceName(options.name);
    const addon = loadNative();
    const bits = offloadBits(addon, options.offloads ?? {});
    if (options.mtu !== undefined && (!Number.isInteger(options.mtu) || options.mtu < 68 || options.mtu > 65535)) {
      throw new TapConfigError('NETBACK_TAP_BAD_MTU', `MTU ${options.mtu} is outside 68..65535`);
    }
    const c = addon.constants;
    const owner = options.owner;
    if (owner !== undefined && (owner === '' || Buffer.byteLength(TAP_OWNER_PREFIX + owner) > 255 || /[\n\0]/.test(owner))) {
      throw new TapConfigError('NETBACK_TAP_BAD_OWNER', `TAP owner ${JSON.stringify(owner.slice(0, 64))} does not fit an ifalias`);
    }
    const adopted = owner !== undefined && tapOwner(options.name) === owner;
    // An owned device is ours alone: unless we adopt our own leftover, a device of that name
    // (another vif's, an operator's) is refused (EBUSY) rather than taken over and re-marked.
    const exclusive = owner !== undefined && !adopted ? c.IFF_TUN_EXCL : 0;
    // Multi-queue, so that worker threads can attach queues of their own (attachQueue) while
    // this fd keeps the device. A single-queue device an older process left is adopted as it is.
    const base = c.IFF_TAP | c.IFF_NO_PI | c.IFF_VNET_HDR | exclusive;
    let opened: { fd: number; name: string };
    let multiQueue = true;
    try {
      opened = addon.tapOpen(options.name, base | c.IFF_MULTI_QUEUE);
    } catch (error) {
      if (!(adopted && error instanceof SyscallError && error.code === 'EINVAL')) throw error;
      opened = addon.tapOpen(options.name, base);
      multiQueue = false;
    }
    const { fd, name } = opened;
    if (multiQueue && attachedQueues(name) > 1) {
      // a multi-queue TUNSETIFF attaches where a single-queue one said EBUSY: someone holds it
      addon.closeFd(fd);
      throw new SyscallError('EBUSY', 16, 'ioctl TUNSETIFF', `TAP ${name} is held by another process (queues attached)`, undefined);
    }
    const tap = new TapDevice(addon, fd, name, owner !== undefined, adopted, multiQueue);
    try {
      addon.tapSetVnetHdrSize(fd, VNET_HDR_SIZE);
      addon.tapSetOffload(fd, bits);
      // marked before it is made persistent, so a kill in between never leaves an unmarked
      // device that no sweep would remove (IFALIASZ is 256)
      if (owner !== undefined && !adopted) writeFileSync(`/sys/class/net/${name}/ifalias`, TAP_OWNER_PREFIX + owner);
      addon.tapSetPersist(fd, owner === undefined ? 0 : 1);
      addon.setNonblock(fd, true);
      // an adopted device keeps the MTU the hotplug script gave it (vif-bridge copies the bridge's)
      if (options.mtu !== undefined && !adopted) addon.ifSetMtu(name, options.mtu);
      if (options.up) addon.ifSetUp(name, true);
    } catch (error) {
      tap.close();
      throw error;
    }
    return tap;
  }

  /**
   * Opens one more queue of the multi-queue TAP `name` that another TapDevice of this process
   * holds (a worker thread's queue: the kernel spreads the host's frames over attached queues by
   * flow). The queue is nonblocking; closing it leaves the device to its holder. The device must
   * exist: TUNSETIFF on an unknown name would create a new one.
   */
  static attachQueue(name: string): TapDevice {
    validateInterfaceName(name);
    if (!existsSync(`/sys/class/net/${name}`)) throw new TapConfigError('NETBACK_TAP_NO_DEVICE', `no TAP ${name} to attach a queue to`);
    const addon = loadNative();
    const c = addon.constants;
    const { fd } = addon.tapOpen(name, c.IFF_TAP | c.IFF_NO_PI | c.IFF_VNET_HDR | c.IFF_MULTI_QUEUE);
    const tap = new TapDevice(addon, fd, name, false, false, true);
    try {
      addon.setNonblock(fd, true);
    } catch (error) {
      tap.close();
      throw error;
    }
    return tap;
  }

  /**
   * Takes this queue out of (false) or back into (true) the kernel's spread of frames; a
   * detached queue still holds the device and answers its ioctls (persist, carrier).
   */
  setQueueAttached(attached: boolean): void {
    const c = this.addon.constants;
    this.addon.tapSetQueue(this.fd, attached ? c.IFF_ATTACH_QUEUE : c.IFF_DETACH_QUEUE);
  }

  get fd(): number {
    if (this.fdOrClosed < 0) throw new TapClosedError(this.name);
    return this.fdOrClosed;
  }

  private assertOpen(): void {
    if (this.fdOrClosed < 0) throw new TapClosedError(this.name);
  }

  get closed(): boolean {
    return this.fdOrClosed < 0;
  }

  /**
   * Reads one frame (virtio_net_hdr first) into buffer[offset, offset+capacity). Returns its
   * length including the header, or 0 when no frame is waiting. A frame longer than capacity is
   * truncated by the kernel: give at least header + MTU + 14 (64 KiB + header with TSO on).
   */
  readInto(buffer: NativeBuffer, offset: number, capacity: number): number {
    return this.addon.readFrame(this.fd, asNative(buffer), offset, capacity);
  }

  /** Writes one frame that starts with its virtio_net_hdr. Returns bytes written (0: would block). */
  write(buffer: NativeBuffer, offset: number, length: number): number {
    return this.addon.writeFrame(this.fd, asNative(buffer), offset, length);
  }

  /**
   * Reads up to `maxFrames` frames in one call: frame i goes to offset + i*slotSize (header
   * first) and its length to lengths[i]. Returns the number read; stops early when none is left.
   */
  readBatch(buffer: NativeBuffer, offset: number, slotSize: number, lengths: Uint32Array, maxFrames = lengths.length): number {
    return this.addon.readFrames(this.fd, asNative(buffer), offset, slotSize, maxFrames, lengths);
  }

  /**
   * Writes `count` frames given as (offset, length) pairs in `descriptors`, each starting with its
   * header. Every frame is tried (one the kernel refuses is dropped, the others still go); returns
   * how many went out. Throws a SyscallError only when none went out, saying why.
   */
  writeBatch(buffer: NativeBuffer, descriptors: Uint32Array, count = descriptors.length >>> 1): number {
    return this.addon.writeFrames(this.fd, asNative(buffer), descriptors, count);
  }

  /**
   * Calls `callback` from the event loop whenever a frame is waiting (uv_poll, level-triggered):
   * the callback must read until readInto returns 0, or it is called again on the next turn.
   * `null` stops watching. One watcher per device; a new callback replaces the old one.
   */
  onReadable(callback: (() => void) | null): void {
    const fd = this.fd;
    const addon = this.addon;
    this.readable = callback ?? undefined;
    // A reader held back by a full consumer stops and starts its watch many times a second: the
    // handle stays, only its events change (see the addon's pollEvents), where the addon can.
    if (addon.pollEvents !== undefined && this.poll !== undefined) {
      addon.pollEvents(this.poll, callback === null ? 0 : addon.constants.UV_READABLE);
      return;
    }
    if (this.poll !== undefined) {
      addon.pollStop(this.poll);
      this.poll = undefined;
    }
    if (callback === null) return;
    // A poll error (status < 0) still means "look at the fd": the read reports the real errno.
    this.poll = addon.pollStart(fd, addon.constants.UV_READABLE, () => this.readable?.());
  }

  /** The link's carrier (TUNSETCARRIER); false when the addon predates it (nothing changed). */
  setCarrier(on: boolean): boolean {
    this.assertOpen();
    if (this.addon.tapSetCarrier === undefined) return false;
    this.addon.tapSetCarrier(this.fd, on ? 1 : 0);
    return true;
  }

  setUp(up: boolean): void {
    this.assertOpen();
    this.addon.ifSetUp(this.name, up);
  }

  isUp(): boolean {
    this.assertOpen();
    return (this.addon.ifGetFlags(this.name) & this.addon.constants.IFF_UP) !== 0;
  }

  get mtu(): number {
    this.assertOpen();
    return this.addon.ifGetMtu(this.name);
  }

  setMtu(mtu: number): void {
    this.assertOpen();
    this.addon.ifSetMtu(this.name, mtu);
  }

  /** Stops readiness and closes the fd; the kernel removes the device (persistence cleared first). Idempotent. */
  close(): void {
    if (this.fdOrClosed < 0) return;
    if (this.persistent) {
      try {
        this.addon.tapSetPersist(this.fdOrClosed, 0);
      } catch (error) {
        // the fd is closed below anyway; a device that stays is swept by the next daemon start
        if (!(error instanceof SyscallError)) throw error;
      }
    }
    this.release();
  }

  /**
   * What the kernel does to our fd when this process dies: closed, persistence untouched, so an
   * owned device stays (the simulation of a crash, and of a restart that adopts the device).
   */
  abandon(): void {
    if (this.fdOrClosed < 0) return;
    this.release();
  }

  private release(): void {
    if (this.poll !== undefined) {
      this.addon.pollStop(this.poll);
      this.poll = undefined;
    }
    const fd = this.fdOrClosed;
    this.fdOrClosed = -1;
    this.addon.closeFd(fd);
  }
}

/**
 * How this thread's TAP batches reach the kernel: 'io_uring' (a batch per system call) or
 * 'syscalls' (one per frame; no io_uring here, or the TAP refused RWF_NOWAIT). `mode` switches:
 * 'syscalls' turns io_uring off for this thread, 'io_uring' tries it again. NETBACK_TAP_BATCHES=
 * syscalls in the environment turns it off for the whole process (applied at the first TAP opened
 * on each thread). An addon built before io_uring batches answers 'syscalls'.
 */
export function tapBatchMode(mode?: TapBatchMode): TapBatchMode {
  const addon = loadNative();
  return addon.tapBatchMode?.(mode) ?? 'syscalls';
}

/** NETBACK_TAP_BATCHES=syscalls: applied once per thread, before its first TAP batch. */
let batchModeApplied = false;
function applyBatchModeFromEnv(addon: NativeAddon): void {
  if (batchModeApplied) return;
  batchModeApplied = true;
  if (process.env.NETBACK_TAP_BATCHES === 'syscalls') addon.tapBatchMode?.('syscalls');
}

/** Interfaces marked as owned by us, with their owners (the sweep after a crash looks at these). */
export function ownedTaps(sysClassNet = '/sys/class/net'): Array<{ name: string; owner: string }> {
  let names: string[];
  try {
    names = readdirSync(sysClassNet);
  } catch {
    return [];
  }
  const owned: Array<{ name: string; owner: string }> = [];
  for (const name of names) {
    const owner = tapOwner(name, sysClassNet);
    if (owner !== undefined) owned.push({ name, owner });
  }
  return owned;
}

/**
 * Removes a TAP left behind by an earlier process (persistent, nobody attached): attach to it,
 * clear persistence, close. Throws a SyscallError when it is not a TAP or someone holds it.
 */
export function removeLeftoverTap(name: string): void {
  validateInterfaceName(name);
  const addon = loadNative();
  const c = addon.constants;
  const flags = c.IFF_TAP | c.IFF_NO_PI | c.IFF_VNET_HDR;
  let fd: number;
  try {
    fd = addon.tapOpen(name, flags | c.IFF_MULTI_QUEUE).fd;
  } catch (error) {
    // a single-queue device (left by a version before multi-queue) refuses the flag
    if (!(error instanceof SyscallError && error.code === 'EINVAL')) throw error;
    fd = addon.tapOpen(name, flags).fd;
  }
  try {
    addon.tapSetPersist(fd, 0);
  } finally {
    addon.closeFd(fd);
  }
}
