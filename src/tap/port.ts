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
  private readonly buffer = new Uint8Array(MAX_FRAME);
  private receiver: PacketReceiver | undefined;
  private paused = false;

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
    for (; frames < READS_PER_WAKE; frames++) {
      if (receiver.ready?.() === false) {
        // stop watching (a level-triggered poll would spin) until the receiver calls resume()
        this.paused = true;
        this.stats.rxPaused++;
        this.tap.onReadable(null);
        break;
      }
      let length: number;
      try {
        length = this.tap.readInto(this.buffer, 0, this.buffer.length);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        this.stats.readErrors++;
        break;
      }
      if (length === 0) break;
      if (receiver.receive(this.buffer.subarray(0, length))) this.stats.rxFrames++;
      else this.stats.rxDropped++;
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
