// A simulated grant table: what each domain granted to whom, with Xen's checks on every copy
// (the grant exists, it is granted to the copying domain, writes need a writable grant, the
// foreign side never crosses its page) and mapping of ring pages into the backend's Wasm memory.
// A mapped page really is shared: the frontend's view of it is relocated onto the same bytes of
// Wasm memory, as an mmap of the granted frame would make it, and moved back on unmap. A granted
// page is a frame of the granting domain's GuestMemory, reused for a later grant once this one ends.
// see: xen/include/public/grant_table.h; netif-protocol.md §3

import { NetbackError } from '../../errors.js';
import type { KernelInstance } from '../../wasm/module.js';
import { GNTST, type GrantCopyPlan, type GrantMapping, type GrantTable } from '../types.js';
import { GuestMemory, XEN_PAGE_SIZE, type PageFrame } from './guest-memory.js';

export { XEN_PAGE_SIZE };

interface GrantEntry {
  readonly grantee: number;
  readonly readonly: boolean;
  /** The granting domain's frame: the page's bytes while no backend maps it. */
  readonly frame: PageFrame;
  /** Where a backend mapped the page: its bytes are then there, in Wasm memory. */
  mapped: { readonly instance: KernelInstance; readonly address: number } | undefined;
  mappings: number;
}

function bytesOf(entry: GrantEntry): Uint8Array {
  const mapped = entry.mapped;
  return mapped === undefined ? entry.frame.bytes : mapped.instance.bytes.subarray(mapped.address, mapped.address + XEN_PAGE_SIZE);
}

export interface OpFormat {
  size: number; gref: number; guestOffset: number; len: number; local: number; status: number; flags: number; toGuest: number;
  /** The layout is exactly gref u32, offset u16, len u16, local u32, status s16, flags u16 (so ops read as u32 words). */
  packed: boolean;
}

const opFormats = new WeakMap<KernelInstance, OpFormat>();

/** The GNTOP_* layout, read from the kernels' exports once per instance. */
export function opFormat(k: KernelInstance): OpFormat {
  let format = opFormats.get(k);
  if (format === undefined) {
    format = {
      size: k.constant('GNTOP_SIZE'), gref: k.constant('GNTOP_GREF'), guestOffset: k.constant('GNTOP_GUEST_OFF'), len: k.constant('GNTOP_LEN'),
      local: k.constant('GNTOP_LOCAL'), status: k.constant('GNTOP_STATUS'), flags: k.constant('GNTOP_FLAGS'), toGuest: k.constant('GNTOP_F_TO_GUEST'),
      packed: false,
    };
    format.packed = format.size === 16 && format.gref === 0 && format.guestOffset === 4 && format.len === 6 && format.local === 8 &&
      format.status === 12 && format.flags === 14;
    opFormats.set(k, format);
  }
  return format;
}

/**
 * Copies up to this many bytes as 32-bit words through DataViews the caller already has; longer
 * copies take TypedArray.set, whose source view costs an allocation (~40 ns) that only pays off
 * over more bytes. A 64-byte frame is one copy op.
 */
const WORD_COPY_MAX = 128;

/** memcpy between two buffers (Wasm memory, a guest chunk), each given as a whole-buffer byte array and DataView. */
export function copyBytes(from: Uint8Array, fromView: DataView, fromOffset: number, to: Uint8Array, toView: DataView, toOffset: number, length: number): void {
  if (length > WORD_COPY_MAX) {
    to.set(new Uint8Array(from.buffer, from.byteOffset + fromOffset, length), toOffset);
    return;
  }
  const words = length & ~3;
  for (let i = 0; i < words; i += 4) toView.setUint32(toOffset + i, fromView.getUint32(fromOffset + i, true), true);
  for (let i = words; i < length; i++) to[toOffset + i] = from[fromOffset + i]!;
}

export interface SimGrantFaults {
  /** Fails the op at this index of the next copy call with the given status. */
  failOp?: (index: number, domid: number) => number | undefined;
  /** Fails the whole next copy call (an ioctl error). */
  failCall?: (domid: number) => boolean;
  /**
   * TEST ONLY: what a copy call throws instead of copying (undefined: copy). An untyped error or a
   * WebAssembly.RuntimeError stands for a bug or trap inside the data path (containment.ts).
   */
  throwInCopy?: (domid: number) => unknown;
}

export class SimGrantTable implements GrantTable {
  /** The domain the backend runs in: only grants made to it can be copied or mapped. */
  readonly backendDomid: number;
  private readonly grants = new Map<number, Map<number, GrantEntry>>();
  private readonly nextRef = new Map<number, number>();
  /** Each granting domain's page frames, freed ones reused. */
  private readonly memories = new Map<number, GuestMemory>();
  faults: SimGrantFaults = {};
  /** Ops executed and calls made, for tests and the visualizer. */
  copiedOps = 0;
  copyCalls = 0;

  constructor(backendDomid = 0) {
    this.backendDomid = backendDomid;
  }

  // ---- the granting (frontend) side ----

  /** Grants a page of `owner` to `grantee`; returns the grant reference. */
  grantAccess(owner: number, grantee: number, readonly: boolean, contents?: Uint8Array): number {
    const table = this.tableOf(owner);
    const ref = this.nextRef.get(owner) ?? 8; // low refs are reserved by Linux's grant table
    this.nextRef.set(owner, ref + 1);
    const frame = this.memoryOf(owner).allocate();
    if (contents !== undefined) frame.bytes.set(contents.subarray(0, XEN_PAGE_SIZE));
    table.set(ref, { grantee, readonly, frame, mapped: undefined, mappings: 0 });
    return ref;
  }

  /**
   * The current bytes of a page `owner` granted (a fresh view each call: memory may have grown).
   * Valid until the grant ends: the frame then goes back to the domain for its next grant.
   */
  page(owner: number, ref: number): Uint8Array {
    return bytesOf(this.entry(owner, ref));
  }

  /** Whether the grantee still maps the page: Linux netfront treats that as a broken backend. */
  inUse(owner: number, ref: number): boolean {
    return (this.grants.get(owner)?.get(ref)?.mappings ?? 0) > 0;
  }

  /** Revokes a grant; returns false (and keeps it) while the grantee maps it, as gnttab_end_foreign_access would fail. */
  endAccess(owner: number, ref: number): boolean {
    const table = this.grants.get(owner);
    const entry = table?.get(ref);
    if (table === undefined || entry === undefined) return true;
    if (entry.mappings > 0) return false;
    table.delete(ref);
    // a domain with nothing granted gives its memory back (a destroyed guest keeps none)
    if (table.size === 0) this.memories.delete(owner);
    else this.memoryOf(owner).release(entry.frame);
    return true;
  }

  /** Grants of `owner` still live, for leak checks. */
  liveGrants(owner: number): number {
    return this.grants.get(owner)?.size ?? 0;
  }

  mappedPages(): number {
    let total = 0;
    for (const table of this.grants.values()) for (const entry of table.values()) total += entry.mappings;
    return total;
  }

  // ---- the backend side (GrantTable) ----

  copy(domid: number, plan: GrantCopyPlan): boolean {
    this.copyCalls++;
    const thrown = this.faults.throwInCopy?.(domid);
    if (thrown !== undefined) throw thrown;
    if (this.faults.failCall?.(domid) === true) return false;
    const k = plan.instance;
    const field = opFormat(k);
    const table = this.grants.get(domid);
    // memory cannot grow during the call: one view for every op
    const view = k.view;
    const memory = k.bytes;
    const words = field.packed ? new Uint32Array(memory.buffer, plan.opsAddress, plan.count * 4) : undefined;
    for (let i = 0; i < plan.count; i++) {
      const op = plan.opsAddress + i * field.size;
      let gref: number, guestOffset: number, length: number, local: number, flags: number;
      if (words !== undefined) {
        // the 16-byte layout of defs.ts read as four u32 words (checked once in opFormat)
        const w = i * 4;
        gref = words[w]!;
        guestOffset = words[w + 1]! & 0xffff;
        length = words[w + 1]! >>> 16;
        local = words[w + 2]!;
        flags = words[w + 3]! >>> 16;
      } else {
        gref = view.getUint32(op + field.gref, true);
        guestOffset = view.getUint16(op + field.guestOffset, true);
        length = view.getUint16(op + field.len, true);
        local = view.getUint32(op + field.local, true);
        flags = view.getUint16(op + field.flags, true);
      }
      const toGuest = (flags & field.toGuest) !== 0;
      const entry = table?.get(gref);
      let status: number = this.faults.failOp?.(i, domid) ?? GNTST.okay;
      if (status !== GNTST.okay) {
        // injected failure: nothing copied
      } else if (table === undefined) status = GNTST.bad_domain;
      else if (entry === undefined) status = GNTST.bad_gntref;
      else if (entry.grantee !== this.backendDomid) status = GNTST.permission_denied;
      else if (toGuest && entry.readonly) status = GNTST.permission_denied;
      else if (guestOffset + length > XEN_PAGE_SIZE || local + length > memory.length) status = GNTST.bad_copy_arg;
      else {
        const mapped = entry.mapped;
        if (mapped === undefined) {
          const frame = entry.frame;
          const chunk = frame.chunk;
          if (toGuest) copyBytes(memory, view, local, chunk.bytes, chunk.view, frame.offset + guestOffset, length);
          else copyBytes(chunk.bytes, chunk.view, frame.offset + guestOffset, memory, view, local, length);
        } else if (mapped.instance === k) {
          // the page is mapped into this same memory (a ring page named in a copy op)
          const at = mapped.address + guestOffset;
          if (toGuest) memory.copyWithin(at, local, local + length);
          else memory.copyWithin(local, at, at + length);
        } else {
          const page = bytesOf(entry);
          if (toGuest) page.set(memory.subarray(local, local + length), guestOffset);
          else memory.set(page.subarray(guestOffset, guestOffset + length), local);
        }
        this.copiedOps++;
      }
      view.setInt16(op + field.status, status, true);
    }
    return true;
  }

  mapPage(domid: number, gref: number, instance: KernelInstance, address: number, readonly: boolean): GrantMapping {
    const entry = this.grants.get(domid)?.get(gref);
    if (entry === undefined) throw new GrantMapError(domid, gref, 'no such grant');
    if (entry.grantee !== this.backendDomid) throw new GrantMapError(domid, gref, `granted to domain ${entry.grantee}`);
    if (!readonly && entry.readonly) throw new GrantMapError(domid, gref, 'granted read-only');
    if (entry.mapped !== undefined) throw new GrantMapError(domid, gref, 'already mapped');
    if (address % XEN_PAGE_SIZE !== 0) throw new GrantMapError(domid, gref, `address ${address} not page-aligned`);
    instance.bytes.set(entry.frame.bytes, address);
    entry.mapped = { instance, address };
    entry.mappings++;
    let mapped = true;
    return {
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        const view = bytesOf(entry);
        entry.frame.bytes.set(view);
        entry.mapped = undefined;
        view.fill(0); // the backend keeps private zeroed pages where the mapping was
        entry.mappings--;
      },
    };
  }

  private tableOf(owner: number): Map<number, GrantEntry> {
    let table = this.grants.get(owner);
    if (table === undefined) {
      table = new Map();
      this.grants.set(owner, table);
    }
    return table;
  }

  private memoryOf(owner: number): GuestMemory {
    let memory = this.memories.get(owner);
    if (memory === undefined) {
      memory = new GuestMemory();
      this.memories.set(owner, memory);
    }
    return memory;
  }

  private entry(owner: number, ref: number): GrantEntry {
    const entry = this.grants.get(owner)?.get(ref);
    if (entry === undefined) throw new GrantMapError(owner, ref, 'no such grant');
    return entry;
  }
}

/** Mapping a grant failed (GNTST_bad_gntref and friends on real Xen). */
export class GrantMapError extends NetbackError {
  constructor(domid: number, gref: number, reason: string) {
    super('NETBACK_GRANT_MAP', `cannot map grant ${gref} of domain ${domid}: ${reason}`);
  }
}
