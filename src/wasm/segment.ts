// In-place software segmentation for the engine: the frame is already in Wasm memory (TX_BUF,
// RX_BUF or SCRATCH) and the segments are handed out as addresses inside SEG_BUF, batch by batch,
// without copying them out. Kernels.segment (kernels.ts) is the copying embedding API over the
// same kernel.

import type { KernelInstance } from './module.js';
import type { GsoType } from './kernels.js';

/** One output frame inside SEG_BUF, preceded by `headroom` free bytes for a virtio_net_hdr. */
export interface SegmentRef {
  address: number;
  length: number;
}

// XEN_NETIF_GSO_TYPE_* (netif.h), the numbering tso_segment takes.
const GSO_TYPE_NUMBER: Record<GsoType, number> = { tcpv4: 1, tcpv6: 2 };

export class Segmenter {
  readonly headroom: number;
  private readonly descriptors: number;
  private readonly stride: number;

  constructor(private readonly instance: KernelInstance) {
    this.headroom = instance.constant('SEG_HEADROOM');
    this.descriptors = instance.constant('SEG_DESC_OFFSET');
    this.stride = instance.constant('SEG_DESC_STRIDE');
  }

  /**
   * Segments the frame at `address` into MSS-sized frames. `take` receives each batch while its
   * frames are still in SEG_BUF: the next batch (a frame with more segments than SEG_DESC or
   * SEG_BUF hold) overwrites them. Returns the number of segments. A typed drop (not TCP, a
   * fragment, truncated, a bad MSS...) throws a PacketDropError before any batch is taken.
   */
  segment(address: number, length: number, gsoType: GsoType, mss: number, take: (batch: readonly SegmentRef[]) => void): number {
    const type = GSO_TYPE_NUMBER[gsoType];
    const resumeOffset = this.instance.fn('tso_resume_offset');
    let total = 0;
    let resumeFrom = 0;
    do {
      const count = this.instance.call('tso_segment', address, length, type ?? 0, mss, resumeFrom);
      const view = this.instance.view;
      const batch: SegmentRef[] = [];
      for (let i = 0; i < count; i++) {
        const at = this.descriptors + i * this.stride;
        batch.push({ address: view.getUint32(at, true), length: view.getUint32(at + 4, true) });
      }
      take(batch);
      total += count;
      resumeFrom = resumeOffset() >>> 0;
    } while (resumeFrom !== 0);
    return total;
  }
}
