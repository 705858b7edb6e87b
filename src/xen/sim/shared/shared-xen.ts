// The simulated Xen pieces two threads share: guests' page frames, the grant table and the event
// channels, all in SharedArrayBuffers, so a simulated guest (netfront) can run on a thread of its
// own while the backend's queues run on theirs, as a real guest runs on its own vCPUs. Each thread
// attaches to the same buffers (SharedXen.attach(handle)) and uses the grant table and event
// channels built on them (shared-grant-table.ts, shared-event-channels.ts); the backend side still
// sees only the GrantTable / EventChannels interfaces of xen/types.ts.
//
// The guests' frames are backed by a memfd (native addon), so a backend maps a granted ring page
// into its Wasm memory with mmap(MAP_SHARED|MAP_FIXED), exactly as gntdev maps a real guest's
// frame: both threads then read and write the same physical page. Node only.
//
// The control words (an Int32Array over one SharedArrayBuffer):
//   [0..8)              locks and free-stack tops
//   frame free stack    pageCount words
//   ref free stack      grantCount words
//   grant entries       grantCount x GRANT_WORDS
//   port entries        portCount x PORT_WORDS
//   doorbells           threadCount words, one per attached thread's event loop

import { loadNative } from '../../../native/addon.js';
import { XEN_PAGE_SIZE } from '../guest-memory.js';

export { XEN_PAGE_SIZE };

/** What crosses to another thread (workerData, postMessage): the shared buffers and the memfd. */
export interface SharedXenHandle {
  readonly control: SharedArrayBuffer;
  readonly pages: SharedArrayBuffer;
  /** Where frame 0 starts in `pages` (page-aligned in the process). */
  readonly pagesOffset: number;
  readonly pageCount: number;
  readonly grantCount: number;
  readonly portCount: number;
  readonly threadCount: number;
  /** The memfd behind the frames (fds are per process: valid on every thread). */
  readonly memfd: number;
}

export interface SharedXenOptions {
  /** Page frames of all guests together (default 8192: 32 MiB). */
  pages?: number;
  /** Live grants at most (default: one per page). */
  grants?: number;
  /** Event-channel ends at most, all domains together (default 256). */
  ports?: number;
  /** Threads that may attach (default 64). */
  threads?: number;
}

export const LOCK_GRANTS = 0;
export const LOCK_PORTS = 1;
export const NEXT_THREAD = 2;
export const FRAME_TOP = 3;
export const REF_TOP = 4;
const HEADER_WORDS = 8;

/** A grant entry: state (GRANT_*), owner, grantee, frame, mappings. */
export const GRANT_WORDS = 8;
export const GRANT_STATE = 0;
export const GRANT_OWNER = 1;
export const GRANT_GRANTEE = 2;
export const GRANT_FRAME = 3;
export const GRANT_MAPPINGS = 4;
export const GRANT_FREE = 0;
export const GRANT_WRITABLE = 1;
export const GRANT_READONLY = 2;
/** Linux reserves the first grant references (GNTTAB_NR_RESERVED_ENTRIES): grant refs start here. */
export const FIRST_REF = 8;

/** A port entry: state (PORT_*), domid, allowed remote, peer entry (-1: none), pending, masked, owner thread, delivered. */
export const PORT_WORDS = 8;
export const PORT_STATE = 0;
export const PORT_DOMID = 1;
export const PORT_ALLOWED = 2;
export const PORT_PEER = 3;
export const PORT_PENDING = 4;
export const PORT_MASKED = 5;
export const PORT_OWNER = 6;
export const PORT_DELIVERED = 7;
export const PORT_FREE = 0;
export const PORT_OPEN = 1;

export class SharedXen {
  readonly handle: SharedXenHandle;
  readonly words: Int32Array;
  /** Every frame, frame f at f * XEN_PAGE_SIZE. */
  readonly frames: Uint8Array;
  readonly framesView: DataView;
  readonly frameStack: number;
  readonly refStack: number;
  readonly grantBase: number;
  readonly portBase: number;
  readonly doorbellBase: number;

  private constructor(handle: SharedXenHandle) {
    this.handle = handle;
    this.words = new Int32Array(handle.control);
    this.frames = new Uint8Array(handle.pages, handle.pagesOffset, handle.pageCount * XEN_PAGE_SIZE);
    this.framesView = new DataView(handle.pages, handle.pagesOffset, handle.pageCount * XEN_PAGE_SIZE);
    this.frameStack = HEADER_WORDS;
    this.refStack = this.frameStack + handle.pageCount;
    this.grantBase = this.refStack + handle.grantCount;
    this.portBase = this.grantBase + handle.grantCount * GRANT_WORDS;
    this.doorbellBase = this.portBase + handle.portCount * PORT_WORDS;
  }

  /** New shared buffers, every frame and grant free; needs the native addon (the memfd). */
  static create(options: SharedXenOptions = {}): SharedXen {
    const pageCount = options.pages ?? 8192;
    const grantCount = options.grants ?? pageCount;
    const portCount = options.ports ?? 256;
    const threadCount = options.threads ?? 64;
    const controlWords = HEADER_WORDS + pageCount + grantCount * (1 + GRANT_WORDS) + portCount * PORT_WORDS + threadCount;
    const control = new SharedArrayBuffer(controlWords * 4);
    // one spare page: the buffer's own start need not be page-aligned
    const pages = new SharedArrayBuffer((pageCount + 1) * XEN_PAGE_SIZE);
    const addon = loadNative();
    if (addon.memfdBackPages === undefined) throw new Error('SharedXen: the native addon predates memfdBackPages: run `npm run build:native`');
    const base = addon.bufferAddress(new Uint8Array(pages));
    const pagesOffset = (XEN_PAGE_SIZE - (base % XEN_PAGE_SIZE)) % XEN_PAGE_SIZE;
    const memfd = addon.memfdBackPages(new Uint8Array(pages, pagesOffset, pageCount * XEN_PAGE_SIZE));
    const xen = new SharedXen({ control, pages, pagesOffset, pageCount, grantCount, portCount, threadCount, memfd });
    const w = xen.words;
    // free stacks hold every frame and ref index, lowest on top
    for (let i = 0; i < pageCount; i++) w[xen.frameStack + i] = pageCount - 1 - i;
    w[FRAME_TOP] = pageCount;
    for (let i = 0; i < grantCount; i++) w[xen.refStack + i] = grantCount - 1 - i;
    w[REF_TOP] = grantCount;
    for (let i = 0; i < portCount; i++) w[xen.portBase + i * PORT_WORDS + PORT_PEER] = -1;
    return xen;
  }

  /** The same shared state on another thread. */
  static attach(handle: SharedXenHandle): SharedXen {
    return new SharedXen(handle);
  }

  /** Closes the memfd (mappings made stay valid); for the thread that created it, at the end. */
  close(): void {
    if (this.handle.memfd >= 0) loadNative().closeFd(this.handle.memfd);
  }

  /** Runs `body` holding one of the spin locks (LOCK_*): every critical section is a few words long. */
  locked<T>(lock: number, body: () => T): T {
    while (Atomics.compareExchange(this.words, lock, 0, 1) !== 0) { /* spin: held for a few stores */ }
    try {
      return body();
    } finally {
      Atomics.store(this.words, lock, 0);
    }
  }

  /** Pops an index off a free stack (FRAME_TOP / REF_TOP); -1 when empty. Call holding LOCK_GRANTS. */
  pop(top: number, stack: number): number {
    const n = this.words[top]!;
    if (n === 0) return -1;
    this.words[top] = n - 1;
    return this.words[stack + n - 1]!;
  }

  /** Pushes an index back. Call holding LOCK_GRANTS. */
  push(top: number, stack: number, index: number): void {
    const n = this.words[top]!;
    this.words[stack + n] = index;
    this.words[top] = n + 1;
  }

  grantWord(index: number, field: number): number {
    return this.grantBase + index * GRANT_WORDS + field;
  }

  portWord(index: number, field: number): number {
    return this.portBase + index * PORT_WORDS + field;
  }

  doorbell(thread: number): number {
    return this.doorbellBase + thread;
  }
}
