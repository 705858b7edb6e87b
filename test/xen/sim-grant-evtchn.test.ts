import { beforeEach, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, readKernels, type KernelInstance } from '../../src/index.js';
import { EventChannelError, SimEventChannels } from '../../src/xen/sim/event-channel.js';
import { GrantMapError, SimGrantTable } from '../../src/xen/sim/grant-table.js';
import { GNTST } from '../../src/xen/types.js';
import { copyOpStatus, writeCopyOps, type CopyOp } from '../support/grant-ops.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

let k: KernelInstance;
beforeEach(async () => { k = await instantiateKernels(await compileKernels(await readKernels())); });

const writeOps = (ops: readonly CopyOp[]): number => writeCopyOps(k, ops);
const opStatus = (i: number): number => copyOpStatus(k, i);

describe('SimGrantTable', () => {
  it('grant_copy_both_ways_and_every_refusal', () => {
    const grants = new SimGrantTable(0);
    const readable = grants.grantAccess(5, 0, true, Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff));
    const writable = grants.grantAccess(5, 0, false);
    const elsewhere = grants.grantAccess(5, 3, false);
    const local = k.constant('TX_BUF_OFFSET');
    k.bytes.fill(0xee, local + 8192, local + 8192 + 100);
    const opsAddress = writeOps([
      { gref: readable, guestOffset: 100, len: 50, local },                        // from guest: ok
      { gref: writable, guestOffset: 4000, len: 96, local: local + 8192, toGuest: true }, // to guest: ok
      { gref: readable, guestOffset: 0, len: 10, local, toGuest: true },           // read-only grant
      { gref: 999, guestOffset: 0, len: 10, local },                               // no such grant
      { gref: elsewhere, guestOffset: 0, len: 10, local },                         // granted to domain 3
      { gref: writable, guestOffset: 4090, len: 10, local },                       // crosses the guest page
    ]);
    expect(grants.copy(5, { instance: k, opsAddress, count: 6 })).toBe(true);
    expect([0, 1, 2, 3, 4, 5].map(opStatus)).toEqual([GNTST.okay, GNTST.okay, GNTST.permission_denied, GNTST.bad_gntref, GNTST.permission_denied, GNTST.bad_copy_arg]);
    expect([...k.bytes.subarray(local, local + 3)]).toEqual([100, 101, 102]);
    expect(grants.page(5, writable)[4000]).toBe(0xee);
    expect(grants.copy(6, { instance: k, opsAddress, count: 1 })).toBe(true);
    expect(opStatus(0)).toBe(GNTST.bad_domain);
  });

  it('grant_copy_every_length_and_alignment_exact', () => {
    // short copies go word by word, long ones by set(): both must copy exactly [offset, offset+len)
    const grants = new SimGrantTable(0);
    const pattern = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
    const local = k.constant('TX_BUF_OFFSET');
    for (const len of [1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 200, 4093]) {
      for (const shift of [0, 1, 2, 3]) {
        const from = grants.grantAccess(5, 0, true, pattern);
        const to = grants.grantAccess(5, 0, false);
        k.bytes.fill(0xaa, local, local + 4200);
        const opsAddress = writeOps([
          { gref: from, guestOffset: shift, len, local: local + shift + 1 },
          { gref: to, guestOffset: 3 - shift, len, local: local + shift + 1, toGuest: true },
        ]);
        grants.copy(5, { instance: k, opsAddress, count: 2 });
        expect([opStatus(0), opStatus(1)], `${len}@${shift}`).toEqual([GNTST.okay, GNTST.okay]);
        expect(k.bytes[local + shift], `${len}@${shift} before`).toBe(0xaa);
        expect(k.bytes.subarray(local + shift + 1, local + shift + 1 + len), `${len}@${shift}`).toEqual(pattern.subarray(shift, shift + len));
        expect(k.bytes[local + shift + 1 + len], `${len}@${shift} after`).toBe(0xaa);
        const page = grants.page(5, to);
        expect(page.subarray(0, 3 - shift).every((b) => b === 0), `${len}@${shift} guest before`).toBe(true);
        expect(page.subarray(3 - shift, 3 - shift + len), `${len}@${shift} guest`).toEqual(pattern.subarray(shift, shift + len));
        expect(page.subarray(3 - shift + len).every((b) => b === 0), `${len}@${shift} guest after`).toBe(true);
        grants.endAccess(5, from);
        grants.endAccess(5, to);
      }
    }
  });

  it('grant_pages_are_reused_zeroed', () => {
    const grants = new SimGrantTable(0);
    const keep = grants.grantAccess(5, 0, false);
    const first = grants.grantAccess(5, 0, false, new Uint8Array(4096).fill(0x5a));
    expect(grants.endAccess(5, first)).toBe(true);
    for (let i = 0; i < 100; i++) {
      const ref = grants.grantAccess(5, 0, false);
      expect(grants.page(5, ref).every((b) => b === 0)).toBe(true);
      grants.page(5, ref).fill(0x77);
      grants.endAccess(5, ref);
    }
    expect(grants.page(5, keep).every((b) => b === 0)).toBe(true);
    expect(grants.liveGrants(5)).toBe(1);
  });

  it('grant_copy_injected_failures', () => {
    const grants = new SimGrantTable(0);
    const ref = grants.grantAccess(5, 0, true);
    const opsAddress = writeOps([{ gref: ref, guestOffset: 0, len: 8, local: k.constant('TX_BUF_OFFSET') }, { gref: ref, guestOffset: 8, len: 8, local: k.constant('TX_BUF_OFFSET') }]);
    grants.faults = { failOp: (i) => (i === 1 ? GNTST.eagain : undefined) };
    grants.copy(5, { instance: k, opsAddress, count: 2 });
    expect([opStatus(0), opStatus(1)]).toEqual([GNTST.okay, GNTST.eagain]);
    grants.faults = { failCall: () => true };
    writeOps([{ gref: ref, guestOffset: 0, len: 8, local: k.constant('TX_BUF_OFFSET') }]);
    expect(grants.copy(5, { instance: k, opsAddress, count: 1 })).toBe(false);
    expect(opStatus(0)).toBe(-99); // a failed call writes no status
  });

  it('grant_map_shares_the_page_both_ways_until_unmap', () => {
    const grants = new SimGrantTable(0);
    const ref = grants.grantAccess(7, 0, false, Uint8Array.of(1, 2, 3));
    const ring = k.constant('TX_RING_OFFSET');
    const mapping = grants.mapPage(7, ref, k, ring, false);
    expect([...k.bytes.subarray(ring, ring + 3)]).toEqual([1, 2, 3]);
    grants.page(7, ref)[10] = 42;           // the frontend writes its page
    expect(k.bytes[ring + 10]).toBe(42);    // the backend sees it in Wasm memory
    k.bytes[ring + 11] = 43;                // the backend writes a response
    expect(grants.page(7, ref)[11]).toBe(43);
    expect(grants.inUse(7, ref)).toBe(true);
    expect(grants.endAccess(7, ref)).toBe(false); // netfront cannot revoke a mapped grant
    mapping.unmap();
    mapping.unmap();
    expect(grants.inUse(7, ref)).toBe(false);
    expect(k.bytes[ring + 10]).toBe(0);     // private zeroed pages are back
    expect(grants.page(7, ref)[11]).toBe(43); // the frontend keeps its page
    expect(grants.endAccess(7, ref)).toBe(true);
    expect(grants.liveGrants(7)).toBe(0);
  });

  it('grant_map_refusals_are_typed', () => {
    const grants = new SimGrantTable(0);
    const readonlyRef = grants.grantAccess(7, 0, true);
    const otherRef = grants.grantAccess(7, 4, false);
    const ring = k.constant('RX_RING_OFFSET');
    expect(() => grants.mapPage(7, 12345, k, ring, true)).toThrow(GrantMapError);
    expect(() => grants.mapPage(7, readonlyRef, k, ring, false)).toThrow(/read-only/);
    expect(() => grants.mapPage(7, otherRef, k, ring, false)).toThrow(/granted to domain 4/);
    expect(() => grants.mapPage(7, readonlyRef, k, ring + 1, true)).toThrow(/page-aligned/);
    grants.mapPage(7, readonlyRef, k, ring, true);
    expect(() => grants.mapPage(7, readonlyRef, k, ring, true)).toThrow(/already mapped/);
  });
});

describe('SimEventChannels', () => {
  it('evtchn_notify_delivers_once_then_masks_until_unmask', async () => {
    const channels = new SimEventChannels();
    let frontendEvents = 0;
    let backendEvents = 0;
    const frontend = channels.allocUnbound(5, 0, () => frontendEvents++);
    const backend = channels.forDomain(0).bindInterdomain(5, frontend.localPort, () => backendEvents++);
    frontend.notify();
    frontend.notify();
    expect(backendEvents).toBe(0); // asynchronous
    await settle();
    expect(backendEvents).toBe(1);
    frontend.notify(); // arrives while masked: pending, not delivered
    await settle();
    expect(backendEvents).toBe(1);
    backend.unmask(); // late EOI: the pending event fires now
    await settle();
    expect(backendEvents).toBe(2);
    backend.unmask();
    await settle();
    expect(backendEvents).toBe(2); // nothing pending: no spurious event
    backend.notify();
    await settle();
    expect(frontendEvents).toBe(1);
    backend.close();
    backend.close();
    frontend.unmask();
    frontend.notify(); // peer gone: dropped
    await settle();
    expect(backendEvents).toBe(2);
    expect(channels.openPorts(0)).toBe(0);
  });

  it('evtchn_bind_refusals_are_typed', () => {
    const channels = new SimEventChannels();
    const port = channels.allocUnbound(5, 0, () => {});
    const backend = channels.forDomain(0);
    expect(() => backend.bindInterdomain(5, 999, () => {})).toThrow(EventChannelError);
    expect(() => channels.forDomain(2).bindInterdomain(5, port.localPort, () => {})).toThrow(/not for domain 2/);
    backend.bindInterdomain(5, port.localPort, () => {});
    expect(() => backend.bindInterdomain(5, port.localPort, () => {})).toThrow(/already bound/);
  });
});
