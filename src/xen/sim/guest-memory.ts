// A simulated domain's memory: the page frames it grants, carved from large chunks and reused
// once freed, as a guest's RAM holds the pages it grants. Reuse keeps the simulated guests from
// allocating (and the collector from freeing) a buffer per packet, and a chunk's one DataView lets
// the grant table copy a small piece without creating a view for it.

export const XEN_PAGE_SIZE = 4096;

/** One allocation of page frames: its bytes and a DataView over all of them. */
export interface MemoryChunk {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export interface PageFrame {
  /** The page's bytes, a view into its chunk. */
  readonly bytes: Uint8Array;
  readonly chunk: MemoryChunk;
  /** Where the page starts in its chunk. */
  readonly offset: number;
}

/** 256 KiB: a ring's worth of granted buffers fits in a few chunks. */
const PAGES_PER_CHUNK = 64;

export class GuestMemory {
  private readonly free: PageFrame[] = [];

  /** A zeroed page frame. */
  allocate(): PageFrame {
    const reused = this.free.pop();
    if (reused !== undefined) {
      reused.bytes.fill(0);
      return reused;
    }
    const buffer = new ArrayBuffer(PAGES_PER_CHUNK * XEN_PAGE_SIZE);
    const chunk: MemoryChunk = { bytes: new Uint8Array(buffer), view: new DataView(buffer) };
    // a new chunk is zeroed: its frames go on the free list as they are
    for (let page = PAGES_PER_CHUNK - 1; page >= 1; page--) this.free.push(frameOf(chunk, page));
    return frameOf(chunk, 0);
  }

  /** Gives a frame back; whoever still holds its bytes must not use them any more. */
  release(frame: PageFrame): void {
    this.free.push(frame);
  }
}

function frameOf(chunk: MemoryChunk, page: number): PageFrame {
  const offset = page * XEN_PAGE_SIZE;
  return { bytes: new Uint8Array(chunk.bytes.buffer, offset, XEN_PAGE_SIZE), chunk, offset };
}
