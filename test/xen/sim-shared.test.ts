// The cross-thread simulated Xen (src/xen/sim/shared/): grant copies with Xen's checks, ring pages
// mapped into Wasm memory by mmap of the guest frame, event channels with late EOI; and a guest on
// a thread of its own carrying real TCP both ways between two Linux stacks (as root).

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { compileKernels, instantiateKernels, readKernels, type KernelInstance } from '../../src/index.js';
import { GUEST4, HOST4, LinuxStacks } from '../../src/sim/linux-stacks.js';
import { SharedEventChannels } from '../../src/xen/sim/shared/shared-event-channels.js';
import { SharedGrantTable } from '../../src/xen/sim/shared/shared-grant-table.js';
import { SharedXen } from '../../src/xen/sim/shared/shared-xen.js';
import { GNTST } from '../../src/xen/types.js';
import { copyOpStatus, writeCopyOps, type CopyOp } from '../support/grant-ops.js';
import { announceSkip, linkJson, TestNetns, uniqueName, type NsProcess } from '../tap/env.js';

const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

let k: KernelInstance;
let xen: SharedXen;
beforeEach(async () => {
  k = await instantiateKernels(await compileKernels(await readKernels()));
  xen = SharedXen.create({ pages: 64, ports: 16, threads: 8 });
});

const writeOps = (ops: readonly CopyOp[]): number => writeCopyOps(k, ops);
const opStatus = (i: number): number => copyOpStatus(k, i);

describe('SharedGrantTable', () => {
  test('shared_grant_copy_both_ways_and_every_refusal', () => {
    const guest = new SharedGrantTable(xen, 0);
    const backend = new SharedGrantTable(SharedXen.attach(xen.handle), 0);
    const readable = guest.grantAccess(5, 0, true, Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff));
    const writable = guest.grantAccess(5, 0, false);
    const elsewhere = guest.grantAccess(5, 3, false);
    const local = k.constant('TX_BUF_OFFSET');
    k.bytes.fill(0xee, local + 8192, local + 8192 + 200);
    const opsAddress = writeOps([
      { gref: readable, guestOffset: 100, len: 50, local },
      { gref: writable, guestOffset: 3800, len: 196, local: local + 8192, toGuest: true },
      { gref: readable, guestOffset: 0, len: 10, local, toGuest: true },
      { gref: 999, guestOffset: 0, len: 10, local },
      { gref: elsewhere, guestOffset: 0, len: 10, local },
      { gref: writable, guestOffset: 4090, len: 10, local },
    ]);
    expect(backend.copy(5, { instance: k, opsAddress, count: 6 })).toBe(true);
    expect([0, 1, 2, 3, 4, 5].map(opStatus)).toEqual([GNTST.okay, GNTST.okay, GNTST.permission_denied, GNTST.bad_gntref, GNTST.permission_denied, GNTST.bad_copy_arg]);
    expect([...k.bytes.subarray(local, local + 3)]).toEqual([100, 101, 102]);
    expect(guest.page(5, writable)[3800 + 195]).toBe(0xee);
    // another domain's copy of the same references: not its grants
    expect(backend.copy(6, { instance: k, opsAddress, count: 1 })).toBe(true);
    expect(opStatus(0)).toBe(GNTST.bad_gntref);
  });

  test('shared_grant_end_access_frees_and_reuses_zeroed', () => {
    const grants = new SharedGrantTable(xen, 0);
    const refs = Array.from({ length: 64 }, () => grants.grantAccess(5, 0, false, new Uint8Array([1, 2, 3])));
    expect(() => grants.grantAccess(5, 0, false)).toThrow(/no page frame left/);
    expect(grants.liveGrants(5)).toBe(64);
    for (const ref of refs) expect(grants.endAccess(5, ref)).toBe(true);
    expect(grants.liveGrants(5)).toBe(0);
    const again = grants.grantAccess(5, 0, false);
    expect(grants.page(5, again).every((b) => b === 0)).toBe(true);
  });

  test('shared_grant_map_page_aliases_the_frame', () => {
    const guest = new SharedGrantTable(xen, 0);
    const backend = new SharedGrantTable(xen, 0);
    const ref = guest.grantAccess(5, 0, false, new Uint8Array([9, 8, 7]));
    const address = k.constant('TX_RING_OFFSET');
    const mapping = backend.mapPage(5, ref, k, address, false);
    // the same physical page both ways, as gntdev maps a guest's frame
    expect([...k.bytes.subarray(address, address + 3)]).toEqual([9, 8, 7]);
    k.bytes[address + 100] = 0x42;
    expect(guest.page(5, ref)[100]).toBe(0x42);
    guest.page(5, ref)[200] = 0x24;
    expect(k.bytes[address + 200]).toBe(0x24);
    expect(guest.endAccess(5, ref)).toBe(false);
    mapping.unmap();
    mapping.unmap();
    expect(k.bytes.subarray(address, address + 4096).every((b) => b === 0)).toBe(true);
    expect(guest.page(5, ref)[100]).toBe(0x42);
    expect(guest.endAccess(5, ref)).toBe(true);
    expect(() => backend.mapPage(5, ref, k, address, false)).toThrow(/no such grant/);
    const ro = guest.grantAccess(5, 0, true);
    expect(() => backend.mapPage(5, ro, k, address, false)).toThrow(/read-only/);
  });
});

describe('SharedEventChannels', () => {
  test('shared_evtchn_masked_burst_is_one_event_and_unmask_redelivers', async () => {
    const front = new SharedEventChannels(xen);
    const back = new SharedEventChannels(SharedXen.attach(xen.handle));
    let frontEvents = 0;
    let backEvents = 0;
    const fe = front.allocUnbound(5, 0, () => { frontEvents++; });
    expect(() => back.forDomain(3).bindInterdomain(5, fe.localPort, () => {})).toThrow(/not for domain 3/);
    const be = back.forDomain(0).bindInterdomain(5, fe.localPort, () => { backEvents++; });
    expect(() => back.forDomain(0).bindInterdomain(5, fe.localPort, () => {})).toThrow(/already bound/);
    expect(be.remoteDomid).toBe(5);
    expect(be.remotePort).toBe(fe.localPort);
    fe.notify();
    fe.notify();
    await settle();
    expect(backEvents).toBe(1);
    fe.notify(); // while masked: pending, no delivery
    await settle();
    expect(backEvents).toBe(1);
    be.unmask();
    await settle();
    expect(backEvents).toBe(2);
    be.unmask();
    await settle();
    expect(backEvents).toBe(2);
    be.notify();
    await settle();
    expect(frontEvents).toBe(1);
    be.close();
    fe.notify(); // the peer is gone: nothing to deliver, no error
    expect(front.openPorts(5)).toBe(1);
    fe.close();
    expect(front.openPorts(5)).toBe(0);
    front.close();
    back.close();
  });
});

const SUITE = 'test/xen/sim-shared.test.ts (a guest on its own thread between real stacks)';
describe.skipIf(announceSkip(SUITE))('guest thread between real stacks', () => {
  const nsA = new TestNetns();
  const nsB = new TestNetns();
  const vifName = uniqueName('wnbv');
  const guestName = uniqueName('wnbg');
  let stacks: LinuxStacks | undefined;
  const BYTES = 8 * 1024 * 1024;

  beforeAll(async () => {
    stacks = await LinuxStacks.open({
      kernels: await compileKernels(await readKernels()), hostNs: nsA, guestNs: nsB, vifName, guestTapName: guestName, guestThread: true,
    });
  });

  afterAll(async () => {
    await (stacks?.close() ?? Promise.all([nsA.destroy(), nsB.destroy()]));
    expect(await linkJson(vifName)).toBeUndefined();
    expect(await linkJson(guestName)).toBeUndefined();
  });

  test('guest_thread_tcp_v4_bulk_both_ways', async () => {
    const script = (role: 'listen' | 'connect', host: string, port: number) => `const net=require('net'),c=require('crypto');
const run=(s)=>{s.on('error',(e)=>{console.log('error '+e.message);process.exit(1)});
 if('${role}'==='connect'){const d=c.randomBytes(${BYTES});console.log('sent '+c.createHash('sha256').update(d).digest('hex'));s.end(d);s.on('close',()=>process.exit(0));s.resume()}
 else{const h=c.createHash('sha256');s.on('data',(b)=>h.update(b));s.on('end',()=>{console.log('got '+h.digest('hex'));s.end();process.exit(0)})}};
if('${role}'==='listen'){const srv=net.createServer((s)=>{srv.close();run(s)});srv.listen(${port},'${host}',()=>console.log('ready'))}
else{const s=net.connect(${port},'${host}',()=>run(s))}
setTimeout(()=>{console.log('timeout');process.exit(2)},40000)`;
    const before = stacks!.guest.dataPath()!.counters();
    const procs: NsProcess[] = [];
    try {
      const inB = nsB.node(script('listen', GUEST4, 5301));
      const inA = nsA.node(script('listen', HOST4, 5302));
      procs.push(inB, inA);
      await inB.waitFor(/^ready$/);
      await inA.waitFor(/^ready$/);
      const fromA = nsA.node(script('connect', GUEST4, 5301));
      const fromB = nsB.node(script('connect', HOST4, 5302));
      procs.push(fromA, fromB);
      const [sentA, sentB] = [await fromA.waitFor(/^(sent|error|timeout)/), await fromB.waitFor(/^(sent|error|timeout)/)];
      expect(await inB.waitFor(/^(got|error|timeout)/, 45_000)).toBe(sentA.replace(/^sent/, 'got'));
      expect(await inA.waitFor(/^(got|error|timeout)/, 45_000)).toBe(sentB.replace(/^sent/, 'got'));
    } finally {
      for (const p of procs) p.kill();
    }
    const after = stacks!.guest.dataPath()!.counters();
    expect(after.tx_ring_bytes! - before.tx_ring_bytes!).toBeGreaterThan(BYTES);
    expect(after.rx_ring_bytes! - before.rx_ring_bytes!).toBeGreaterThan(BYTES);
    // GSO frames crossed whole: far fewer ring frames than MSS-sized segments
    expect(after.tx_ring_packets! - before.tx_ring_packets!).toBeLessThan(BYTES / 1448 / 2);
    const guest = await stacks!.guestThread!.stats();
    expect(guest.tap!.fromStackGso).toBeGreaterThan(0);
    expect(guest.tap!.toStackGso).toBeGreaterThan(0);
  }, 90_000);
});
