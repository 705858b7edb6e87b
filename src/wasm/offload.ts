// Typed access to the checksum-offload and virtio_net_hdr kernels (assembly/csum/offload.ts,
// assembly/vnet.ts) for the engine: addresses in, typed results out. Every number (feature bits,
// struct offsets) is read from the module's exports, never repeated here. Per-packet drops come
// back as PacketDropError values so the data path can count and move on without a throw; host
// misuse still throws.

import { PacketDropError } from './errors.js';
import type { KernelInstance } from './module.js';
import type { VnetHeader } from '../backend/vnet-header.js';

/** What the frontend negotiated that matters for RX offloads (netif-protocol.md §4.4). */
export interface FrontendOffloads {
  /** IPv4 checksum offload: on unless feature-no-csum-offload = 1. */
  csumV4: boolean;
  /** feature-ipv6-csum-offload. */
  csumV6: boolean;
  /** feature-gso-tcpv4. */
  gsoV4: boolean;
  /** feature-gso-tcpv6. */
  gsoV6: boolean;
  /** feature-sg. */
  sg: boolean;
}

/** The 10-byte virtio_net_hdr, decoded (one declaration, with the TAP's view of it). */
export type { VnetHeader } from '../backend/vnet-header.js';

/** What to tell the frontend about one frame from the TAP. */
export interface RxOffload {
  /** NETRXF_* flags for the first RX slot (csum_blank, data_validated). */
  rxFlags: number;
  /** XEN_NETIF_GSO_TYPE_* (1 tcpv4, 2 tcpv6) of a GSO frame, 0 otherwise. */
  gsoType: number;
  /** GSO MSS (the GSO extra's size, or the tso_segment mss). */
  gsoSize: number;
  /** True: run tso_segment first and send each segment with rxFlags; no GSO extra. */
  segment: boolean;
  /** True: send a GSO extra {gsoType, gsoSize} with the frame. */
  gsoExtra: boolean;
  /** TCP/UDP header offset when the frame was parsed, else 0. */
  l4Offset: number;
  /** All headers up to the end of the TCP/UDP header when parsed, else 0. */
  headerLength: number;
  /** The checksum was completed in Wasm (the frontend lacks checksum offload for this IP version). */
  softwareChecksum: boolean;
}

/** An RxOffload to fill with Offload.vnetToNetifInto. */
export function emptyRxOffload(): RxOffload {
  return { rxFlags: 0, gsoType: 0, gsoSize: 0, segment: false, gsoExtra: false, l4Offset: 0, headerLength: 0, softwareChecksum: false };
}

export interface ChecksumSetup {
  csumStart: number;
  csumOffset: number;
}

export class Offload {
  readonly instance: KernelInstance;
  /** FRONTEND_* bits of vnet_to_netif. */
  readonly featureBits: Readonly<Record<keyof FrontendOffloads, number>>;
  /** vnet_from_netif options bit: the TAP takes no checksum offload. */
  readonly optionNoTapChecksum: number;
  readonly vnetHeaderSize: number;
  readonly outSize: number;
  private readonly hdr: Readonly<Record<'flags' | 'gsoType' | 'hdrLen' | 'gsoSize' | 'csumStart' | 'csumOffset', number>>;
  private readonly out: Readonly<Record<'flags' | 'gsoType' | 'segment' | 'gsoSize' | 'l4' | 'hdrLen' | 'swCsum', number>>;
  private readonly csumStartAt: number;
  private readonly csumFieldAt: number;
  // Resolved once: the data path maps a header per frame.
  private readonly vnetFromNetifKernel: (...args: number[]) => number;
  private readonly vnetToNetifKernel: (...args: number[]) => number;

  constructor(instance: KernelInstance) {
    this.instance = instance;
    const c = (name: string) => instance.constant(name);
    this.featureBits = Object.freeze({
      csumV4: c('FRONTEND_CSUM_V4'), csumV6: c('FRONTEND_CSUM_V6'), gsoV4: c('FRONTEND_GSO_V4'), gsoV6: c('FRONTEND_GSO_V6'), sg: c('FRONTEND_SG'),
    });
    this.optionNoTapChecksum = c('VNET_OPT_NO_TAP_CSUM');
    this.vnetHeaderSize = c('VNETH_SIZE');
    this.outSize = c('VNET_OUT_SIZE');
    this.hdr = Object.freeze({
      flags: c('VNETH_FLAGS'), gsoType: c('VNETH_GSO_TYPE'), hdrLen: c('VNETH_HDR_LEN'), gsoSize: c('VNETH_GSO_SIZE'),
      csumStart: c('VNETH_CSUM_START'), csumOffset: c('VNETH_CSUM_OFF'),
    });
    this.out = Object.freeze({
      flags: c('VNET_OUT_FLAGS'), gsoType: c('VNET_OUT_GSO_TYPE'), segment: c('VNET_OUT_SEGMENT'), gsoSize: c('VNET_OUT_GSO_SIZE'),
      l4: c('VNET_OUT_L4'), hdrLen: c('VNET_OUT_HDR_LEN'), swCsum: c('VNET_OUT_SW_CSUM'),
    });
    const state = c('QUEUE_STATE_OFFSET');
    this.csumStartAt = state + c('QS_CSUM_START');
    this.csumFieldAt = state + c('QS_CSUM_FIELD');
    this.vnetFromNetifKernel = instance.fn('vnet_from_netif');
    this.vnetToNetifKernel = instance.fn('vnet_to_netif');
  }

  /** The frontendFeatures word of vnet_to_netif. */
  features(offloads: FrontendOffloads): number {
    let bits = 0;
    for (const key of Object.keys(this.featureBits) as (keyof FrontendOffloads)[]) if (offloads[key]) bits |= this.featureBits[key];
    return bits;
  }

  /** Completes a csum_blank frame in place (the field holds the pseudo-header sum). */
  csumComplete(frame: number, length: number): PacketDropError | undefined {
    return this.result(this.instance.fn('csum_complete')(frame, length), 'csum_complete');
  }

  /** Writes the full TCP/UDP checksum, whatever the field held. */
  csumFill(frame: number, length: number): PacketDropError | undefined {
    return this.result(this.instance.fn('csum_fill')(frame, length), 'csum_fill');
  }

  /** Linux's checksum_setup; `recomputePseudo` is the GSO-without-csum_blank fix-up. */
  csumSetup(frame: number, length: number, recomputePseudo: boolean): ChecksumSetup | PacketDropError {
    const drop = this.result(this.instance.fn('csum_setup')(frame, length, recomputePseudo ? 1 : 0), 'csum_setup');
    if (drop) return drop;
    const view = this.instance.view;
    return { csumStart: view.getUint16(this.csumStartAt, true), csumOffset: view.getUint16(this.csumFieldAt, true) };
  }

  /** Guest TX → TAP: writes the virtio_net_hdr at `hdr` (usually frame - vnetHeaderSize). */
  vnetFromNetif(frame: number, length: number, netifTxFlags: number, gsoType: number, gsoSize: number, hdr: number, options = 0): PacketDropError | undefined {
    return this.result(this.vnetFromNetifKernel(frame, length, netifTxFlags, gsoType, gsoSize, hdr, options), 'vnet_from_netif');
  }

  /** TAP → guest RX: decides flags, GSO extra or software segmentation for one frame. */
  vnetToNetif(hdr: number, frame: number, length: number, frontendFeatures: number, out: number): RxOffload | PacketDropError {
    return this.vnetToNetifInto(hdr, frame, length, frontendFeatures, out, emptyRxOffload());
  }

  /** vnetToNetif writing its answer into `into` (the data path reuses one per queue). */
  vnetToNetifInto(hdr: number, frame: number, length: number, frontendFeatures: number, out: number, into: RxOffload): RxOffload | PacketDropError {
    const drop = this.result(this.vnetToNetifKernel(hdr, frame, length, frontendFeatures, out), 'vnet_to_netif');
    if (drop) return drop;
    const view = this.instance.view;
    const gsoType = view.getUint8(out + this.out.gsoType);
    const segment = view.getUint8(out + this.out.segment) !== 0;
    into.rxFlags = view.getUint16(out + this.out.flags, true);
    into.gsoType = gsoType;
    into.gsoSize = view.getUint16(out + this.out.gsoSize, true);
    into.segment = segment;
    into.gsoExtra = gsoType !== 0 && !segment;
    into.l4Offset = view.getUint16(out + this.out.l4, true);
    into.headerLength = view.getUint16(out + this.out.hdrLen, true);
    into.softwareChecksum = view.getUint8(out + this.out.swCsum) !== 0;
    return into;
  }

  readVnetHeader(address: number): VnetHeader {
    const view = this.instance.view;
    return {
      flags: view.getUint8(address + this.hdr.flags),
      gsoType: view.getUint8(address + this.hdr.gsoType),
      hdrLen: view.getUint16(address + this.hdr.hdrLen, true),
      gsoSize: view.getUint16(address + this.hdr.gsoSize, true),
      csumStart: view.getUint16(address + this.hdr.csumStart, true),
      csumOffset: view.getUint16(address + this.hdr.csumOffset, true),
    };
  }

  writeVnetHeader(address: number, header: VnetHeader): void {
    const view = this.instance.view;
    view.setUint8(address + this.hdr.flags, header.flags);
    view.setUint8(address + this.hdr.gsoType, header.gsoType);
    view.setUint16(address + this.hdr.hdrLen, header.hdrLen, true);
    view.setUint16(address + this.hdr.gsoSize, header.gsoSize, true);
    view.setUint16(address + this.hdr.csumStart, header.csumStart, true);
    view.setUint16(address + this.hdr.csumOffset, header.csumOffset, true);
  }

  /** undefined on success, the drop as a value; fatal and usage statuses throw. */
  private result(status: number, context: string): PacketDropError | undefined {
    if (status >= 0) return undefined;
    const error = this.instance.statuses.error(status, context);
    if (error instanceof PacketDropError) return error;
    throw error;
  }
}
