// The simulated Linux netfront against the real Wasm ring kernels as backend. Expected slot
// shapes are derived by hand from xen-netfront.c (xennet_start_xmit & co.) and netif.h; frames
// come from the independent reference builder.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { RxRingKernel, type RxFrameMeta } from '../../src/wasm/rx-ring.js';
import { TxRingKernel } from '../../src/wasm/tx-ring.js';
import type { EventChannelPort, GrantMapping } from '../../src/xen/types.js';
import { SimEventChannels } from '../../src/xen/sim/event-channel.js';
import { SimGrantTable } from '../../src/xen/sim/grant-table.js';
import { SimNetfront, type NetfrontClock, type NetfrontPacket, type SimNetfrontOptions } from '../../src/xen/sim/netfront.js';
import { buildFrame, pseudoRandomBytes } from '../reference/frames.js';

// netif.h, written here from the header.
const NETTXF_CSUM_BLANK = 0x1;
const NETTXF_DATA_VALIDATED = 0x2;
const NETTXF_MORE_DATA = 0x4;
const NETTXF_EXTRA_INFO = 0x8;
const NETRXF_MORE_DATA = 0x4;
const NETRXF_EXTRA_INFO = 0x8;
const DOMID = 7;

let module: WebAssembly.Module;
beforeAll(async () => { module = await compileKernels(await readKernels('release')); });

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

class ManualClock implements NetfrontClock {
  private timers = new Map<number, () => void>();
  private next = 1;
  setTimeout(fn: () => void, _ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }
  get armed(): number { return this.timers.size; }
  fire(): void {
    const fns = [...this.timers.values()];
    this.timers.clear();
    for (const fn of fns) fn();
  }
}

interface Received { frame: Uint8Array; csumBlank: boolean; dataValidated: boolean; gsoType: number; gsoSize: number; slotCount: number }

interface BackendQueue {
  k: KernelInstance;
  tx: TxRingKernel;
  rx: RxRingKernel;
  maps: GrantMapping[];
  txPort: EventChannelPort;
  rxPort: EventChannelPort;
  received: Received[];
  rxPending: { frame: Uint8Array; meta: RxFrameMeta }[];
  events: number;
}

/** A minimal backend loop over the real kernels: map, attach, bind; on each event tx build → copy → commit and rx pack → copy → commit, then unmask. */
class Backend {
  readonly queues: BackendQueue[] = [];
  paused = false;
  constructor(readonly fe: SimNetfront, readonly grants: SimGrantTable, readonly channels: SimEventChannels) {}

  static async connect(fe: SimNetfront, grants: SimGrantTable, channels: SimEventChannels): Promise<Backend> {
    const b = new Backend(fe, grants, channels);
    const evtchn = channels.forDomain(0);
    for (const keys of fe.queueKeys()) {
      const k = await instantiateKernels(module);
      const maps = [
        grants.mapPage(DOMID, keys.txRingRef, k, k.constant('TX_RING_OFFSET'), false),
        grants.mapPage(DOMID, keys.rxRingRef, k, k.constant('RX_RING_OFFSET'), false),
      ];
      const tx = new TxRingKernel(k);
      const rx = new RxRingKernel(k);
      tx.attach();
      rx.attach();
      const q = { k, tx, rx, maps, received: [], rxPending: [], events: 0 } as unknown as BackendQueue;
      if (typeof keys.eventChannel === 'number') {
        q.txPort = evtchn.bindInterdomain(DOMID, keys.eventChannel, () => b.event(q, q.txPort, true, true));
        q.rxPort = q.txPort;
      } else {
        q.txPort = evtchn.bindInterdomain(DOMID, keys.eventChannel.tx, () => b.event(q, q.txPort, true, false));
        q.rxPort = evtchn.bindInterdomain(DOMID, keys.eventChannel.rx, () => b.event(q, q.rxPort, false, true));
      }
      b.queues.push(q);
    }
    return b;
  }

  private event(q: BackendQueue, port: EventChannelPort, tx: boolean, rx: boolean): void {
    q.events++;
    if (!this.paused) {
      if (tx) this.runTx(q);
      if (rx) this.runRx(q);
    }
    port.unmask();
  }

  runTx(q: BackendQueue): void {
    for (;;) {
      const built = q.tx.build();
      expect(built.fatal).toBeUndefined();
      expect(this.grants.copy(DOMID, { instance: q.k, opsAddress: q.tx.opsAddress, count: built.ops })).toBe(true);
      const committed = q.tx.commit();
      for (const p of q.tx.packets()) {
        expect(p.status).toBe(0);
        q.received.push({ frame: q.tx.frame(p), csumBlank: p.csumBlank, dataValidated: p.dataValidated, gsoType: p.gsoType, gsoSize: p.gsoSize, slotCount: p.slotCount });
      }
      if (committed.notify) q.txPort.notify();
      if (!committed.morePending) return;
    }
  }

  runRx(q: BackendQueue): void {
    const base = q.k.constant('RX_BUF_OFFSET');
    while (q.rxPending.length > 0) {
      const { frame, meta } = q.rxPending[0]!;
      q.k.write(base, frame, base, q.k.constant('RX_BUF_SIZE'));
      const r = q.rx.pack(base, frame.length, meta);
      if (r.kind === 'no-space') return; // req_event is armed: the frontend's next post kicks us
      expect(r.kind).toBe('packed');
      q.rxPending.shift();
      expect(this.grants.copy(DOMID, { instance: q.k, opsAddress: q.k.constant('RX_OPS_OFFSET'), count: q.rx.opCount() })).toBe(true);
      if (q.rx.commit().notify) q.rxPort.notify();
    }
  }

  deliver(frame: Uint8Array, meta: RxFrameMeta = {}, queue = 0): void {
    const q = this.queues[queue]!;
    q.rxPending.push({ frame, meta });
    this.runRx(q);
  }

  resume(): void {
    this.paused = false;
    for (const q of this.queues) {
      this.runTx(q);
      this.runRx(q);
    }
  }

  disconnect(): void {
    for (const q of this.queues) {
      for (const m of q.maps) m.unmap();
      q.txPort.close();
      q.rxPort.close();
    }
  }
}

interface Env { fe: SimNetfront; grants: SimGrantTable; channels: SimEventChannels; clock: ManualClock; be: Backend; got: NetfrontPacket[] }

async function setup(options: Partial<SimNetfrontOptions> = {}, start = true): Promise<Env> {
  const grants = new SimGrantTable(0);
  const channels = new SimEventChannels();
  const clock = new ManualClock();
  const fe = new SimNetfront({ domid: DOMID, grants, channels, clock, ...options });
  const got: NetfrontPacket[] = [];
  fe.on('receive', (p) => got.push(p));
  const be = await Backend.connect(fe, grants, channels);
  if (start) fe.start();
  await settle();
  return { fe, grants, channels, clock, be, got };
}

function expectNoLeak(env: Env): void {
  env.be.disconnect();
  expect(env.fe.close()).toBe(0);
  expect(env.grants.liveGrants(DOMID)).toBe(0);
  expect(env.channels.openPorts(DOMID)).toBe(0);
  expect(env.grants.mappedPages()).toBe(0);
}

function sent(result: ReturnType<SimNetfront['send']>): void {
  expect(result.kind).toBe('sent');
}

/** A TX request slot as the backend sees it (read from the mapped ring). */
function txSlot(q: BackendQueue, index: number): { gref: number; offset: number; flags: number; id: number; size: number } {
  const at = q.k.constant('TX_RING_OFFSET') + 64 + (index & 255) * 12;
  const v = q.k.view;
  return { gref: v.getUint32(at, true), offset: v.getUint16(at + 4, true), flags: v.getUint16(at + 6, true), id: v.getUint16(at + 8, true), size: v.getUint16(at + 10, true) };
}

function ringField(q: BackendQueue, ring: 'TX' | 'RX', offset: number, value?: number): number {
  const at = q.k.constant(`${ring}_RING_OFFSET`) + offset;
  if (value !== undefined) q.k.view.setUint32(at, value >>> 0, true);
  return q.k.view.getUint32(at, true);
}

const tcp4 = (payload: number, seed = 1): Uint8Array => buildFrame({ ip: 4, l4: 'tcp', payload, checksum: 'pseudo', seed }).frame;
const tcp6 = (payload: number, seed = 1): Uint8Array => buildFrame({ ip: 6, l4: 'tcp', payload, checksum: 'pseudo', seed }).frame;

describe('SimNetfront setup', () => {
  it('netfront_setup_single_queue', async () => {
    const grants = new SimGrantTable(0);
    const channels = new SimEventChannels();
    const fe = new SimNetfront({ domid: DOMID, grants, channels });
    const [keys] = fe.queueKeys();
    expect(fe.queueKeys()).toHaveLength(1);
    expect(typeof keys!.eventChannel).toBe('number');
    expect(grants.liveGrants(DOMID)).toBe(2);
    expect(channels.openPorts(DOMID)).toBe(1);
    for (const ref of [keys!.txRingRef, keys!.rxRingRef]) {
      const page = grants.page(DOMID, ref);
      const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
      // SHARED_RING_INIT / FRONT_RING_INIT: producers 0, events 1
      expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]).toEqual([0, 1, 0, 1]);
    }
    expect(fe.advertisedFeatures()).toEqual({ sg: true, gsoTcpv4: true, gsoTcpv6: true, ipv6CsumOffload: true, rxNotify: true, noCsumOffload: false });
    expect(fe.close()).toBe(0);
    expect(grants.liveGrants(DOMID)).toBe(0);
    expect(channels.openPorts(DOMID)).toBe(0);
  });

  it('netfront_setup_multiqueue_split', async () => {
    const env = await setup({ queues: 4, split: true });
    const keys = env.fe.queueKeys();
    expect(keys).toHaveLength(4);
    const ports = keys.flatMap((k) => (typeof k.eventChannel === 'number' ? [k.eventChannel] : [k.eventChannel.tx, k.eventChannel.rx]));
    expect(new Set(ports).size).toBe(8);
    expect(new Set(keys.flatMap((k) => [k.txRingRef, k.rxRingRef])).size).toBe(8);
    expect(env.channels.openPorts(DOMID)).toBe(8);
    // every queue posted its RX buffers and carries its own traffic
    for (let q = 0; q < 4; q++) {
      expect(env.fe.rxPosted(q)).toBe(256);
      sent(env.fe.send(tcp4(100 + q, q), { queue: q }));
      env.be.deliver(tcp4(200 + q, q + 10), {}, q);
    }
    await settle();
    for (let q = 0; q < 4; q++) expect(env.be.queues[q]!.received.map((r) => r.frame)).toEqual([tcp4(100 + q, q)]);
    expect(env.got.map((p) => [p.queue, p.frame.length])).toEqual([0, 1, 2, 3].map((q) => [q, tcp4(200 + q, q + 10).length]));
    expectNoLeak(env);
  });

  it('netfront_setup_multiqueue_single_channel', async () => {
    const env = await setup({ queues: 2, split: false });
    expect(env.fe.queueKeys().every((k) => typeof k.eventChannel === 'number')).toBe(true);
    expect(env.channels.openPorts(DOMID)).toBe(2);
    expectNoLeak(env);
  });
});

describe('SimNetfront TX', () => {
  it('netfront_tx_small_flags', async () => {
    const env = await setup();
    const frames = [tcp4(6, 1), tcp4(1460, 2), tcp6(100, 3)];
    sent(env.fe.send(frames[0]!, { checksum: 'partial' }));
    sent(env.fe.send(frames[1]!, { checksum: 'validated' }));
    sent(env.fe.send(frames[2]!, { checksum: 'none' }));
    await settle();
    const got = env.be.queues[0]!.received;
    expect(got.map((r) => r.frame)).toEqual(frames);
    expect(got.map((r) => [r.csumBlank, r.dataValidated, r.gsoType, r.slotCount])).toEqual([[true, true, 0, 1], [false, true, 0, 1], [false, false, 0, 1]]);
    const s = env.fe.stats();
    expect([s.tx_packets, s.tx_rsp_okay, s.tx_bytes]).toEqual([3, 3, frames.reduce((a, f) => a + f.length, 0)]);
    expect(env.fe.txOutstanding()).toBe(0);
    expect(env.grants.liveGrants(DOMID)).toBe(2 + 256); // rings + posted RX buffers: every TX grant revoked
    expectNoLeak(env);
  });

  it('netfront_tx_sg_slot_shape', async () => {
    const env = await setup();
    env.be.paused = true;
    const frame = pseudoRandomBytes(9000, 5);
    const layout = { headOffset: 4000, headLength: 300, frags: [{ offset: 5000, size: 4000 }, { offset: 100, size: 4700 }] };
    const r = env.fe.send(frame, { checksum: 'partial', layout });
    expect(r).toMatchObject({ kind: 'sent', slots: 6 });
    const q = env.be.queues[0]!;
    const slots = [0, 1, 2, 3, 4, 5].map((i) => txSlot(q, i));
    // head split at the page end; a frag at 5000 starts one page in at 904; sizes by hand
    expect(slots.map((s) => [s.offset, s.size])).toEqual([[4000, 9000], [0, 204], [904, 3192], [0, 808], [100, 3996], [0, 704]]);
    expect(slots.map((s) => s.flags)).toEqual([NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_MORE_DATA, ...[0, 0, 0, 0].map(() => NETTXF_MORE_DATA), 0]);
    expect(new Set(slots.map((s) => s.id)).size).toBe(6);
    expect(new Set(slots.map((s) => s.gref)).size).toBe(6);
    expect(ringField(q, 'TX', 0)).toBe(6); // one producer update for the whole packet
    env.be.resume();
    await settle();
    expect(q.received.map((x) => x.frame)).toEqual([frame]);
    expect(q.received[0]!.slotCount).toBe(6);
    expectNoLeak(env);
  });

  it('netfront_tx_gso_64k', async () => {
    const env = await setup();
    env.be.paused = true;
    const v4 = tcp4(65535 - 54, 1);
    const v6 = tcp6(60000, 2);
    expect(v4.length).toBe(65535);
    expect(env.fe.send(v4, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } })).toMatchObject({ kind: 'sent', slots: 18 });
    const q = env.be.queues[0]!;
    const first = txSlot(q, 0);
    expect(first.flags).toBe(NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_EXTRA_INFO | NETTXF_MORE_DATA);
    expect(first.size).toBe(65535);
    const extra = q.k.bytes.subarray(q.k.constant('TX_RING_OFFSET') + 64 + 12, q.k.constant('TX_RING_OFFSET') + 64 + 20);
    expect([...extra]).toEqual([1, 0, 1448 & 0xFF, 1448 >> 8, 1, 0, 0, 0]); // GSO extra right after the first request
    sent(env.fe.send(v6, { checksum: 'partial', gso: { type: 'tcpv6', size: 1440 } }));
    env.be.resume();
    await settle();
    expect(q.received.map((r) => [r.frame.length, r.csumBlank, r.gsoType, r.gsoSize])).toEqual([[65535, true, 1, 1448], [v6.length, true, 2, 1440]]);
    expect(q.received[0]!.frame).toEqual(v4);
    expect(q.received[1]!.frame).toEqual(v6);
    expect(env.fe.stats().tx_rsp_null).toBe(2);
    expectNoLeak(env);
  });

  it('netfront_tx_linearize_bounce_drop', async () => {
    const env = await setup();
    const frame = pseudoRandomBytes(2000, 9);
    // 20 frags of 90 bytes + 200-byte head: 21 slots > 18, so the skb is linearized
    const many = { headOffset: 128, headLength: 200, frags: Array.from({ length: 20 }, () => ({ offset: 0, size: 90 })) };
    expect(env.fe.send(frame, { layout: many })).toMatchObject({ kind: 'sent', slots: 1 });
    // head 6 bytes before the page end: bounced to a fresh page, first slot carries >= 14 bytes
    env.be.paused = true;
    const bounced = pseudoRandomBytes(100, 4);
    sent(env.fe.send(bounced, { layout: { headOffset: 4090, headLength: 100, frags: [] } }));
    const q = env.be.queues[0]!;
    const slot = txSlot(q, 1);
    expect(slot.size).toBe(100);
    expect(4096 - slot.offset).toBeGreaterThanOrEqual(14);
    expect([...env.grants.page(DOMID, slot.gref).subarray(slot.offset + 100, slot.offset + 120)]).toEqual(new Array(20).fill(0));
    expect(env.fe.send(new Uint8Array(65536))).toEqual({ kind: 'dropped', queue: 0, reason: 'too-big' });
    env.be.resume();
    await settle();
    expect(q.received.map((r) => r.frame)).toEqual([frame, bounced]);
    expect(env.fe.stats()).toMatchObject({ tx_linearized: 1, tx_bounced: 1, tx_dropped: 1, tx_packets: 2 });
    expectNoLeak(env);
  });

  it('netfront_tx_stop_at_237_and_wake', async () => {
    const env = await setup();
    env.be.paused = true;
    const wakes: number[] = [];
    env.fe.on('wake', (q) => wakes.push(q));
    const frames = Array.from({ length: 237 }, (_, i) => tcp4(10, i + 1));
    for (let i = 0; i < 236; i++) sent(env.fe.send(frames[i]!));
    expect(env.fe.txStopped()).toBe(false);
    sent(env.fe.send(frames[236]!));
    expect(env.fe.txStopped()).toBe(true);
    expect(env.fe.txOutstanding()).toBe(237);
    expect(env.fe.send(tcp4(10, 999))).toEqual({ kind: 'stopped', queue: 0 });
    env.be.resume();
    await settle();
    expect(wakes).toEqual([0]);
    expect(env.fe.txStopped()).toBe(false);
    sent(env.fe.send(tcp4(10, 1000)));
    await settle();
    expect(env.be.queues[0]!.received.map((r) => r.frame)).toEqual([...frames, tcp4(10, 1000)]);
    expect(env.fe.stats()).toMatchObject({ tx_queue_stopped: 1, tx_queue_woken: 1, tx_rsp_okay: 238 });
    expectNoLeak(env);
  });

  it('netfront_tx_notify_suppression', async () => {
    const env = await setup();
    env.be.paused = true;
    const q = env.be.queues[0]!;
    const before = q.events;
    expect(env.fe.send(tcp4(10, 1))).toMatchObject({ notified: true }); // req_event 1 lies in (0, 1]
    await settle();
    expect(q.events).toBe(before + 1);
    expect(env.fe.send(tcp4(10, 2))).toMatchObject({ notified: false }); // req_event 1 not in (1, 2]
    await settle();
    expect(q.events).toBe(before + 1);
    ringField(q, 'TX', 4, 3); // the backend asks for an event at request 3
    expect(env.fe.send(tcp4(10, 3))).toMatchObject({ notified: true });
    await settle();
    expect(q.events).toBe(before + 2);
    expect(env.fe.stats().tx_notify).toBe(2);
    env.be.resume();
    await settle();
    expectNoLeak(env);
  });

  it('netfront_tx_bad_id_breaks_device', async () => {
    for (const [id, reason] of [[300, /incorrect id \(300\)/], [5, /inactive request/]] as const) {
      const env = await setup();
      env.be.paused = true;
      const broken: string[] = [];
      env.fe.on('broken', (r) => broken.push(r));
      sent(env.fe.send(tcp4(10)));
      const q = env.be.queues[0]!;
      expect(txSlot(q, 0).id).not.toBe(id);
      const at = q.k.constant('TX_RING_OFFSET') + 64;
      q.k.view.setUint16(at, id, true);
      q.k.view.setInt16(at + 2, 0, true);
      ringField(q, 'TX', 8, 1); // rsp_prod
      q.txPort.notify();
      await settle();
      expect(env.fe.broken).toBe(true);
      expect(env.fe.brokenBecause).toMatch(reason);
      expect(broken).toHaveLength(1);
      expect(env.fe.send(tcp4(10))).toEqual({ kind: 'dropped', queue: 0, reason: 'broken' });
      expectNoLeak(env);
    }
  });

  it('netfront_tx_response_for_mapped_grant_breaks_device', async () => {
    const env = await setup();
    env.be.paused = true;
    sent(env.fe.send(tcp4(10)));
    const q = env.be.queues[0]!;
    const req = txSlot(q, 0);
    const mapping = env.grants.mapPage(DOMID, req.gref, q.k, q.k.constant('SCRATCH_OFFSET'), true);
    const at = q.k.constant('TX_RING_OFFSET') + 64;
    q.k.view.setUint16(at, req.id, true);
    q.k.view.setInt16(at + 2, 0, true);
    ringField(q, 'TX', 8, 1);
    q.txPort.notify();
    await settle();
    expect(env.fe.brokenBecause).toMatch(/Grant still in use/);
    mapping.unmap();
    expectNoLeak(env);
  });

  it('netfront_tx_wraps', async () => {
    const env = await setup({ startIndex: 0xFFFFFFF0 });
    const frames = Array.from({ length: 40 }, (_, i) => tcp4(1000 + i * 50, i + 1));
    for (const f of frames) sent(env.fe.send(f, { checksum: 'partial' }));
    const gso = tcp4(30000, 77);
    sent(env.fe.send(gso, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } }));
    await settle();
    const q = env.be.queues[0]!;
    expect(q.received.map((r) => r.frame)).toEqual([...frames, gso]);
    expect(ringField(q, 'TX', 0)).toBeLessThan(0x100); // req_prod wrapped past 2^32
    expect(env.fe.txOutstanding()).toBe(0);
    expectNoLeak(env);
  });
});

describe('SimNetfront RX', () => {
  it('netfront_rx_small_and_gso_64k', async () => {
    const env = await setup();
    const small = tcp4(50, 1);
    const mid = tcp6(1400, 2);
    const big = tcp4(65535 - 54, 3);
    const big6 = tcp6(60000, 4);
    env.be.deliver(small, { checksum: 'validated' });
    env.be.deliver(mid, {});
    env.be.deliver(big, { checksum: 'partial', gsoType: 1, gsoSize: 1448 });
    env.be.deliver(big6, { checksum: 'partial', gsoType: 2, gsoSize: 1440 });
    await settle();
    expect(env.got.map((p) => p.frame)).toEqual([small, mid, big, big6]);
    expect(env.got.map((p) => [p.checksum, p.gso])).toEqual([
      ['validated', undefined], ['none', undefined], ['partial', { type: 'tcpv4', size: 1448 }], ['partial', { type: 'tcpv6', size: 1440 }],
    ]);
    const s = env.fe.stats();
    expect([s.rx_packets, s.rx_errors, s.rx_bytes]).toEqual([4, 0, small.length + mid.length + big.length + big6.length]);
    expect(s.rx_recycled).toBe(2); // the GSO extra slots' buffers are re-posted unrevoked
    expect(env.fe.rxPosted()).toBe(256); // refilled after the poll
    expectNoLeak(env);
  });

  it('netfront_rx_gso_without_csum_blank_is_fixed_up', async () => {
    const env = await setup();
    env.be.deliver(tcp4(5000, 1), { checksum: 'none', gsoType: 1, gsoSize: 1000 });
    await settle();
    expect(env.got.map((p) => p.checksum)).toEqual(['partial']);
    expect(env.fe.stats().rx_gso_checksum_fixup).toBe(1);
    expectNoLeak(env);
  });

  it('netfront_rx_refill_only_at_19', async () => {
    const env = await setup({}, false);
    const q = env.be.queues[0]!;
    env.fe.setRxBufferLimit(18);
    const events = q.events;
    env.fe.start();
    await settle();
    expect(env.fe.rxPosted()).toBe(18);
    expect(ringField(q, 'RX', 0)).toBe(0); // written but not published
    expect(env.fe.rxRefillPending()).toBe(true);
    expect(env.fe.stats().rx_notify).toBe(0);
    env.clock.fire(); // 100 ms later: still 18
    await settle();
    expect(ringField(q, 'RX', 0)).toBe(0);
    expect(env.clock.armed).toBe(1);
    env.fe.setRxBufferLimit(19);
    env.clock.fire();
    await settle();
    expect(ringField(q, 'RX', 0)).toBe(19);
    expect(env.fe.stats().rx_notify).toBe(1); // req_event 1 lay in (0, 19]
    expect(q.events).toBeGreaterThan(events);
    expect(env.fe.rxRefillPending()).toBe(false);
    expectNoLeak(env);
  });

  it('netfront_rx_no_kick_without_rx_notify', async () => {
    const env = await setup({ features: { rxNotify: false } });
    expect(ringField(env.be.queues[0]!, 'RX', 0)).toBe(256);
    expect(env.fe.stats().rx_notify).toBe(0);
    expectNoLeak(env);
  });

  it('netfront_rx_wraps', async () => {
    const env = await setup({ startIndex: 0xFFFFFF00 });
    const frames = Array.from({ length: 300 }, (_, i) => tcp4(100 + (i % 7) * 900, i + 1));
    for (const f of frames) env.be.deliver(f, { checksum: 'validated' });
    await settle();
    expect(env.got.map((p) => p.frame)).toEqual(frames);
    expect(ringField(env.be.queues[0]!, 'RX', 8)).toBeLessThan(0x1000); // rsp_prod wrapped
    expectNoLeak(env);
  });
});

/** Writes raw RX responses in the backend's mapped ring and publishes them (a hostile backend). */
function rawRx(env: Env, responses: Uint8Array[]): void {
  const q = env.be.queues[0]!;
  const prod = ringField(q, 'RX', 8);
  responses.forEach((r, i) => q.k.bytes.set(r, q.k.constant('RX_RING_OFFSET') + 64 + ((prod + i) & 255) * 8));
  ringField(q, 'RX', 8, prod + responses.length);
  q.rxPort.notify();
}

function rsp(id: number, offset: number, flags: number, status: number): Uint8Array {
  const v = new DataView(new ArrayBuffer(8));
  v.setUint16(0, id, true);
  v.setUint16(2, offset, true);
  v.setUint16(4, flags, true);
  v.setInt16(6, status, true);
  return new Uint8Array(v.buffer);
}

const gsoExtra = (size: number, type: number, flags = 0): Uint8Array => Uint8Array.of(1, flags, size & 0xFF, size >> 8, type, 0, 0, 0);

describe('SimNetfront RX checks', () => {
  it('netfront_rx_bad_responses_are_packet_errors', async () => {
    const env = await setup();
    const cases: Uint8Array[][] = [
      [rsp(0, 0, 0, -1)],                                     // status < 0
      [rsp(1, 100, 0, 4000)],                                 // offset + status > 4096
      [rsp(2, 0, NETRXF_EXTRA_INFO, 60), gsoExtra(0, 1)],     // GSO size 0
      [rsp(4, 0, NETRXF_EXTRA_INFO, 60), gsoExtra(1448, 3)],  // GSO type not 1/2
      [rsp(6, 0, NETRXF_EXTRA_INFO, 60), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0)], // extra type 0
      [rsp(8, 0, NETRXF_EXTRA_INFO, 60), Uint8Array.of(6, 0, 0, 0, 0, 0, 0, 0)], // extra type >= MAX (6)
      // 19 data slots with a first slot > 256 bytes: more than 18
      Array.from({ length: 19 }, (_, i) => rsp(10 + i, 0, i < 18 ? NETRXF_MORE_DATA : 0, i === 0 ? 300 : 100)),
    ];
    for (const c of cases) rawRx(env, c);
    await settle();
    expect(env.got).toEqual([]);
    expect(env.fe.stats().rx_errors).toBe(cases.length);
    expect(env.fe.broken).toBe(false);
    // a good frame still gets through afterwards
    env.be.queues[0]!.rx.attach();
    const frame = tcp4(80);
    env.be.deliver(frame);
    await settle();
    expect(env.got.map((p) => p.frame)).toEqual([frame]);
    expectNoLeak(env);
  });

  it('netfront_rx_overflowing_producer_breaks_device', async () => {
    const env = await setup();
    const q = env.be.queues[0]!;
    ringField(q, 'RX', 8, 257);
    q.rxPort.notify();
    await settle();
    expect(env.fe.brokenBecause).toMatch(/Illegal number of responses 257/);
    expectNoLeak(env);
  });

  it('netfront_rx_producer_going_backwards_breaks_device', async () => {
    const env = await setup({ pollMode: 'manual' });
    const q = env.be.queues[0]!;
    env.be.paused = true;
    rawRx(env, [rsp(0, 0, 0, 60), rsp(1, 0, 0, 60)]);
    await settle();
    expect(env.fe.rxPollRequested()).toBe(true); // the event saw 2 new responses; NAPI not run yet
    expect(env.fe.broken).toBe(false);
    ringField(q, 'RX', 8, 1);
    q.rxPort.notify();
    await settle();
    expect(env.fe.brokenBecause).toMatch(/going backwards/);
    expect(env.fe.poll()).toBe(0); // a broken device polls no more
    expect(env.got).toEqual([]);
    expectNoLeak(env);
  });

  it('netfront_rx_manual_poll_budget', async () => {
    const env = await setup({ pollMode: 'manual' });
    const frames = Array.from({ length: 5 }, (_, i) => tcp4(60, i + 1));
    for (const f of frames) env.be.deliver(f);
    await settle();
    expect(env.got).toEqual([]);
    expect(env.fe.poll(0, 3)).toBe(3);
    expect(env.fe.rxPollRequested()).toBe(true); // budget used up: NAPI reschedules
    expect(env.fe.poll()).toBe(2);
    expect(env.got.map((p) => p.frame)).toEqual(frames);
    expectNoLeak(env);
  });
});

describe('SimNetfront hostile access', () => {
  it('netfront_hostile_raw_tx_request', async () => {
    const env = await setup();
    const h = env.fe.hostile(0);
    const frame = tcp4(40);
    const page = new Uint8Array(4096);
    page.set(frame, 100);
    const gref = h.grant(true, page);
    h.writeTxRequest(0, { gref, offset: 100, flags: 0, id: 7, size: frame.length });
    h.setTxReqProd(1);
    h.notifyTx();
    await settle();
    expect(env.be.queues[0]!.received.map((r) => r.frame)).toEqual([frame]);
    expect(env.fe.broken).toBe(false); // the response for id 7 was not checked: the queue is bypassed
    expectNoLeak(env);
  });
});
