// A simulated guest's IP stack, borrowed from a real Linux kernel: a second TAP (the "guest TAP")
// whose network namespace plays the guest, joined to a SimNetfront. Frames the netfront receives
// from the backend are written into the guest TAP with the virtio_net_hdr that says what the
// netfront said (checksum partial / validated, GSO), and frames the guest's kernel sends out of
// the guest TAP are handed to netfront.send() with the checksum state and GSO their header
// carries. So the guest kernel produces real checksum-partial and GSO frames, exactly where a
// Linux guest's xen-netfront would hand them to its ring. Node only (the TAP needs the addon).
//
// The guest TAP's offloads mirror the netdev features a Linux netfront would end up with: the
// kernel only hands the TAP checksum-partial frames when TUN_F_CSUM is on and GSO frames when
// TUN_F_TSO4/6 is on, so a netfront without them gets complete, MSS-sized frames.
// see: xen-netfront.c xennet_fix_features, xennet_set_features; drivers/net/tun.c set_offload

import { flowQueue } from '../backend/datapath.js';
import { SyscallError } from '../native/addon.js';
import { TapDevice, type TapOffloads } from '../tap/tap.js';
import {
  readVnetHeader, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VNET_HDR_SIZE, writeVnetHeader,
} from '../backend/vnet-header.js';
import type { NetfrontChecksum, NetfrontFeatures, NetfrontGso, NetfrontPacket, SimNetfront } from '../xen/sim/netfront.js';

/** netif.h XEN_NETIF_MAX_TX_SIZE: the largest frame a netfront can put on its TX ring. */
export const NETFRONT_MAX_TX_SIZE = 0xffff;
/**
 * The GSO size limit Linux netfront sets on its netdev (XEN_NETIF_MAX_TX_SIZE - MAX_TCP_HEADER,
 * MAX_TCP_HEADER being 320 on x86-64): give it to the guest TAP (`ip link set dev <tap>
 * gso_max_size`) so the guest kernel never builds a GSO frame the ring cannot carry.
 * see: xen-netfront.c xennet_create_dev netif_set_tso_max_size
 */
export const NETFRONT_GSO_MAX_SIZE = NETFRONT_MAX_TX_SIZE - 320;

const MAX_READ = VNET_HDR_SIZE + 65535 + 18;
const READS_PER_WAKE = 256;

export interface GuestTapStats {
  /** Frames from the netfront written into the guest TAP (into the guest's kernel). */
  toStack: number;
  toStackGso: number;
  toStackPartial: number;
  /** Writes the guest TAP refused (EAGAIN, EINVAL for a header the kernel rejects). */
  toStackDropped: number;
  /** Frames that arrived while the guest TAP was down (EIO): the guest's link is not up yet. */
  toStackLinkDown: number;
  /** Frames the guest's kernel sent, handed to netfront.send(). */
  fromStack: number;
  fromStackGso: number;
  fromStackPartial: number;
  /** Frames the netfront dropped (too big, no carrier, needs GSO the backend did not offer...). */
  fromStackDropped: number;
  /** Times the TX queue was stopped (reading paused until its 'wake'). */
  txStopped: number;
  /** Frames whose checksum offsets could not be found (not IPv4/IPv6 TCP/UDP): written without. */
  unparsed: number;
}

export interface GuestTapOptions {
  netfront: SimNetfront;
  /** The guest TAP's name (1..15 bytes). */
  name: string;
  mtu?: number;
  /** Default: what the netfront's features imply ({@link netfrontTapOffloads}). */
  offloads?: TapOffloads;
  /**
   * The netfront queue to send on: a number, or 'flow' to spread flows over all queues by a hash
   * of their addresses and ports, as Linux picks a TX queue per flow (default 0).
   * see: xen-netfront.c xennet_select_queue
   */
  queue?: number | 'flow';
}

/**
 * The offloads a Linux guest's netdev would use with these frontend features: checksum offload
 * unless feature-no-csum-offload, TSO only with checksum offload (and SG, which GSO needs).
 */
export function netfrontTapOffloads(features: Readonly<NetfrontFeatures>): TapOffloads {
  const csum = !features.noCsumOffload;
  return { csum, tso4: csum && features.sg && features.gsoTcpv4, tso6: csum && features.sg && features.gsoTcpv6 };
}

/** Where the checksum of a TCP/UDP frame starts and lies, and the TCP header end (0 for UDP). */
export interface L4Offsets {
  protocol: 6 | 17;
  /** csum_start: the L4 header's offset in the frame. */
  start: number;
  /** csum_offset: the checksum field's offset from start. */
  offset: number;
  /** Ethernet + IP + TCP header length (hdr_len of a GSO frame); 0 for UDP. */
  headerLength: number;
}

const IPV6_EXTENSION = new Set([0, 43, 60, 51]); // hop-by-hop, routing, destination options, AH

/** Finds the L4 header of an Ethernet frame (one optional VLAN tag). see: RFC 791, RFC 8200 §4 */
export function findL4(frame: Uint8Array): L4Offsets | undefined {
  const u16 = (at: number): number => (frame[at]! << 8) | frame[at + 1]!;
  if (frame.length < 14) return undefined;
  let l3 = 14;
  let type = u16(12);
  if (type === 0x8100 || type === 0x88a8) {
    if (frame.length < 18) return undefined;
    type = u16(16);
    l3 = 18;
  }
  let protocol: number;
  let l4: number;
  if (type === 0x0800) {
    if (frame.length < l3 + 20 || frame[l3]! >> 4 !== 4) return undefined;
    const ihl = (frame[l3]! & 0x0f) * 4;
    if (ihl < 20 || (u16(l3 + 6) & 0x3fff) !== 0) return undefined; // fragments have no L4 checksum to offload
    protocol = frame[l3 + 9]!;
    l4 = l3 + ihl;
  } else if (type === 0x86dd) {
    if (frame.length < l3 + 40 || frame[l3]! >> 4 !== 6) return undefined;
    protocol = frame[l3 + 6]!;
    l4 = l3 + 40;
    while (IPV6_EXTENSION.has(protocol)) {
      if (frame.length < l4 + 8) return undefined;
      const length = protocol === 51 ? (frame[l4 + 1]! + 2) * 4 : (frame[l4 + 1]! + 1) * 8;
      protocol = frame[l4]!;
      l4 += length;
    }
  } else {
    return undefined;
  }
  if (protocol === 6) {
    if (frame.length < l4 + 20) return undefined;
    return { protocol, start: l4, offset: 16, headerLength: l4 + (frame[l4 + 12]! >> 4) * 4 };
  }
  if (protocol === 17) {
    if (frame.length < l4 + 8) return undefined;
    return { protocol, start: l4, offset: 6, headerLength: 0 };
  }
  return undefined;
}

export class GuestTap {
  readonly tap: TapDevice;
  readonly offloads: Required<TapOffloads>;
  readonly stats: GuestTapStats = {
    toStack: 0, toStackGso: 0, toStackPartial: 0, toStackDropped: 0, toStackLinkDown: 0,
    fromStack: 0, fromStackGso: 0, fromStackPartial: 0, fromStackDropped: 0, txStopped: 0, unparsed: 0,
  };
  private readonly netfront: SimNetfront;
  private readonly queue: number | 'flow';
  private readonly readBuffer = new Uint8Array(MAX_READ);
  private writeBuffer = new Uint8Array(VNET_HDR_SIZE + 2048);
  /** A frame the stopped TX queue did not take: sent first on 'wake'. */
  private pending: { frame: Uint8Array; checksum: NetfrontChecksum; gso: NetfrontGso | undefined; queue: number } | undefined;
  private readonly unsubscribe: Array<() => void> = [];
  private closed = false;
  /** Why the last write into the guest TAP failed (an errno name, or 'would block'), for diagnostics. */
  lastWriteError: string | undefined;

  private constructor(tap: TapDevice, offloads: Required<TapOffloads>, options: GuestTapOptions) {
    this.tap = tap;
    this.offloads = offloads;
    this.netfront = options.netfront;
    this.queue = options.queue ?? 0;
  }

  /** Opens the guest TAP (down: move it into the guest's namespace, address it, then bring it up). */
  static open(options: GuestTapOptions): GuestTap {
    const wanted = options.offloads ?? netfrontTapOffloads(options.netfront.features);
    const offloads = { csum: wanted.csum === true, tso4: wanted.tso4 === true, tso6: wanted.tso6 === true };
    const tap = TapDevice.open({ name: options.name, mtu: options.mtu, offloads, up: false });
    const guest = new GuestTap(tap, offloads, options);
    guest.unsubscribe.push(options.netfront.on('receive', (packet) => guest.toStack(packet)));
    guest.unsubscribe.push(options.netfront.on('wake', (queue) => { if (queue === guest.pending?.queue) guest.resume(); }));
    tap.onReadable(() => guest.drain());
    return guest;
  }

  get name(): string {
    return this.tap.name;
  }

  /** Detaches from the netfront and closes the TAP (the kernel removes the device). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    this.pending = undefined;
    this.tap.close();
  }

  /** A frame the backend delivered to the guest: into the guest's kernel with a matching header. */
  private toStack(packet: NetfrontPacket): void {
    if (this.closed) return;
    const frame = packet.frame;
    const total = VNET_HDR_SIZE + frame.length;
    if (this.writeBuffer.length < total) this.writeBuffer = new Uint8Array(Math.max(total, this.writeBuffer.length * 2));
    const header = { flags: 0, gsoType: VIRTIO_NET_HDR_GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
    if (packet.checksum === 'partial' || packet.gso !== undefined) {
      // netif carries no csum_start: like netback/netfront, find it by parsing. see: net/core/skbuff.c skb_checksum_setup
      const l4 = findL4(frame);
      if (l4 === undefined) {
        this.stats.unparsed++;
      } else {
        header.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        header.csumStart = l4.start;
        header.csumOffset = l4.offset;
        this.stats.toStackPartial++;
        if (packet.gso !== undefined && l4.protocol === 6) {
          header.gsoType = packet.gso.type === 'tcpv4' ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
          header.gsoSize = packet.gso.size;
          header.hdrLen = l4.headerLength;
          this.stats.toStackGso++;
        }
      }
    } else if (packet.checksum === 'validated') {
      header.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    writeVnetHeader(this.writeBuffer, 0, header);
    this.writeBuffer.set(frame, VNET_HDR_SIZE);
    try {
      if (this.tap.write(this.writeBuffer, 0, total) > 0) {
        this.stats.toStack++;
        return;
      }
      this.lastWriteError = 'would block';
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      if (error.code === 'EIO') { // see: drivers/net/tun.c tun_get_user (!IFF_UP)
        this.stats.toStackLinkDown++;
        return;
      }
      this.lastWriteError = `${error.code} (${JSON.stringify(header)}, ${frame.length} bytes)`;
    }
    this.stats.toStackDropped++;
  }

  /** Frames the guest's kernel transmitted: onto the netfront's TX ring, pausing when it is full. */
  private drain(): void {
    for (let i = 0; i < READS_PER_WAKE && !this.closed; i++) {
      let length: number;
      try {
        length = this.tap.readInto(this.readBuffer, 0, this.readBuffer.length);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        return;
      }
      if (length === 0) return;
      const header = readVnetHeader(this.readBuffer, 0);
      const checksum: NetfrontChecksum = (header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 ? 'partial'
        : (header.flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0 ? 'validated' : 'none';
      const type = header.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
      const gso: NetfrontGso | undefined = type === VIRTIO_NET_HDR_GSO_TCPV4 ? { type: 'tcpv4', size: header.gsoSize }
        : type === VIRTIO_NET_HDR_GSO_TCPV6 ? { type: 'tcpv6', size: header.gsoSize } : undefined;
      const queue = this.queue === 'flow' ? flowQueue(this.readBuffer.subarray(0, length), this.netfront.queueCount) : this.queue;
      // a frame kept for 'wake' must outlive the read buffer: give it its own copy
      const frame = this.readBuffer.slice(VNET_HDR_SIZE, length);
      if (!this.send(frame, checksum, gso, queue)) {
        this.tap.onReadable(null); // back-pressure: the guest kernel's queue fills, its TCP slows
        return;
      }
    }
  }

  /** false: the queue is stopped and the frame is kept for 'wake'. */
  private send(frame: Uint8Array, checksum: NetfrontChecksum, gso: NetfrontGso | undefined, queue: number): boolean {
    const result = this.netfront.send(frame, { checksum, gso, queue });
    if (result.kind === 'stopped') {
      this.stats.txStopped++;
      this.pending = { frame, checksum, gso, queue };
      return false;
    }
    if (result.kind === 'dropped') {
      this.stats.fromStackDropped++;
      return true;
    }
    this.stats.fromStack++;
    if (checksum === 'partial') this.stats.fromStackPartial++;
    if (gso !== undefined) this.stats.fromStackGso++;
    return true;
  }

  private resume(): void {
    if (this.closed || this.pending === undefined) return;
    const { frame, checksum, gso, queue } = this.pending;
    this.pending = undefined;
    if (!this.send(frame, checksum, gso, queue)) return;
    this.tap.onReadable(() => this.drain());
  }
}
