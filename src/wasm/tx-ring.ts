// The guest-TX ring kernels (assembly/netif/tx.ts) seen from the host: attach at connect, then
// per batch build → execute the grant-copy plan (the host's GrantTable) → commit. A fatal
// frontend error is an expected outcome here, returned as a FrontendFatalError, not thrown;
// host misuse still throws a KernelUsageError. Every field offset comes from the module's exports.

import { FrontendFatalError, KernelUsageError } from './errors.js';
import type { KernelInstance } from './module.js';

export interface TxBuildOptions {
  /** Accepted packets per batch (Linux's NAPI budget counts built packets only). Default 64. */
  maxPackets?: number;
  /** Remaining byte credit; 0xFFFFFFFF (the default) is unlimited. */
  credit?: number;
  /** The fatal_skb_slots module parameter; clamped to >= 18 as Linux does. Default 20. */
  fatalSlots?: number;
}

export interface TxBuildResult {
  /** Packet descriptors written (accepted packets). */
  packets: number;
  /** Grant-copy ops in the plan (at TX_OPS_OFFSET, GNTOP_SIZE bytes each). */
  ops: number;
  /** Ring slots consumed; commit writes exactly this many responses. */
  slots: number;
  /** Packets dropped while building (they get ERROR responses at commit). */
  drops: number;
  /** Bytes debited from the credit. */
  creditUsed: number;
  /** When the batch stopped for lack of credit: the size the next packet needs; else 0. */
  creditBlocked: number;
  /** Multicast list changes the batch made (MCAST_ADD / MCAST_DEL extras that changed it). */
  mcastEdits: number;
  /** Set when the frontend broke a fatal rule; the queue is disabled from now on. */
  fatal: FrontendFatalError | undefined;
}

export interface TxGrantOp {
  gref: number;
  guestOffset: number;
  length: number;
  /** Wasm-memory address. */
  local: number;
  /** s16 written by the host; build leaves -1 (not executed). */
  status: number;
  toGuest: boolean;
}

export interface TxPacket {
  /** Wasm-memory address of the frame; PKT_HEADROOM free bytes lie before it. */
  data: number;
  length: number;
  csumBlank: boolean;
  dataValidated: boolean;
  /** XEN_NETIF_GSO_TYPE_* (0: no GSO extra) and the MSS. */
  gsoType: number;
  gsoSize: number;
  /** Present when a HASH extra with a known type came; type is the hash-type bit number. */
  hash: { type: number; value: number } | undefined;
  extraCount: number;
  /** Batch position of the first request (ring index = batch start + position). */
  firstSlot: number;
  slotCount: number;
  firstOp: number;
  opCount: number;
  /** 0, or STATUS_DROP_COPY_FAILED once commit found a failed op. */
  status: number;
}

export interface TxCommitResult {
  /** The frontend asked for an event (rsp_event lay in the pushed range). */
  notify: boolean;
  /** Requests are already waiting: run another batch instead of sleeping. */
  morePending: boolean;
}

const CREDIT_UNLIMITED = 0xFFFFFFFF;
const NETTXF_CSUM_BLANK = 0x1; // netif.h
const NETTXF_DATA_VALIDATED = 0x2;

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > CREDIT_UNLIMITED) {
    throw new KernelUsageError('NETBACK_BAD_ARGUMENT', `tx_build: ${name} = ${value} is not a u32`);
  }
}

/** A descriptor to fill with TxRingKernel.readPacket. */
export function emptyPacket(): TxPacket {
  return {
    data: 0, length: 0, csumBlank: false, dataValidated: false, gsoType: 0, gsoSize: 0, hash: undefined, extraCount: 0,
    firstSlot: 0, slotCount: 0, firstOp: 0, opCount: 0, status: 0,
  };
}

export class TxRingKernel {
  readonly instance: KernelInstance;
  readonly opsAddress: number;
  readonly opSize: number;
  private readonly descAddress: number;
  private readonly descStride: number;
  private readonly c: (name: string) => number;
  // Resolved once: the data path calls these per batch and reads descriptors per packet.
  private readonly kernel: Record<'build' | 'commit' | 'packetCount' | 'opCount' | 'slots' | 'drops' | 'creditUsed' | 'creditBlocked' | 'mcastEdits', (...args: number[]) => number>;
  private readonly field: Record<'data' | 'len' | 'flags' | 'gsoType' | 'gsoSize' | 'hashType' | 'hashPresent' | 'hashValue' | 'extraCount' | 'firstSlot' | 'slotCount' | 'firstOp' | 'opCount' | 'status', number>;

  constructor(instance: KernelInstance) {
    this.instance = instance;
    this.c = (name) => instance.constant(name);
    this.opsAddress = this.c('TX_OPS_OFFSET');
    this.opSize = this.c('GNTOP_SIZE');
    this.descAddress = this.c('TX_PKT_DESC_OFFSET');
    this.descStride = this.c('TX_PKT_DESC_STRIDE');
    const fn = (name: string) => instance.fn(name);
    this.kernel = {
      build: fn('tx_build'), commit: fn('tx_commit'), packetCount: fn('tx_packet_count'), opCount: fn('tx_op_count'),
      slots: fn('tx_slots_consumed'), drops: fn('tx_drops'), creditUsed: fn('tx_credit_used'), creditBlocked: fn('tx_credit_blocked'),
      mcastEdits: fn('tx_mcast_edits'),
    };
    this.field = {
      data: this.c('TXPKT_DATA'), len: this.c('TXPKT_LEN'), flags: this.c('TXPKT_FLAGS'), gsoType: this.c('TXPKT_GSO_TYPE'),
      gsoSize: this.c('TXPKT_GSO_SIZE'), hashType: this.c('TXPKT_HASH_TYPE'), hashPresent: this.c('TXPKT_HASH_PRESENT'),
      hashValue: this.c('TXPKT_HASH_VALUE'), extraCount: this.c('TXPKT_EXTRA_COUNT'), firstSlot: this.c('TXPKT_FIRST_SLOT'),
      slotCount: this.c('TXPKT_SLOT_COUNT'), firstOp: this.c('TXPKT_FIRST_OP'), opCount: this.c('TXPKT_OP_COUNT'),
      status: this.c('TXPKT_STATUS'),
    };
  }

  /** At connect. Throws a FrontendFatalError (NETBACK_FATAL_RING_INCONSISTENT) to refuse the ring. */
  attach(): void {
    this.instance.call('tx_attach');
  }

  build(options: TxBuildOptions = {}): TxBuildResult {
    const maxPackets = options.maxPackets ?? 64;
    const credit = options.credit ?? CREDIT_UNLIMITED;
    const fatalSlots = options.fatalSlots ?? 20;
    checkU32('maxPackets', maxPackets);
    checkU32('credit', credit);
    checkU32('fatalSlots', fatalSlots);
    const status = this.kernel.build(maxPackets, credit, fatalSlots);
    let fatal: FrontendFatalError | undefined;
    if (status < 0) {
      const error = this.instance.statuses.error(status, 'tx_build');
      if (!(error instanceof FrontendFatalError)) throw error;
      fatal = error;
    }
    const k = this.kernel;
    return {
      packets: k.packetCount() >>> 0,
      ops: k.opCount() >>> 0,
      slots: k.slots() >>> 0,
      drops: k.drops() >>> 0,
      creditUsed: k.creditUsed() >>> 0,
      creditBlocked: k.creditBlocked() >>> 0,
      mcastEdits: k.mcastEdits() >>> 0,
      fatal,
    };
  }

  /** The plan of the last build, as plain objects (a copy). */
  ops(): TxGrantOp[] {
    const view = this.instance.view;
    const count = this.instance.fn('tx_op_count')();
    const toGuest = this.c('GNTOP_F_TO_GUEST');
    const result: TxGrantOp[] = [];
    for (let i = 0; i < count; i++) {
      const p = this.opsAddress + i * this.opSize;
      result.push({
        gref: view.getUint32(p + this.c('GNTOP_GREF'), true),
        guestOffset: view.getUint16(p + this.c('GNTOP_GUEST_OFF'), true),
        length: view.getUint16(p + this.c('GNTOP_LEN'), true),
        local: view.getUint32(p + this.c('GNTOP_LOCAL'), true),
        status: view.getInt16(p + this.c('GNTOP_STATUS'), true),
        toGuest: (view.getUint16(p + this.c('GNTOP_FLAGS'), true) & toGuest) !== 0,
      });
    }
    return result;
  }

  /** The descriptors of the last build (statuses as of now: after commit they show copy failures). */
  packets(): TxPacket[] {
    const count = this.packetCount();
    const result: TxPacket[] = [];
    for (let i = 0; i < count; i++) result.push(this.readPacket(i, emptyPacket()));
    return result;
  }

  /** Descriptors the last build wrote. */
  packetCount(): number {
    return this.kernel.packetCount() >>> 0;
  }

  /**
   * Descriptor `index` of the last build, written into `packet` (the data path reuses one object
   * per queue: a batch allocates nothing but the hash of a packet that carried one).
   */
  readPacket(index: number, packet: TxPacket): TxPacket {
    const view = this.instance.view;
    const f = this.field;
    const d = this.descAddress + index * this.descStride;
    const flags = view.getUint16(d + f.flags, true);
    packet.data = view.getUint32(d + f.data, true);
    packet.length = view.getUint32(d + f.len, true);
    packet.csumBlank = (flags & NETTXF_CSUM_BLANK) !== 0;
    packet.dataValidated = (flags & NETTXF_DATA_VALIDATED) !== 0;
    packet.gsoType = view.getUint8(d + f.gsoType);
    packet.gsoSize = view.getUint16(d + f.gsoSize, true);
    packet.hash = view.getUint8(d + f.hashPresent) !== 0 ? { type: view.getUint8(d + f.hashType), value: view.getUint32(d + f.hashValue, true) } : undefined;
    packet.extraCount = view.getUint8(d + f.extraCount);
    packet.firstSlot = view.getUint16(d + f.firstSlot, true);
    packet.slotCount = view.getUint16(d + f.slotCount, true);
    packet.firstOp = view.getUint16(d + f.firstOp, true);
    packet.opCount = view.getUint16(d + f.opCount, true);
    packet.status = view.getInt32(d + f.status, true);
    return packet;
  }

  /** A copy of a packet's frame bytes. */
  frame(packet: TxPacket): Uint8Array {
    return this.instance.read(packet.data, packet.length);
  }

  commit(): TxCommitResult {
    const bits = this.instance.statuses.check(this.kernel.commit(), 'tx_commit');
    return { notify: (bits & 1) !== 0, morePending: (bits & 2) !== 0 };
  }

  mcastCount(): number {
    return this.instance.call('mcast_count');
  }

  /** Whether a MAC (6 bytes) is in the frontend's multicast list; goes through SCRATCH. */
  mcastContains(mac: Uint8Array): boolean {
    if (mac.length !== 6) throw new KernelUsageError('NETBACK_BAD_ARGUMENT', `a MAC is 6 bytes, not ${mac.length}`);
    const scratch = this.c('SCRATCH_OFFSET');
    this.instance.write(scratch, mac, scratch, this.c('SCRATCH_SIZE'));
    return this.instance.call('mcast_contains', scratch) === 1;
  }

  /** The multicast list as one record (count, then the entries), for mcastRestore on another queue. */
  mcastSnapshot(): Uint8Array {
    const scratch = this.c('SCRATCH_OFFSET');
    const size = this.instance.call('mcast_save', scratch);
    return this.instance.read(scratch, size);
  }

  /** Replaces the multicast list with a record mcastSnapshot made (of this queue or another). */
  mcastRestore(record: Uint8Array): void {
    if (record.length !== this.c('MCAST_RECORD_SIZE')) {
      throw new KernelUsageError('NETBACK_BAD_ARGUMENT', `a multicast list record is ${this.c('MCAST_RECORD_SIZE')} bytes, not ${record.length}`);
    }
    const scratch = this.c('SCRATCH_OFFSET');
    this.instance.write(scratch, record, scratch, this.c('SCRATCH_SIZE'));
    this.instance.call('mcast_load', scratch);
  }

  /** Build + commit `iterations` times inside Wasm over the ring as it is now; returns slots processed. */
  benchParse(iterations: number): number {
    return this.instance.fn('bench_tx_parse')(iterations) >>> 0;
  }
}
