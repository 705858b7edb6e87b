// A TAP device as a vif's PacketPort: guest frames are written to the TAP with their
// virtio_net_hdr, and frames the host stack sends to the vif are read (with theirs) when libuv
// reports the fd readable and handed to the vif's queues. The TAP is opened with csum, TSO4 and
// TSO6 offloads so GSO frames cross as one write; the engine adapts each frame to what the
// frontend negotiated. Node only.

import type { PacketPort, PacketReceiver } from '../backend/datapath.js';
import type { SinkOffloads } from '../backend/sink.js';
import type { NetworkInterfaceFactory } from '../backend/vif.js';
import { SyscallError } from '../native/addon.js';
import { TapDevice, type TapOffloads } from './tap.js';

const MAX_FRAME = 10 + 65535 + 18; // virtio_net_hdr + a maximal GSO frame with a VLAN tag
const READS_PER_WAKE = 256; // frames drained per readiness callback before yielding
/** Frames one readFrames call reads at most: one crossing to native code per batch, not per frame. */
const READ_SLOTS = 32;
const MIN_READ_AHEAD = 2;

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
  /** Frames go out on the first queue and the link's ioctls go there; frames come in on every queue. */
  private readonly tap: TapDevice;
  private readonly taps: readonly TapDevice[];
  /** READ_SLOTS slots of MAX_FRAME bytes, and the lengths readFrames put in each. */
  private readonly slots = new Uint8Array(READ_SLOTS * MAX_FRAME);
  private readonly lengths = new Uint32Array(READ_SLOTS);
  /** Frames read but not yet handed over (the receiver was not ready): slots [next, read). */
  private next = 0;
  private read = 0;
  private receiver: PacketReceiver | undefined;
  private paused = false;
  /**
   * Frames the next readBatch asks for: through io_uring each slot is a read request, and those
   * that find the queue empty still cost one, so the batch follows what the last ones found
   * (doubling while they come back full, shrinking to what the last one read).
   */
  private readAhead = MIN_READ_AHEAD;

  constructor(taps: TapDevice | readonly TapDevice[], offloads: TapOffloads) {
    this.taps = Array.isArray(taps) ? taps : [taps as TapDevice];
    this.tap = this.taps[0]!;
    this.name = this.tap.name;
    this.offloads = { csum: offloads.csum === true, tso4: offloads.tso4 === true, tso6: offloads.tso6 === true };
  }

  /**
   * `count` queues of the multi-queue TAP `name` that another thread holds (TapDevice.attachQueue):
   * a worker thread's port for one vif. Closing it closes the queues, never the device.
   */
  static attachQueues(name: string, count: number, offloads: TapOffloads = { csum: true, tso4: true, tso6: true }): TapPort {
    const taps: TapDevice[] = [];
    try {
      for (let i = 0; i < count; i++) taps.push(TapDevice.attachQueue(name));
    } catch (error) {
      for (const tap of taps) tap.close();
      throw error;
    }
    return new TapPort(taps, offloads);
  }

  /** The fds of this port's queues (a worker reports them: they outlive a thread that dies). */
  get fds(): number[] {
    return this.taps.filter((tap) => !tap.closed).map((tap) => tap.fd);
  }

  /**
   * Takes the opener's queue out of the kernel's spread (false) or back (true): a vif whose queues
   * run on worker threads reads nothing here. see: TapDevice.setQueueAttached
   */
  setQueueAttached(attached: boolean): void {
    this.tap.setQueueAttached(attached);
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

  transmit(bytes: Uint8Array, offset: number, length: number): boolean {
    try {
      if (this.tap.write(bytes, offset, length) > 0) {
        this.stats.txFrames++;
        return true;
      }
    } catch (error) {
      // a frame the kernel refuses (EINVAL for a bad virtio_net_hdr) is one dropped frame
      if (!(error instanceof SyscallError)) throw error;
    }
    this.stats.txDropped++;
    return false;
  }

  transmitBatch(bytes: Uint8Array, descriptors: Uint32Array, count: number): number {
    let taken: number;
    try {
      // every frame is tried: one the kernel refuses (EINVAL for a bad virtio_net_hdr) alone is dropped
      taken = this.tap.writeBatch(bytes, descriptors, count);
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      taken = 0; // not one went out
    }
    this.stats.txFrames += taken;
    this.stats.txDropped += count - taken;
    return taken;
  }

  setReceiver(receiver: PacketReceiver | undefined): void {
    this.receiver = receiver;
    this.paused = false;
    for (const tap of this.taps) tap.onReadable(receiver === undefined ? null : () => this.readable(tap));
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
    for (const tap of this.taps) tap.onReadable(() => this.readable(tap)); // level-triggered: fires at once if frames wait
    // frames already read wait in their slots, not in a TAP queue: no poll fires for them
    if (this.next < this.read) setImmediate(() => { if (!this.paused) this.readable(this.tap); });
  }

  setUp(up: boolean): void {
    this.tap.setUp(up);
  }

  async close(): Promise<void> {
    this.receiver = undefined;
    for (const tap of this.taps) tap.close();
  }

  abandon(): void {
    this.receiver = undefined;
    for (const tap of this.taps) tap.abandon();
  }

  /**
   * The readable callback: what it throws belongs to the vif it serves (containment.ts), never to
   * the thread's event loop, where it would end the daemon or the worker.
   */
  private readable(tap: TapDevice): void {
    try {
      this.drain(tap);
    } catch (error) {
      const receiver = this.receiver;
      if (receiver?.caught === undefined) throw error;
      receiver.caught('tap', error);
    }
  }

  /**
   * Reads frames from one TAP queue in batches (one readFrames call each) and hands them to the
   * receiver one by one, each only when it has room, as a read per frame did: a frame it cannot
   * take yet stays in its slot (reading paused) until resume().
   */
  private drain(tap: TapDevice): void {
    const receiver = this.receiver;
    if (receiver === undefined) return;
    let frames = this.handOver(receiver);
    while (this.next === this.read && frames < READS_PER_WAKE) {
      const want = Math.min(this.readAhead, READS_PER_WAKE - frames);
      let got: number;
      try {
        got = tap.readBatch(this.slots, 0, MAX_FRAME, this.lengths, want);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        this.stats.readErrors++;
        break;
      }
      this.next = 0;
      this.read = got;
      this.readAhead = got === want ? Math.min(READ_SLOTS, 2 * want) : Math.max(MIN_READ_AHEAD, got + 1);
      frames += this.handOver(receiver);
      if (got < want) break; // the queue is empty: wait for its next readiness
    }
    if (frames > 0) receiver.wake();
  }

  /** Hands over the frames read and not yet taken; stops (and pauses reading) when the receiver is full. */
  private handOver(receiver: PacketReceiver): number {
    let frames = 0;
    for (; this.next < this.read; this.next++) {
      if (receiver.ready?.() === false) {
        // stop watching (a level-triggered poll would spin) until the receiver calls resume()
        this.paused = true;
        this.stats.rxPaused++;
        for (const queue of this.taps) queue.onReadable(null);
        break;
      }
      const at = this.next * MAX_FRAME;
      if (receiver.receive(this.slots.subarray(at, at + this.lengths[this.next]!))) this.stats.rxFrames++;
      else this.stats.rxDropped++;
      frames++;
    }
    return frames;
  }
}

/**
 * Creates a TAP per vif, as the kernel netback creates its netdev at probe. `persistent` (the
 * daemon) marks each with its vif's backend path so it survives a crash of this process and the
 * restarted daemon carries on with it.
 */
export function tapInterfaces(options: { up?: boolean; offloads?: TapOffloads; persistent?: boolean; detached?: boolean } = {}): NetworkInterfaceFactory {
  const { persistent, detached, ...open } = options;
  return {
    create: async (name, { mtu, owner }) => {
      const port = TapPort.open(name, { mtu, ...open, owner: persistent === true ? owner : undefined });
      // `detached`: the vif's queues run on worker threads, which attach TAP queues of their own
      if (detached === true) {
        try {
          port.setQueueAttached(false);
        } catch (error) {
          await port.close();
          throw error;
        }
      }
      return port;
    },
  };
}
