// The guest-RX ring kernels (assembly/netif/rx.ts) for the host: attach at connect, pack frames
// into posted RX requests, hand out the grant-copy plan, commit. Only integers cross the
// boundary; every address and offset comes from the module's exported constants.

import { PacketDropError } from './errors.js';
import type { KernelInstance } from './module.js';

/** Checksum state of a frame, as the TAP's virtio_net_hdr says it (NEEDS_CSUM / DATA_VALID). */
export type RxChecksum = 'none' | 'partial' | 'validated';

export interface RxFrameMeta {
  checksum?: RxChecksum;
  /** XEN_NETIF_GSO_TYPE_*: 0 none, 1 TCPv4, 2 TCPv6 (only types the frontend negotiated). */
  gsoType?: number;
  /** MSS; required (non-zero) with a GSO type. */
  gsoSize?: number;
  /** A Toeplitz hash to send in a HASH extra: `type` is the hash-type bit number 0..3. */
  hash?: { type: number; value: number };
}

export type RxPackResult =
  | { kind: 'packed'; slots: number }
  /** Not enough requests posted (req_event was armed) or the batch is full: commit / wait. */
  | { kind: 'no-space' }
  | { kind: 'dropped'; error: PacketDropError };

/** One grant-copy op of the plan (GNTOP_* format of assembly/netif/defs.ts). */
export interface RxCopyOp {
  index: number;
  gref: number;
  guestOffset: number;
  len: number;
  /** Wasm-memory address of the source bytes. */
  local: number;
  status: number;
  toGuest: boolean;
}

/** One packet of the current batch (RX_PKT_DESC record). */
export interface RxBatchPacket {
  /** Ring index of its first slot. */
  firstIndex: number;
  /** Slots used, data and extras. */
  slots: number;
  dataSlots: number;
  len: number;
  /** Index of its first grant-copy op. */
  firstOp: number;
}

/** packFrame: not enough requests posted, or the batch is full (commit / wait). */
export const RX_NO_SPACE = -1;

export class RxRingKernel {
  readonly instance: KernelInstance;
  private readonly opsOffset: number;
  private readonly opSize: number;
  private readonly gnt: { gref: number; guestOffset: number; len: number; local: number; status: number; flags: number; toGuest: number };
  private readonly flagCsumPartial: number;
  private readonly flagDataValidated: number;
  private readonly hashNone: number;
  private readonly noSpace: number;
  private readonly fns: {
    attach: () => number;
    slotsNeeded: (len: number, gsoType: number, hashPresent: number) => number;
    setHeadroom: (bytes: number) => number;
    pending: () => number;
    opCount: () => number;
    packetCount: () => number;
    pack: (frame: number, len: number, flags: number, gsoType: number, gsoSize: number, hashType: number, hashValue: number) => number;
    commit: () => number;
  };

  constructor(instance: KernelInstance) {
    this.instance = instance;
    const c = (name: string): number => instance.constant(name);
    this.opsOffset = c('RX_OPS_OFFSET');
    this.opSize = c('GNTOP_SIZE');
    this.gnt = {
      gref: c('GNTOP_GREF'),
      guestOffset: c('GNTOP_GUEST_OFF'),
      len: c('GNTOP_LEN'),
      local: c('GNTOP_LOCAL'),
      status: c('GNTOP_STATUS'),
      flags: c('GNTOP_FLAGS'),
      toGuest: c('GNTOP_F_TO_GUEST'),
    };
    this.flagCsumPartial = c('RX_PKT_F_CSUM_PARTIAL');
    this.flagDataValidated = c('RX_PKT_F_DATA_VALIDATED');
    this.hashNone = c('RX_HASH_NONE') >>> 0;
    this.noSpace = c('STATUS_NO_SPACE');
    this.fns = {
      attach: instance.fn('rx_attach'),
      slotsNeeded: instance.fn('rx_slots_needed'),
      setHeadroom: instance.fn('rx_set_headroom'),
      pending: instance.fn('rx_pending_requests'),
      opCount: instance.fn('rx_op_count'),
      packetCount: instance.fn('rx_packet_count'),
      pack: instance.fn('rx_pack'),
      commit: instance.fn('rx_commit'),
    };
  }

  /** At connect: attach at the frontend's rsp_prod. Throws FrontendFatalError on an impossible ring. */
  attach(): void {
    this.instance.statuses.check(this.fns.attach(), 'rx_attach');
  }

  /** Linux's slot estimate for a head packet (data pages + GSO + hash; no XDP extra). */
  slotsNeeded(len: number, meta: RxFrameMeta = {}): number {
    return this.fns.slotsNeeded(len, meta.gsoType ?? 0, meta.hash ? 1 : 0) >>> 0;
  }

  /** The frontend's xdp-headroom (clamped to 0x7FFF by the kernel); call after attach(). */
  setHeadroom(bytes: number): void {
    this.instance.statuses.check(this.fns.setHeadroom(bytes >>> 0), 'rx_set_headroom');
  }

  /** Requests posted but not consumed yet (0..256). */
  pendingRequests(): number {
    return this.fns.pending() >>> 0;
  }

  /**
   * Packs the frame at `frameAddress` (inside RX_BUF, SEG_BUF or SCRATCH) into posted requests.
   * Per-frame problems come back as a value; host misuse and a disabled queue throw.
   */
  pack(frameAddress: number, len: number, meta: RxFrameMeta = {}): RxPackResult {
    const result = this.packFrame(frameAddress, len, meta.checksum ?? 'none', meta.gsoType ?? 0, meta.gsoSize ?? 0, meta.hash);
    if (typeof result !== 'number') return { kind: 'dropped', error: result };
    return result === RX_NO_SPACE ? { kind: 'no-space' } : { kind: 'packed', slots: result };
  }

  /**
   * pack() for the data path, allocating nothing for a packed frame: the slots it took, or
   * RX_NO_SPACE, or the drop as a value.
   */
  packFrame(frameAddress: number, len: number, checksum: RxChecksum, gsoType: number, gsoSize: number, hash: RxFrameMeta['hash']): number | PacketDropError {
    const flags = checksum === 'partial' ? this.flagCsumPartial : checksum === 'validated' ? this.flagDataValidated : 0;
    const hashType = hash ? hash.type : this.hashNone;
    const hashValue = hash ? hash.value >>> 0 : 0;
    const status = this.fns.pack(frameAddress, len, flags, gsoType, gsoSize, hashType, hashValue);
    if (status >= 0) return status;
    if (status === this.noSpace) return RX_NO_SPACE;
    const error = this.instance.statuses.error(status, 'rx_pack');
    if (error instanceof PacketDropError) return error;
    throw error;
  }

  /**
   * Whether `total` requests are posted; when not, the frontend is asked for an event as soon as
   * it posts more. For frames the host places whole across several packs.
   */
  slotsAvailable(total: number): boolean {
    return this.instance.fn('rx_slots_available')(total) === 1;
  }

  /** Number of grant-copy ops in the current batch. */
  opCount(): number {
    return this.fns.opCount() >>> 0;
  }

  /** Wasm-memory address of op `index` (the host's grant-copy layer reads the plan in place). */
  opAddress(index: number): number {
    return this.opsOffset + index * this.opSize;
  }

  /** A decoded copy of the plan (for tests, the simulation and the visualizer). */
  ops(): RxCopyOp[] {
    const view = this.instance.view;
    const out: RxCopyOp[] = [];
    const count = this.opCount();
    for (let i = 0; i < count; i++) {
      const a = this.opAddress(i);
      out.push({
        index: i,
        gref: view.getUint32(a + this.gnt.gref, true),
        guestOffset: view.getUint16(a + this.gnt.guestOffset, true),
        len: view.getUint16(a + this.gnt.len, true),
        local: view.getUint32(a + this.gnt.local, true),
        status: view.getInt16(a + this.gnt.status, true),
        toGuest: (view.getUint16(a + this.gnt.flags, true) & this.gnt.toGuest) !== 0,
      });
    }
    return out;
  }

  /** The packets of the current batch, in packing order (RX_PKT_DESC records). */
  batchPackets(): RxBatchPacket[] {
    const c = (name: string): number => this.instance.constant(name);
    const base = c('RX_PKT_DESC_OFFSET');
    const stride = c('RX_PKT_DESC_STRIDE');
    const view = this.instance.view;
    const out: RxBatchPacket[] = [];
    const count = this.fns.packetCount() >>> 0;
    for (let i = 0; i < count; i++) {
      const a = base + i * stride;
      out.push({
        firstIndex: view.getUint32(a + c('RX_DESC_FIRST_INDEX'), true),
        slots: view.getUint32(a + c('RX_DESC_SLOTS'), true),
        dataSlots: view.getUint32(a + c('RX_DESC_DATA_SLOTS'), true),
        len: view.getUint32(a + c('RX_DESC_LEN'), true),
        firstOp: view.getUint32(a + c('RX_DESC_FIRST_OP'), true),
      });
    }
    return out;
  }

  /** Records the result of op `index` (GNTST_*: 0 okay, negative failure). */
  setOpStatus(index: number, status: number): void {
    this.instance.view.setInt16(this.opAddress(index) + this.gnt.status, status, true);
  }

  /** Publishes the batch's responses; `notify` says whether to kick the frontend's event channel. */
  commit(): { notify: boolean } {
    const result = this.instance.statuses.check(this.fns.commit(), 'rx_commit');
    return { notify: (result & 1) !== 0 };
  }
}
