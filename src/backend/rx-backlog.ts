// The per-queue backlog of frames waiting for the guest's RX buffers, kept inside the kernels'
// memory (RX_BUF) so packing reads them in place. A FIFO over a circular byte region; each entry
// is a virtio_net_hdr followed by the frame, 16-byte aligned. Admission stops at 512 KiB of
// queued frame bytes (Linux's XENVIF_RX_QUEUE_BYTES, the XSA-392 fix): a frontend that never
// posts buffers cannot grow memory. see: common.h XENVIF_RX_QUEUE_BYTES; rx.c xenvif_rx_queue_tail

import type { FrameHash } from '../wasm/ctrl-ring.js';
import { VNET_HDR_SIZE } from './vnet-header.js';

export const RX_QUEUE_BYTES_MAX = 512 * 1024;
const ALIGN = 16;

export interface BacklogEntry {
  /** Address of the virtio_net_hdr; the frame follows it. */
  readonly header: number;
  readonly frame: number;
  readonly length: number;
  /** When it was queued (the engine's clock), for the drain timeout. */
  readonly queuedAt: number;
  /** Bytes this entry occupies in the region (alignment and a skipped tail included). */
  readonly span: number;
  /** The vif's Toeplitz hash of the frame, sent in a HASH extra (only when hashing is configured). */
  readonly hash: FrameHash | undefined;
}

const align = (n: number) => (n + ALIGN - 1) & ~(ALIGN - 1);

export class RxBacklog {
  private readonly entries: BacklogEntry[] = [];
  private head = 0; // index of the oldest entry
  private writeAt: number;
  private used = 0; // region bytes in use
  /** Frame bytes queued (what the 512 KiB cap counts). */
  queuedBytes = 0;

  constructor(private readonly regionStart: number, private readonly regionSize: number, private readonly capBytes = RX_QUEUE_BYTES_MAX) {
    this.writeAt = regionStart;
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /** Whether a frame of `length` bytes would be admitted now. */
  admits(length: number): boolean {
    return this.queuedBytes + length <= this.capBytes || this.length === 0;
  }

  /**
   * Reserves room for a frame with its header; returns the header address to fill, or undefined
   * when the cap or the region is full (the caller drops and counts).
   */
  reserve(length: number, now: number, hash?: BacklogEntry['hash']): BacklogEntry | undefined {
    if (!this.admits(length)) return undefined;
    const need = align(VNET_HDR_SIZE + length);
    const end = this.regionStart + this.regionSize;
    let at = this.writeAt;
    let skipped = 0;
    if (at + need > end) {
      skipped = end - at; // the tail is too short: wrap, and account the skipped bytes to this entry
      at = this.regionStart;
    }
    if (this.used + skipped + need > this.regionSize) return undefined;
    const entry: BacklogEntry = { header: at, frame: at + VNET_HDR_SIZE, length, queuedAt: now, span: skipped + need, hash };
    this.entries.push(entry);
    this.writeAt = at + need;
    this.used += entry.span;
    this.queuedBytes += length;
    return entry;
  }

  /** The entry `n` places after the oldest (0: the oldest). */
  at(n: number): BacklogEntry | undefined {
    return this.entries[this.head + n];
  }

  /** Releases the oldest entry. */
  shift(): BacklogEntry | undefined {
    const entry = this.entries[this.head];
    if (entry === undefined) return undefined;
    this.head++;
    this.used -= entry.span;
    this.queuedBytes -= entry.length;
    if (this.head === this.entries.length) {
      this.entries.length = 0;
      this.head = 0;
      this.writeAt = this.regionStart;
      this.used = 0;
    } else if (this.head > 1024) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    return entry;
  }
}
