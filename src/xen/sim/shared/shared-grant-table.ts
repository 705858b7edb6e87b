// The grant table of the cross-thread simulation (shared-xen.ts): the granting side (a guest's
// netfront on its thread) and the backend's GrantTable (on another), with Xen's checks on every
// copy as in grant-table.ts. A copy is a memcpy between the backend's Wasm memory and the shared
// frames on the backend's thread, as the hypervisor's grant copy runs on the calling vCPU; a ring
// page is mapped with mmap of the frame's memfd page, as gntdev maps it.
// see: xen/include/public/grant_table.h; netif-protocol.md §3

import { NetbackError } from '../../../errors.js';
import { loadNative } from '../../../native/addon.js';
import type { KernelInstance } from '../../../wasm/module.js';
import { GNTST, type GrantCopyPlan, type GrantMapping, type GrantTable } from '../../types.js';
import type { GrantingTable } from '../frontend-handles.js';
import { copyBytes, GrantMapError, opFormat } from '../grant-table.js';
import {
  FIRST_REF, FRAME_TOP, GRANT_FRAME, GRANT_FREE, GRANT_GRANTEE, GRANT_MAPPINGS, GRANT_OWNER, GRANT_READONLY, GRANT_STATE,
  GRANT_WRITABLE, LOCK_GRANTS, REF_TOP, XEN_PAGE_SIZE, type SharedXen,
} from './shared-xen.js';

/** No frame or grant entry left in the shared table. */
export class SharedGrantsExhaustedError extends NetbackError {
  constructor(what: string) {
    super('NETBACK_SIM_GRANTS_EXHAUSTED', `shared grant table: no ${what} left`);
  }
}

export class SharedGrantTable implements GrantTable, GrantingTable {
  readonly backendDomid: number;
  private readonly xen: SharedXen;
  private readonly w: Int32Array;
  /** Ops executed and calls made on this thread. */
  copiedOps = 0;
  copyCalls = 0;

  constructor(xen: SharedXen, backendDomid = 0) {
    this.xen = xen;
    this.w = xen.words;
    this.backendDomid = backendDomid;
  }

  // ---- the granting (frontend) side ----

  grantAccess(owner: number, grantee: number, readonly: boolean, contents?: Uint8Array): number {
    const xen = this.xen;
    const [index, frame] = xen.locked(LOCK_GRANTS, () => {
      const frame = xen.pop(FRAME_TOP, xen.frameStack);
      if (frame < 0) return [-1, -1];
      const index = xen.pop(REF_TOP, xen.refStack);
      if (index < 0) xen.push(FRAME_TOP, xen.frameStack, frame);
      return [index, frame];
    });
    if (index < 0) throw new SharedGrantsExhaustedError(frame < 0 ? 'page frame' : 'grant entry');
    const bytes = xen.frames.subarray(frame * XEN_PAGE_SIZE, (frame + 1) * XEN_PAGE_SIZE);
    if (contents === undefined) bytes.fill(0);
    else {
      const n = Math.min(contents.length, XEN_PAGE_SIZE);
      bytes.set(contents.subarray(0, n));
      bytes.fill(0, n);
    }
    const w = this.w;
    w[xen.grantWord(index, GRANT_OWNER)] = owner;
    w[xen.grantWord(index, GRANT_GRANTEE)] = grantee;
    w[xen.grantWord(index, GRANT_FRAME)] = frame;
    w[xen.grantWord(index, GRANT_MAPPINGS)] = 0;
    // published last: a grant reference the peer learns (through a ring) is complete
    Atomics.store(w, xen.grantWord(index, GRANT_STATE), readonly ? GRANT_READONLY : GRANT_WRITABLE);
    return index + FIRST_REF;
  }

  page(owner: number, ref: number): Uint8Array {
    const index = this.entry(owner, ref);
    if (index < 0) throw new GrantMapError(owner, ref, 'no such grant');
    const frame = this.w[this.xen.grantWord(index, GRANT_FRAME)]!;
    return this.xen.frames.subarray(frame * XEN_PAGE_SIZE, (frame + 1) * XEN_PAGE_SIZE);
  }

  endAccess(owner: number, ref: number): boolean {
    const index = this.entry(owner, ref);
    if (index < 0) return true;
    const xen = this.xen;
    return xen.locked(LOCK_GRANTS, () => {
      if (Atomics.load(this.w, xen.grantWord(index, GRANT_MAPPINGS)) > 0) return false;
      Atomics.store(this.w, xen.grantWord(index, GRANT_STATE), GRANT_FREE);
      xen.push(FRAME_TOP, xen.frameStack, this.w[xen.grantWord(index, GRANT_FRAME)]!);
      xen.push(REF_TOP, xen.refStack, index);
      return true;
    });
  }

  /** Grants of `owner` still live, for leak checks. */
  liveGrants(owner: number): number {
    let n = 0;
    for (let i = 0; i < this.xen.handle.grantCount; i++) if (this.entry(owner, i + FIRST_REF) >= 0) n++;
    return n;
  }

  // ---- the backend side (GrantTable) ----

  copy(domid: number, plan: GrantCopyPlan): boolean {
    this.copyCalls++;
    const k = plan.instance;
    const field = opFormat(k);
    const view = k.view;
    const memory = k.bytes;
    const w = this.w;
    const xen = this.xen;
    const frames = xen.frames;
    const framesView = xen.framesView;
    for (let i = 0; i < plan.count; i++) {
      const op = plan.opsAddress + i * field.size;
      const gref = view.getUint32(op + field.gref, true);
      const guestOffset = view.getUint16(op + field.guestOffset, true);
      const length = view.getUint16(op + field.len, true);
      const local = view.getUint32(op + field.local, true);
      const toGuest = (view.getUint16(op + field.flags, true) & field.toGuest) !== 0;
      const index = this.entry(domid, gref);
      let status: number = GNTST.okay;
      if (index < 0) status = GNTST.bad_gntref;
      else if (w[xen.grantWord(index, GRANT_GRANTEE)] !== this.backendDomid) status = GNTST.permission_denied;
      else if (toGuest && w[xen.grantWord(index, GRANT_STATE)] === GRANT_READONLY) status = GNTST.permission_denied;
      else if (guestOffset + length > XEN_PAGE_SIZE || local + length > memory.length) status = GNTST.bad_copy_arg;
      else {
        const at = w[xen.grantWord(index, GRANT_FRAME)]! * XEN_PAGE_SIZE + guestOffset;
        if (toGuest) copyBytes(memory, view, local, frames, framesView, at, length);
        else copyBytes(frames, framesView, at, memory, view, local, length);
        this.copiedOps++;
      }
      view.setInt16(op + field.status, status, true);
    }
    return true;
  }

  mapPage(domid: number, gref: number, instance: KernelInstance, address: number, readonly: boolean): GrantMapping {
    const index = this.entry(domid, gref);
    const w = this.w;
    const xen = this.xen;
    if (index < 0) throw new GrantMapError(domid, gref, 'no such grant');
    if (w[xen.grantWord(index, GRANT_GRANTEE)] !== this.backendDomid) throw new GrantMapError(domid, gref, `granted to domain ${w[xen.grantWord(index, GRANT_GRANTEE)]}`);
    if (!readonly && w[xen.grantWord(index, GRANT_STATE)] === GRANT_READONLY) throw new GrantMapError(domid, gref, 'granted read-only');
    if (address % XEN_PAGE_SIZE !== 0) throw new GrantMapError(domid, gref, `address ${address} not page-aligned`);
    const addon = loadNative();
    if (addon.mapFdPage === undefined || addon.restorePage === undefined) throw new GrantMapError(domid, gref, 'the native addon predates mapFdPage: run `npm run build:native`');
    const frame = w[xen.grantWord(index, GRANT_FRAME)]!;
    addon.mapFdPage(xen.handle.memfd, frame * XEN_PAGE_SIZE, instance.bytes, address, !readonly);
    Atomics.add(w, xen.grantWord(index, GRANT_MAPPINGS), 1);
    let mapped = true;
    return {
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        addon.restorePage!(instance.bytes, address);
        Atomics.sub(w, xen.grantWord(index, GRANT_MAPPINGS), 1);
      },
    };
  }

  /** The entry index of a live grant of `owner`, or -1. */
  private entry(owner: number, ref: number): number {
    const index = ref - FIRST_REF;
    if (!(index >= 0 && index < this.xen.handle.grantCount)) return -1;
    if (Atomics.load(this.w, this.xen.grantWord(index, GRANT_STATE)) === GRANT_FREE) return -1;
    return this.w[this.xen.grantWord(index, GRANT_OWNER)] === owner ? index : -1;
  }
}
