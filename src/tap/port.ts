// A TAP device as a vif's PacketPort: guest frames are written to the TAP with their
// virtio_net_hdr, and frames the host stack sends to the vif are read (with theirs) when libuv
// reports the fd readable and handed to the vif's queues. The TAP is opened with csum, TSO4 and
// TSO6 offloads so GSO frames cross as one write; the engine adapts each frame to what the
// frontend negotiated. Node only.

import type { PacketPort, PacketReceiver } from '../backend/datapath.js';
import type { SinkOffloads } from '../backend/sink.js';
import type { NetworkInterfaceFactory } from '../backend/vif.js';
import { SyscallError } from './native.js';
import { TapClosedError, TapDevice, type TapOffloads } from './tap.js';

const MAX_FRAME = 10 + 65535 + 18; // virtio_net_hdr + a maximal GSO frame with a VLAN tag
const READ_SLOT = (MAX_FRAME + 15) & ~15;
const READS_PER_WAKE = 256; // frames drained per readiness callback before yielding
/**
 * Frames read, and written, per system call (TapDevice.readBatch/writeBatch: one io_uring_enter
 * each where the kernel has io_uring). Reads are further bounded by the receiver's room for
 * maximal frames, so a batch never reads what the backlog would have to drop.
 */
const READ_BATCH = 16;
const WRITE_BATCH = 64;

export interface TapPortStats {
  txFrames: number;
  txDropped: number;
  rxFrames: number;
  rxDropped: number;
  readErrors: number;
  /** TUNSETCARRIER failed or is not in the addon: the link state did not follow the vif's carrier. */
  carrierErrors: number;
  /** Times reading stopped because the vif's backlog was full (the TAP's own queue holds the frames). */
  rxPaused: number;
}

export class TapPort implements PacketPort {
  readonly name: string;
  readonly sink = this;
  readonly offloads: SinkOffloads;
  readonly stats: TapPortStats = { txFrames: 0, txDropped: 0, rxFrames: 0, rxDropped: 0, readErrors: 0, carrierErrors: 0, rxPaused: 0 };
  private readonly tap: TapDevice;
  private readonly buffer = new Uint8Array(READ_SLOT * READ_BATCH);
  private readonly readLengths = new Uint32Array(READ_BATCH);
  private receiver: PacketReceiver | undefined;
  private paused = false;
  /** Frames transmit() queued for the next flush(): (offset, length) pairs in `pendingBytes`. */
  private readonly pending = new Uint32Array(WRITE_BATCH * 2);
  private readonly writeResults = new Int32Array(WRITE_BATCH);
  private pendingCount = 0;
  private pendingBytes: Uint8Array | undefined;
  /** Drops of queued frames found by flushes that transmit() ran (a full batch), not yet reported by flush(). */
  private unreportedDrops = 0;

  constructor(tap: TapDevice, offloads: TapOffloads) {
    this.tap = tap;
    this.name = tap.name;
    this.offloads = { csum: offloads.csum === true, tso4: offloads.tso4 === true, tso6: offloads.tso6 === true };
  }

  /**
   * Opens the TAP named like the kernel's netback would (the caller chose `vif<D>.<N>` or
   * `vifname`); with an `owner` it is persistent and marked, see TapDevice.open.
   */
  static open(name: string, options: { mtu: number; up?: boolean; offloads?: TapOffloads; owner?: string }): TapPort {
    const offloads = options.offloads ?? { csum: true, tso4: true, tso6: true };
    const tap = TapDevice.open({ name, mtu: options.mtu, offloads, up: options.up ?? false, owner: options.owner });
    return new TapPort(tap, offloads);
  }

  /** The device was left by an earlier process (still on its bridge): see Vif's restart rules. */
  get adopted(): boolean {
    return this.tap.adopted;
  }

  /** Queues the frame for flush(): the caller keeps the bytes as they are until then. */
  transmit(bytes: Uint8Array, offset: number, length: number): boolean {
    if (this.pendingCount === WRITE_BATCH || (this.pendingBytes !== undefined && this.pendingBytes !== bytes)) {
      this.unreportedDrops += this.writePending();
    }
    this.pendingBytes = bytes;
    this.pending[2 * this.pendingCount] = bytes.byteOffset + offset;
    this.pending[2 * this.pendingCount + 1] = length;
    this.pendingCount++;
    return true;
  }

  /** Writes the queued frames in one batch; returns how many of them the kernel refused. */
  flush(): number {
    const dropped = this.unreportedDrops + this.writePending();
    this.unreportedDrops = 0;
    return dropped;
  }

  private writePending(): number {
    const count = this.pendingCount;
    const bytes = this.pendingBytes;
    this.pendingCount = 0;
    this.pendingBytes = undefined;
    if (count === 0 || bytes === undefined) return 0;
    let written = 0;
    try {
      written = this.tap.writeBatch(bytes.buffer, this.pending, count, this.writeResults);
    } catch (error) {
      // the device is gone (EBADF after close...): every queued frame is a dropped frame
      if (!(error instanceof SyscallError) && !(error instanceof TapClosedError)) throw error;
    }
    // a frame the kernel refuses (EINVAL for a bad virtio_net_hdr, EAGAIN for a full queue) is one dropped frame
    this.stats.txFrames += written;
    this.stats.txDropped += count - written;
    return count - written;
  }

  setReceiver(receiver: PacketReceiver | undefined): void {
    this.receiver = receiver;
    this.paused = false;
    this.tap.onReadable(receiver === undefined ? null : () => this.drain());
  }

  /**
   * Shows the vif's carrier on the TAP link, so the host stack (and a bridge) stop sending to a
   * stalled guest. The data path drops frames for the guest while the carrier is off anyway, so a
   * kernel without TUNSETCARRIER (< 5.0) only loses the visible link state.
   */
  setCarrier(on: boolean): void {
    try {
      if (!this.tap.setCarrier(on)) this.stats.carrierErrors++;
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      this.stats.carrierErrors++;
    }
  }

  resume(): void {
    if (!this.paused || this.receiver === undefined || this.tap.closed) return;
    this.paused = false;
    this.tap.onReadable(() => this.drain()); // level-triggered: fires at once if frames wait
  }

  setUp(up: boolean): void {
    this.tap.setUp(up);
  }

  async close(): Promise<void> {
    this.receiver = undefined;
    this.tap.close();
  }

  abandon(): void {
    this.receiver = undefined;
    this.tap.abandon();
  }

  private drain(): void {
    const receiver = this.receiver;
    if (receiver === undefined) return;
    let frames = 0;
    while (frames < READS_PER_WAKE) {
      const room = receiver.room?.() ?? (receiver.ready?.() === false ? 0 : 1);
      if (room === 0) {
        // stop watching (a level-triggered poll would spin) until the receiver calls resume()
        this.paused = true;
        this.stats.rxPaused++;
        this.tap.onReadable(null);
        break;
      }
      const want = Math.min(room, READ_BATCH, READS_PER_WAKE - frames);
      let read: number;
      try {
        read = this.tap.readBatch(this.buffer, 0, READ_SLOT, this.readLengths, want);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        this.stats.readErrors++;
        break;
      }
      for (let i = 0; i < read; i++) {
        const at = i * READ_SLOT;
        if (receiver.receive(this.buffer.subarray(at, at + this.readLengths[i]!))) this.stats.rxFrames++;
        else this.stats.rxDropped++;
      }
      frames += read;
      if (read < want) break; // the TAP's queue is empty
    }
    if (frames > 0) receiver.wake();
  }
}

/**
 * Creates a TAP per vif, as the kernel netback creates its netdev at probe. `persistent` (the
 * daemon) marks each with its vif's backend path so it survives a crash of this process and the
 * restarted daemon carries on with it.
 */
export function tapInterfaces(options: { up?: boolean; offloads?: TapOffloads; persistent?: boolean } = {}): NetworkInterfaceFactory {
  const { persistent, ...open } = options;
  return {
    create: async (name, { mtu, owner }) => TapPort.open(name, { mtu, ...open, owner: persistent === true ? owner : undefined }),
  };
}
