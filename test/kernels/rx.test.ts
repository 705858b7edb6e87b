// Guest-RX ring kernel (assembly/netif/rx.ts) against a netfront-like test frontend. Expected
// slot shapes are derived by hand from Linux rx.c (xenvif_rx_skb & co.) and netif.h.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels, type KernelBuild } from '../../src/wasm/node-source.js';
import { FrontendFatalError, KernelUsageError, PacketDropError } from '../../src/wasm/errors.js';
import { RxRingKernel, type RxFrameMeta } from '../../src/wasm/rx-ring.js';
import { GrantPages, GNTST_BAD_GNTREF } from '../support/grant-pages.js';
import { RxFrontend, type RxPacket } from '../support/rx-frontend.js';

// netif.h values, written here from the header rather than read from the module under test.
const NETRXF_DATA_VALIDATED = 0x1;
const NETRXF_CSUM_BLANK = 0x2;
const NETRXF_MORE_DATA = 0x4;
const NETRXF_EXTRA_INFO = 0x8;
const EXTRA_GSO = 1;
const EXTRA_HASH = 4;
const EXTRA_XDP = 5;
const EXTRA_FLAG_MORE = 1;

const modules = new Map<KernelBuild, WebAssembly.Module>();
beforeAll(async () => {
  for (const build of ['release', 'debug'] as const) modules.set(build, await compileKernels(await readKernels(build)));
});

interface Env {
  k: KernelInstance;
  rx: RxRingKernel;
  grants: GrantPages;
  fe: RxFrontend;
}

async function setup(start = 0, build: KernelBuild = 'release'): Promise<Env> {
  const k = await instantiateKernels(modules.get(build)!);
  const rx = new RxRingKernel(k);
  const grants = new GrantPages();
  const fe = new RxFrontend(k, grants);
  fe.init(start);
  rx.attach();
  return { k, rx, grants, fe };
}

let seed = 1;
function bytes(len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out[i] = seed >>> 24;
  }
  return out;
}

/** Writes a frame into RX_BUF at `offset` and returns its address. */
function putFrame(k: KernelInstance, data: Uint8Array, offset = 0): number {
  const base = k.constant('RX_BUF_OFFSET');
  k.write(base + offset, data, base, k.constant('RX_BUF_SIZE'));
  return base + offset;
}

function flush(env: Env): { notify: boolean } {
  env.grants.execute(env.k, env.k.constant('RX_OPS_OFFSET'), env.rx.opCount());
  return env.rx.commit();
}

function packed(env: Env, address: number, len: number, meta: RxFrameMeta = {}): number {
  const r = env.rx.pack(address, len, meta);
  if (r.kind !== 'packed') throw new Error(`expected packed, got ${r.kind}`);
  return r.slots;
}

function counter(k: KernelInstance, name: string): bigint {
  return k.view.getBigUint64(k.constant('COUNTERS_OFFSET') + k.constant(`COUNTER_${name}`) * 8, true);
}

function qs(k: KernelInstance, field: string): number {
  return k.view.getUint32(k.constant('QUEUE_STATE_OFFSET') + k.constant(field), true);
}

function expectWhole(p: RxPacket | undefined, data: Uint8Array): RxPacket {
  expect(p).toBeDefined();
  expect(p!.error).toBeUndefined();
  expect(p!.data.length).toBe(data.length);
  expect(Buffer.compare(Buffer.from(p!.data), Buffer.from(data))).toBe(0);
  return p!;
}

describe('guest RX ring', () => {
  it('rx_commit_empty', async () => {
    const env = await setup();
    env.fe.post(4);
    const prod = env.fe.rspProd;
    expect(env.rx.commit()).toEqual({ notify: false });
    expect(env.fe.rspProd).toBe(prod);
    expect(counter(env.k, 'RX_RING_SLOTS')).toBe(0n);
    expect(env.fe.receive()).toEqual([]);
  });

  it('rx_pack_1req', async () => {
    const env = await setup();
    env.fe.post(1);
    const data = bytes(100);
    const address = putFrame(env.k, data);
    expect(packed(env, address, data.length)).toBe(1);
    const ops = env.rx.ops();
    expect(ops).toEqual([{ index: 0, gref: env.fe.grefAt(0), guestOffset: 0, len: 100, local: address, status: ops[0]!.status, toGuest: true }]);
    expect(ops[0]!.status).toBeLessThan(0); // not executed yet: must not read as okay
    expect(env.fe.rspProd).toBe(0); // nothing published before commit
    expect(flush(env).notify).toBe(true);
    const [p] = env.fe.receive();
    expectWhole(p, data);
    expect(p!.flags).toBe(0);
    expect(p!.slots.map((s) => [s.id, s.offset, s.status])).toEqual([[0, 0, 100]]);
    expect(env.fe.rspProd).toBe(1);
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(1);
    expect(qs(env.k, 'QS_RX_RSP_PROD_PVT')).toBe(1);
    expect(counter(env.k, 'RX_RING_PACKETS')).toBe(1n);
    expect(counter(env.k, 'RX_RING_BYTES')).toBe(100n);
    expect(counter(env.k, 'RX_RING_SLOTS')).toBe(1n);
  });

  it('rx_pack_2frames_one_batch', async () => {
    const env = await setup();
    env.fe.post(8);
    const a = bytes(1514);
    const b = bytes(5000);
    const addrA = putFrame(env.k, a, 0);
    const addrB = putFrame(env.k, b, 4096);
    expect(packed(env, addrA, a.length)).toBe(1);
    expect(packed(env, addrB, b.length)).toBe(2);
    expect(env.rx.opCount()).toBe(3);
    expect(env.rx.batchPackets()).toEqual([
      { firstIndex: 0, slots: 1, dataSlots: 1, len: 1514, firstOp: 0 },
      { firstIndex: 1, slots: 2, dataSlots: 2, len: 5000, firstOp: 1 },
    ]);
    expect(env.rx.ops().map((o) => [o.gref, o.len, o.local])).toEqual([
      [env.fe.grefAt(0), 1514, addrA],
      [env.fe.grefAt(1), 4096, addrB],
      [env.fe.grefAt(2), 904, addrB + 4096],
    ]);
    flush(env);
    const packets = env.fe.receive();
    expect(packets).toHaveLength(2);
    expectWhole(packets[0], a);
    const pb = expectWhole(packets[1], b);
    expect(pb.slots.map((s) => [s.index, s.flags, s.status])).toEqual([[1, NETRXF_MORE_DATA, 4096], [2, 0, 904]]);
    expect(env.rx.pendingRequests()).toBe(5);
    expect(counter(env.k, 'RX_RING_PACKETS')).toBe(2n);
    expect(counter(env.k, 'RX_RING_BYTES')).toBe(6514n);
    expect(counter(env.k, 'RX_RING_SLOTS')).toBe(3n);
    expect(env.rx.batchPackets()).toEqual([]); // the commit closed the batch
  });

  it('rx_pack_large_gso_frame', async () => {
    const env = await setup();
    env.fe.post(64);
    const len = 65535;
    const data = bytes(len);
    const address = putFrame(env.k, data);
    // ceil(65535 / 4096) = 16 data slots + 1 GSO extra
    expect(env.rx.slotsNeeded(len, { gsoType: 1 })).toBe(17);
    expect(packed(env, address, len, { gsoType: 1, gsoSize: 1448, checksum: 'partial' })).toBe(17);
    expect(env.rx.opCount()).toBe(16);
    flush(env);
    const [p] = env.fe.receive();
    expectWhole(p, data);
    expect(p!.slotCount).toBe(17);
    // first data slot at index 0, the extra at index 1, remaining data at 2..16
    expect(p!.slots.map((s) => s.index)).toEqual([0, ...Array.from({ length: 15 }, (_, i) => i + 2)]);
    expect(p!.extras.map((e) => [e.index, e.type, e.flags])).toEqual([[1, EXTRA_GSO, 0]]);
    p!.slots.forEach((s, i) => {
      const last = i === p!.slots.length - 1;
      expect(s.status).toBe(last ? len - 15 * 4096 : 4096);
      expect(s.offset).toBe(0);
      expect(s.id).toBe(s.index & 255); // the response sits in its request's slot
      const expected = (last ? 0 : NETRXF_MORE_DATA) | (i === 0 ? NETRXF_EXTRA_INFO | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED : 0);
      expect(s.flags, `slot ${i}`).toBe(expected);
    });
    const gso = p!.extras[0]!.raw;
    expect(gso[2]! | (gso[3]! << 8)).toBe(1448);
    expect(gso[4]).toBe(1);
    expect([gso[5], gso[6], gso[7]]).toEqual([0, 0, 0]);
  });

  it('rx_pack_extra_gso_hash_order', async () => {
    for (const meta of [
      { gsoType: 2, gsoSize: 1440 },
      { hash: { type: 3, value: 0xA1B2C3D4 } },
      { gsoType: 1, gsoSize: 536, hash: { type: 1, value: 0x01020304 } },
    ] as RxFrameMeta[]) {
      const env = await setup();
      env.fe.post(4);
      const data = bytes(600);
      const expectedExtras = (meta.gsoType ? 1 : 0) + (meta.hash ? 1 : 0);
      expect(packed(env, putFrame(env.k, data), data.length, meta)).toBe(1 + expectedExtras);
      flush(env);
      const [p] = env.fe.receive();
      expectWhole(p, data);
      // one data slot: EXTRA_INFO but no MORE_DATA
      expect(p!.flags).toBe(NETRXF_EXTRA_INFO);
      const types = p!.extras.map((e) => e.type);
      expect(types).toEqual([...(meta.gsoType ? [EXTRA_GSO] : []), ...(meta.hash ? [EXTRA_HASH] : [])]);
      p!.extras.forEach((e, i) => expect(e.flags).toBe(i < p!.extras.length - 1 ? EXTRA_FLAG_MORE : 0));
      for (const e of p!.extras) {
        if (e.type === EXTRA_GSO) {
          expect(e.raw[2]! | (e.raw[3]! << 8)).toBe(meta.gsoSize);
          expect(e.raw[4]).toBe(meta.gsoType);
        } else {
          expect(e.raw[2]).toBe(meta.hash!.type);
          expect(e.raw[3]).toBe(1); // Toeplitz
          expect(Array.from(e.raw.subarray(4, 8))).toEqual([0, 8, 16, 24].map((s) => (meta.hash!.value >>> s) & 0xff));
        }
      }
      expect(env.rx.slotsNeeded(600, meta)).toBe(1 + expectedExtras);
    }
  });

  it('rx_pack_nospace_then_more_posted', async () => {
    const env = await setup();
    env.fe.post(2);
    const data = bytes(9000); // 3 slots
    const address = putFrame(env.k, data);
    expect(env.rx.pack(address, data.length)).toEqual({ kind: 'no-space' });
    expect(env.fe.reqEvent).toBe(3); // req_prod + 1
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(0);
    expect(env.rx.pendingRequests()).toBe(2);
    expect(env.rx.opCount()).toBe(0);
    expect(env.rx.commit()).toEqual({ notify: false });
    expect(env.fe.rspProd).toBe(0);
    env.fe.post(1);
    expect(packed(env, address, data.length)).toBe(3);
    flush(env);
    expectWhole(env.fe.receive()[0], data);
  });

  it('rx_pack_partial_unpublished', async () => {
    const env = await setup();
    env.fe.post(1);
    env.fe.post(3, false); // written but req_prod not advanced
    const data = bytes(5000);
    const address = putFrame(env.k, data);
    expect(env.rx.pack(address, data.length)).toEqual({ kind: 'no-space' });
    expect(env.fe.reqEvent).toBe(2);
    env.fe.publish();
    expect(packed(env, address, data.length)).toBe(2);
  });

  it('rx_pack_wraps', async () => {
    const start = 0xFFFFFFF0;
    const env = await setup(start);
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(start);
    env.fe.post(40);
    const frames = [bytes(20000), bytes(30000), bytes(1500)];
    let offset = 0;
    for (const f of frames) {
      packed(env, putFrame(env.k, f, offset), f.length, { gsoType: 1, gsoSize: 1000 });
      offset += 32768;
    }
    flush(env);
    expect(env.fe.rspProd).toBe((start + 5 + 1 + 8 + 1 + 1 + 1) >>> 0);
    const packets = env.fe.receive();
    expect(packets).toHaveLength(3);
    packets.forEach((p, i) => expectWhole(p, frames[i]!));
    expect(env.fe.rspProd).toBeLessThan(start); // wrapped
  });

  it('rx_pack_invalid', async () => {
    const env = await setup();
    env.fe.post(8);
    const data = bytes(200);
    const address = putFrame(env.k, data);
    const drop = (r: ReturnType<RxRingKernel['pack']>): string => {
      if (r.kind !== 'dropped') throw new Error(`expected a drop, got ${r.kind}`);
      expect(r.error).toBeInstanceOf(PacketDropError);
      return r.error.code;
    };
    expect(drop(env.rx.pack(address, 0))).toBe('NETBACK_DROP_TOO_BIG');
    expect(drop(env.rx.pack(address, 65536))).toBe('NETBACK_DROP_TOO_BIG');
    expect(counter(env.k, 'RX_DROP_TOO_BIG')).toBe(2n);
    expect(drop(env.rx.pack(address, 200, { gsoType: 1, gsoSize: 0 }))).toBe('NETBACK_DROP_GSO_BAD_SIZE');
    const rxEnd = env.k.constant('RX_BUF_OFFSET') + env.k.constant('RX_BUF_SIZE');
    const usage = (fn: () => unknown): void => expect(fn).toThrow(KernelUsageError);
    usage(() => env.rx.pack(rxEnd - 100, 200)); // runs past RX_BUF (into SEG_BUF: not one region)
    usage(() => env.rx.pack(env.k.constant('TX_BUF_OFFSET'), 200));
    usage(() => env.rx.pack(env.k.constant('RX_RING_OFFSET'), 64));
    usage(() => env.rx.pack(0xFFFFFF00, 0x200));
    usage(() => env.rx.pack(address, 200, { gsoType: 3, gsoSize: 1000 }));
    usage(() => env.rx.pack(address, 200, { hash: { type: 4, value: 1 } }));
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(0);
    expect(env.rx.opCount()).toBe(0);
    // the other two regions are accepted
    const seg = env.k.constant('SEG_BUF_OFFSET');
    const scratch = env.k.constant('SCRATCH_OFFSET');
    expect(packed(env, seg + env.k.constant('SEG_BUF_SIZE') - 200, 200)).toBe(1);
    expect(packed(env, scratch, 200)).toBe(1);
  });

  it('rx_pack_too_many_slots_with_headroom', async () => {
    const env = await setup();
    env.fe.post(200);
    env.rx.setHeadroom(3000); // 1096 bytes per slot: 65535 needs 60 data slots > 18
    const r = env.rx.pack(putFrame(env.k, bytes(65535)), 65535);
    expect(r.kind).toBe('dropped');
    env.rx.setHeadroom(0x10000);
    expect(qs(env.k, 'QS_RX_XDP_HEADROOM')).toBe(0x7fff);
    expect(env.rx.pack(putFrame(env.k, bytes(10)), 10).kind).toBe('dropped');
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(0);
  });

  it('rx_commit_copyerror', async () => {
    const env = await setup();
    env.fe.post(4);
    const data = bytes(10000); // 3 data slots
    packed(env, putFrame(env.k, data), data.length);
    env.grants.failOps.set(1, GNTST_BAD_GNTREF);
    flush(env);
    const r = [0, 1, 2].map((i) => env.fe.response(i));
    expect(r.map((s) => s.status)).toEqual([4096, GNTST_BAD_GNTREF, 10000 - 8192]);
    expect(r.map((s) => s.flags)).toEqual([NETRXF_MORE_DATA, NETRXF_MORE_DATA, 0]);
    const [p] = env.fe.receive();
    expect(p!.error).toMatch(/status -3/);
    expect(counter(env.k, 'RX_COPY_ERRORS')).toBe(1n);
    expect(env.fe.rspProd).toBe(3);
  });

  it('rx_commit_unexecuted_ops_fail', async () => {
    const env = await setup();
    env.fe.post(1);
    packed(env, putFrame(env.k, bytes(64)), 64);
    env.rx.commit(); // the host forgot to run the plan
    expect(env.fe.response(0).status).toBeLessThan(0);
  });

  it('rx_pack_csum_flags', async () => {
    const cases: [RxFrameMeta['checksum'], number][] = [
      ['none', 0],
      ['partial', NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED],
      ['validated', NETRXF_DATA_VALIDATED],
    ];
    for (const [checksum, flags] of cases) {
      const env = await setup();
      env.fe.post(2);
      const data = bytes(5000);
      packed(env, putFrame(env.k, data), data.length, { checksum });
      flush(env);
      const [p] = env.fe.receive();
      expectWhole(p, data);
      expect(p!.slots.map((s) => s.flags)).toEqual([flags | NETRXF_MORE_DATA, 0]);
    }
  });

  it('rx_pack_headroom', async () => {
    const env = await setup();
    env.fe.post(8);
    env.rx.setHeadroom(256);
    const data = bytes(9000); // 3840 bytes per slot: 3 data slots
    expect(env.rx.slotsNeeded(9000, { gsoType: 1, hash: { type: 0, value: 7 } })).toBe(5); // Linux's count ignores XDP
    expect(packed(env, putFrame(env.k, data), data.length, { gsoType: 1, gsoSize: 1200, hash: { type: 0, value: 7 } })).toBe(6);
    expect(env.rx.ops().map((o) => [o.guestOffset, o.len])).toEqual([[256, 3840], [256, 3840], [256, 1320]]);
    flush(env);
    const [p] = env.fe.receive();
    expectWhole(p, data);
    expect(p!.extras.map((e) => [e.index, e.type, e.flags])).toEqual([[1, EXTRA_GSO, 1], [2, EXTRA_HASH, 1], [3, EXTRA_XDP, 0]]);
    const xdp = p!.extras[2]!.raw;
    expect(xdp[2]! | (xdp[3]! << 8)).toBe(256);
    expect(Array.from(xdp.subarray(4))).toEqual([0, 0, 0, 0]);
    // status is the fill offset: headroom + bytes; offset stays 0
    expect(p!.slots.map((s) => [s.index, s.offset, s.status])).toEqual([[0, 0, 4096], [4, 0, 4096], [5, 0, 256 + 1320]]);
    // the headroom bytes of the guest pages are left untouched
    expect(env.grants.page(env.fe.grefAt(0)).subarray(0, 256).every((b) => b === 0xee)).toBe(true);
    // a re-attach (reconnect) starts without headroom
    env.rx.attach();
    expect(qs(env.k, 'QS_RX_XDP_HEADROOM')).toBe(0);
  });

  it('rx_attach_refuses_inconsistent_ring', async () => {
    const env = await setup(100);
    env.fe.post(3);
    packed(env, putFrame(env.k, bytes(64)), 64);
    flush(env);
    const before = [qs(env.k, 'QS_RX_REQ_CONS'), qs(env.k, 'QS_RX_RSP_PROD_PVT')];
    const ring = env.k.constant('RX_RING_OFFSET');
    env.k.view.setUint32(ring, env.fe.rspProd + 257, true);
    expect(() => env.rx.attach()).toThrow(FrontendFatalError);
    expect([qs(env.k, 'QS_RX_REQ_CONS'), qs(env.k, 'QS_RX_RSP_PROD_PVT')]).toEqual(before);
    expect(qs(env.k, 'QS_FLAGS')).toBe(0); // attach refuses, it does not disable
    // exactly a full ring is fine; attach takes rsp_prod
    env.k.view.setUint32(ring, env.fe.rspProd + 256, true);
    env.rx.attach();
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(101);
    expect(qs(env.k, 'QS_RX_RSP_PROD_PVT')).toBe(101);
    expect(env.rx.pendingRequests()).toBe(256);
    env.k.view.setUint32(ring, 101 + 1000, true); // hostile producer: clamped
    expect(env.rx.pendingRequests()).toBe(256);
  });

  it('rx_commit_notify_rule', async () => {
    const env = await setup();
    env.fe.post(10);
    const address = putFrame(env.k, bytes(100));
    // rsp_event = 1 (front init) lies in (0, 1]
    packed(env, address, 100);
    expect(flush(env).notify).toBe(true);
    // frontend asks to be woken only at response 5
    env.fe.rspEvent = 5;
    packed(env, address, 100);
    packed(env, address, 100);
    expect(flush(env).notify).toBe(false); // (1, 3] does not contain 5
    packed(env, address, 100);
    packed(env, address, 100);
    expect(flush(env).notify).toBe(true); // (3, 5] contains 5
    packed(env, address, 100);
    expect(flush(env).notify).toBe(false); // 5 already passed
    expect(env.fe.receive()).toHaveLength(6);
  });

  it('rx_pack_batch_bounded_by_ring', async () => {
    const env = await setup();
    env.fe.post(256);
    const address = putFrame(env.k, bytes(100));
    // 128 frames of one data slot + a GSO extra: 256 slots but only 128 ops
    for (let i = 0; i < 128; i++) packed(env, address, 100, { gsoType: 1, gsoSize: 50 });
    expect(env.rx.opCount()).toBe(128);
    env.fe.receive(); // nothing published yet
    env.fe.post(4); // the frontend cannot really post into unanswered slots, but a hostile one may publish anyway
    expect(env.rx.pack(address, 100)).toEqual({ kind: 'no-space' });
    flush(env);
    expect(env.fe.receive()).toHaveLength(128);
    expect(packed(env, address, 100)).toBe(1);
  });

  it('rx_pack_disabled_queue', async () => {
    const env = await setup();
    env.fe.post(2);
    env.k.view.setUint32(env.k.constant('QUEUE_STATE_OFFSET') + env.k.constant('QS_FLAGS'), env.k.constant('QS_FLAG_DISABLED'), true);
    expect(() => env.rx.pack(putFrame(env.k, bytes(64)), 64)).toThrow(FrontendFatalError);
    expect(qs(env.k, 'QS_RX_REQ_CONS')).toBe(0);
  });

  it('rx_slots_needed', async () => {
    const env = await setup();
    expect(env.rx.slotsNeeded(1)).toBe(1);
    expect(env.rx.slotsNeeded(4096)).toBe(1);
    expect(env.rx.slotsNeeded(4097)).toBe(2);
    expect(env.rx.slotsNeeded(65535, { gsoType: 2, hash: { type: 3, value: 0 } })).toBe(18);
  });

  it('rx_pack_debug_build_no_assertion', async () => {
    const env = await setup(0xFFFFFF00, 'debug');
    env.fe.post(60);
    env.rx.setHeadroom(128);
    const frames = [bytes(65535), bytes(1), bytes(4096)];
    let offset = 0;
    for (const f of frames) {
      packed(env, putFrame(env.k, f, offset), f.length, { gsoType: 2, gsoSize: 1400, checksum: 'partial', hash: { type: 2, value: 5 } });
      offset += 65536;
    }
    env.grants.failOps.set(3, -10);
    flush(env);
    const packets = env.fe.receive();
    expect(packets).toHaveLength(3);
    expect(packets[0]!.error).toBeDefined();
    expectWhole(packets[1], frames[1]!);
    expectWhole(packets[2], frames[2]!);
  });

  it('bench_rx_pack_runs', async () => {
    const env = await setup();
    const address = putFrame(env.k, bytes(65535));
    expect(env.k.fn('bench_rx_pack')(address, 65535, 3)).toBe(3 * 16);
  });
});
