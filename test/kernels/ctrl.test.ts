// Control ring and hashing kernels (assembly/netif/ctrl.ts) against a test frontend writing the
// ring page in place. Expected answers are Linux netback's, derived by hand from hash.c and
// netback.c process_ctrl_request (netif-protocol.md §7.2); hashes against Microsoft's RSS
// verification vectors and the plain reference Toeplitz (test/reference/toeplitz.ts).

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels, type KernelBuild } from '../../src/wasm/node-source.js';
import { FrontendFatalError, KernelUsageError } from '../../src/wasm/errors.js';
import { CtrlRingKernel } from '../../src/wasm/ctrl-ring.js';
import { GrantPages, GNTST_BAD_GNTREF } from '../support/grant-pages.js';
import { buildFrame, pseudoRandomBytes, type FrameSpec } from '../reference/frames.js';
import { be16, ipv4Bytes as ipv4, ipv6Bytes as ipv6, MS_RSS_KEY as MS_KEY, RSS_IPV4 as IPV4, RSS_IPV6 as IPV6 } from '../reference/rss-vectors.js';
import { toeplitzReference } from '../reference/toeplitz.js';

// netif.h values, written here from the header rather than read from the module under test.
const T = { INVALID: 0, GET_FLAGS: 1, SET_FLAGS: 2, SET_KEY: 3, GET_MAP_SIZE: 4, SET_MAP_SIZE: 5, SET_MAP: 6, SET_ALG: 7, GET_GREF_SIZE: 8, ADD_GREF: 9, DEL_GREF: 10 };
const S = { SUCCESS: 0, NOT_SUPPORTED: 1, INVALID: 2 };
const TOEPLITZ = 1;
const RING_SLOTS = 128;

/** A frame of `spec` with the given addresses and (for TCP/UDP) ports written in. */
function flowFrame(spec: FrameSpec, src: number[], dst: number[], sport: number, dport: number): Uint8Array {
  const built = buildFrame(spec);
  const f = built.frame;
  if (spec.ip === 4) {
    f.set(src, built.l3 + 12);
    f.set(dst, built.l3 + 16);
  } else {
    f.set(src, built.l3 + 8);
    f.set(dst, built.l3 + 24);
  }
  if (spec.l4 === 'tcp' || spec.l4 === 'udp') f.set([...be16(sport), ...be16(dport)], built.l4);
  return f;
}

const modules = new Map<KernelBuild, WebAssembly.Module>();
beforeAll(async () => {
  for (const build of ['release', 'debug'] as const) modules.set(build, await compileKernels(await readKernels(build)));
});

interface Rsp { id: number; type: number; status: number; data: number }

/** A frontend writing the ring page at CTRL_RING_OFFSET of the instance, and the host loop. */
class Env {
  readonly ring: number;
  readonly ctrl: CtrlRingKernel;
  readonly grants = new GrantPages();
  reqProd: number;
  rspCons: number;
  notifies = 0;
  /** Runs between planning and executing a copy (a frontend rewriting its slot meanwhile). */
  beforeCopy: (() => void) | undefined;
  private nextId = 100;
  private nextGref = 1000;

  constructor(readonly k: KernelInstance, start: number) {
    this.ring = k.constant('CTRL_RING_OFFSET');
    this.ctrl = new CtrlRingKernel(k);
    const v = k.view;
    v.setUint32(this.ring, start, true); // req_prod
    v.setUint32(this.ring + 4, start + 1, true); // req_event
    v.setUint32(this.ring + 8, start, true); // rsp_prod
    v.setUint32(this.ring + 12, start + 1, true); // rsp_event
    this.reqProd = start >>> 0;
    this.rspCons = start >>> 0;
  }

  slot(index: number): number {
    return this.ring + 64 + ((index >>> 0) % RING_SLOTS) * 16;
  }

  /** Writes one request (unpublished); returns its id. */
  write(type: number, d0 = 0, d1 = 0, d2 = 0): number {
    const id = this.nextId++ & 0xffff;
    const v = this.k.view;
    const at = this.slot(this.reqProd);
    v.setUint16(at, id, true);
    v.setUint16(at + 2, type, true);
    v.setUint32(at + 4, d0 >>> 0, true);
    v.setUint32(at + 8, d1 >>> 0, true);
    v.setUint32(at + 12, d2 >>> 0, true);
    this.reqProd = (this.reqProd + 1) >>> 0;
    return id;
  }

  publish(): void {
    this.k.view.setUint32(this.ring, this.reqProd, true);
  }

  /** A granted page holding `bytes`; returns its gref. */
  page(bytes: Uint8Array): number {
    const gref = this.nextGref++;
    this.grants.page(gref).set(bytes);
    return gref;
  }

  mappingPage(entries: number[]): number {
    const bytes = new Uint8Array(entries.length * 4);
    entries.forEach((e, i) => new DataView(bytes.buffer).setUint32(i * 4, e >>> 0, true));
    return this.page(bytes);
  }

  /** The host loop of EngineDataPath.serveCtrl, unbounded. */
  serve(): void {
    for (;;) {
      let step = this.ctrl.process();
      if (step.notify) this.notifies++;
      if (step.copy) {
        this.beforeCopy?.();
        this.grants.execute(this.k, this.ctrl.opAddress, 1);
        step = this.ctrl.commit();
        if (step.notify) this.notifies++;
        continue;
      }
      if (!step.more) return;
    }
  }

  /** Every response since the last call (the frontend's consumer). */
  responses(): Rsp[] {
    const v = this.k.view;
    const prod = v.getUint32(this.ring + 8, true);
    const out: Rsp[] = [];
    while (this.rspCons !== prod) {
      const at = this.slot(this.rspCons);
      out.push({ id: v.getUint16(at, true), type: v.getUint16(at + 2, true), status: v.getUint32(at + 4, true), data: v.getUint32(at + 8, true) });
      this.rspCons = (this.rspCons + 1) >>> 0;
    }
    return out;
  }

  /** One request, served; its response. */
  ask(type: number, d0 = 0, d1 = 0, d2 = 0): Rsp {
    const id = this.write(type, d0, d1, d2);
    this.publish();
    this.serve();
    const rsps = this.responses();
    expect(rsps).toHaveLength(1);
    expect(rsps[0]!.id).toBe(id);
    expect(rsps[0]!.type).toBe(type);
    return rsps[0]!;
  }

  /** Algorithm, flags and key through the ring. */
  configure(flags: number, key: Uint8Array = MS_KEY): void {
    expect(this.ask(T.SET_ALG, TOEPLITZ).status).toBe(S.SUCCESS);
    expect(this.ask(T.SET_FLAGS, flags).status).toBe(S.SUCCESS);
    expect(this.ask(T.SET_KEY, this.page(key), key.length).status).toBe(S.SUCCESS);
  }

  counter(name: string): number {
    return Number(this.k.view.getBigUint64(this.k.constant('COUNTERS_OFFSET') + this.k.constant(name) * 8, true));
  }

  /** Writes a frame into RX_BUF and hashes it there. */
  hash(frame: Uint8Array): { type: number; value: number } | undefined {
    const base = this.k.constant('RX_BUF_OFFSET');
    this.k.write(base, frame, base, this.k.constant('RX_BUF_SIZE'));
    return this.ctrl.hashAt(base, frame.length);
  }
}

async function setup(opts: { start?: number; queues?: number; build?: KernelBuild } = {}): Promise<Env> {
  const k = await instantiateKernels(modules.get(opts.build ?? 'release')!);
  const env = new Env(k, opts.start ?? 0);
  env.ctrl.attach(opts.queues ?? 4);
  return env;
}

describe('control ring', () => {
  it('ctrl_state_layout', async () => {
    // the CTRL_STATE sub-areas, by their sizes from netif.h / common.h, lie apart inside one page
    const k = await instantiateKernels(modules.get('release')!);
    const areas = [
      ['CTRL_OP', 16], ['CTRL_KEY_STAGE', 40], ['CTRL_KEY', 40], ['CTRL_MAPPING', 2 * 128 * 4], ['CTRL_HASH_INPUT', 36],
    ].map(([name, size]) => [k.constant(name as string), size as number] as const).sort((a, b) => a[0] - b[0]);
    areas.forEach(([start, size], i) => {
      const next = areas[i + 1];
      expect(start + size).toBeLessThanOrEqual(next === undefined ? k.constant('CTRL_STATE_SIZE') : next[0]);
    });
    expect(k.constant('CTRL_MAPPING_STRIDE')).toBe(128 * 4);
    // the queue-state fields stay in the control ring's range 0x300-0x3FF
    for (const name of ['QS_CTRL_REQ_CONS', 'QS_CTRL_REQ', 'QS_CTRL_ATTACHED', 'QS_CTRL_HASH_VALUE']) {
      expect(k.constant(name)).toBeGreaterThanOrEqual(0x300);
      expect(k.constant(name)).toBeLessThan(0x400);
    }
  });

  it('ctrl_attach_inconsistent', async () => {
    const k = await instantiateKernels(modules.get('release')!);
    const env = new Env(k, 5);
    env.k.view.setUint32(env.ring, 5 + RING_SLOTS + 1, true);
    expect(() => env.ctrl.attach(2)).toThrow(FrontendFatalError);
    env.k.view.setUint32(env.ring, 5 + RING_SLOTS, true);
    expect(() => env.ctrl.attach(2)).not.toThrow();
    expect(() => env.ctrl.attach(0)).toThrow(KernelUsageError);
  });

  it('ctrl_set_hash_algorithm', async () => {
    const env = await setup();
    expect(env.ctrl.algorithm).toBe(0);
    expect(env.ask(T.SET_ALG, TOEPLITZ).status).toBe(S.SUCCESS);
    expect(env.ctrl.algorithm).toBe(TOEPLITZ);
    expect(env.ask(T.SET_ALG, 2).status).toBe(S.INVALID);
    expect(env.ask(T.SET_ALG, 0xffffffff).status).toBe(S.INVALID);
    expect(env.ctrl.algorithm).toBe(TOEPLITZ); // unchanged by a rejected request
    expect(env.ask(T.SET_ALG, 0).status).toBe(S.SUCCESS);
    expect(env.ctrl.algorithm).toBe(0);
  });

  it('ctrl_get_hash_flags', async () => {
    const env = await setup();
    const none = env.ask(T.GET_FLAGS);
    expect(none).toMatchObject({ status: S.NOT_SUPPORTED, data: 0 });
    env.ask(T.SET_ALG, TOEPLITZ);
    env.ask(T.SET_FLAGS, 0x1);
    // Linux offers every type whatever is enabled
    expect(env.ask(T.GET_FLAGS)).toMatchObject({ status: S.SUCCESS, data: 0xf });
  });

  it('ctrl_set_hash_flags', async () => {
    const env = await setup();
    expect(env.ask(T.SET_FLAGS, 0x1).status).toBe(S.INVALID); // no algorithm
    expect(env.ask(T.SET_FLAGS, 0x10).status).toBe(S.INVALID);
    env.ask(T.SET_ALG, TOEPLITZ);
    expect(env.ask(T.SET_FLAGS, 0x10).status).toBe(S.INVALID);
    expect(env.ask(T.SET_FLAGS, 0x80000005).status).toBe(S.INVALID);
    expect(env.ctrl.flags).toBe(0);
    expect(env.ask(T.SET_FLAGS, 0x5).status).toBe(S.SUCCESS);
    expect(env.ctrl.flags).toBe(0x5);
    expect(env.ask(T.SET_FLAGS, 0).status).toBe(S.SUCCESS);
    expect(env.ctrl.flags).toBe(0);
  });

  it('ctrl_set_hash_key', async () => {
    const env = await setup();
    expect(env.ask(T.SET_KEY, env.page(MS_KEY), 40).status).toBe(S.SUCCESS);
    expect(Array.from(env.ctrl.key())).toEqual(Array.from(MS_KEY));
    // a shorter key: its tail is zeroed
    const short = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(env.ask(T.SET_KEY, env.page(short), 10).status).toBe(S.SUCCESS);
    expect(Array.from(env.ctrl.key())).toEqual([...short, ...new Array<number>(30).fill(0)]);
    // netif.h says BUFFER_OVERFLOW for too long; Linux answers INVALID_PARAMETER
    expect(env.ask(T.SET_KEY, env.page(MS_KEY), 41).status).toBe(S.INVALID);
    expect(Array.from(env.ctrl.key().subarray(0, 10))).toEqual(Array.from(short));
    // length 0: no copy, the whole key zeroed
    expect(env.ask(T.SET_KEY, 0xdead, 0).status).toBe(S.SUCCESS);
    expect(Array.from(env.ctrl.key())).toEqual(new Array<number>(40).fill(0));
  });

  it('ctrl_set_hash_key_copyerror', async () => {
    const env = await setup();
    env.ask(T.SET_KEY, env.page(MS_KEY), 40);
    expect(env.ask(T.SET_KEY, 77777, 40).status).toBe(S.INVALID); // unknown gref
    env.grants.failOps.set(0, GNTST_BAD_GNTREF);
    expect(env.ask(T.SET_KEY, env.page(new Uint8Array(40).fill(9)), 40).status).toBe(S.INVALID);
    expect(Array.from(env.ctrl.key())).toEqual(Array.from(MS_KEY));
    expect(env.counter('COUNTER_CTRL_REJECTED')).toBe(2);
  });

  it('ctrl_get_hash_mapping_size', async () => {
    const env = await setup();
    expect(env.ask(T.GET_MAP_SIZE)).toMatchObject({ status: S.SUCCESS, data: 128 });
  });

  it('ctrl_set_hash_mapping_size', async () => {
    const env = await setup();
    expect(env.ask(T.SET_MAP_SIZE, 129).status).toBe(S.INVALID);
    expect(env.ctrl.mappingSize).toBe(0);
    expect(env.ask(T.SET_MAP_SIZE, 128).status).toBe(S.SUCCESS);
    expect(env.ctrl.mappingSize).toBe(128);
    expect(env.ask(T.SET_MAP_SIZE, 4).status).toBe(S.SUCCESS);
    expect(env.ask(T.SET_MAP, env.mappingPage([1, 2, 3, 1]), 4, 0).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([1, 2, 3, 1]);
    // a new size starts with a zero-filled table
    expect(env.ask(T.SET_MAP_SIZE, 4).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([0, 0, 0, 0]);
  });

  it('ctrl_set_hash_mapping', async () => {
    const env = await setup({ queues: 4 });
    env.ask(T.SET_MAP_SIZE, 8);
    expect(env.ask(T.SET_MAP, env.mappingPage([3, 2, 1, 0, 3, 2, 1, 0]), 8, 0).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([3, 2, 1, 0, 3, 2, 1, 0]);
    // a partial update keeps the other entries (copied over from the active half)
    expect(env.ask(T.SET_MAP, env.mappingPage([1, 1]), 2, 5).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([3, 2, 1, 0, 3, 1, 1, 0]);
    // a second partial update after the flip still starts from the current table
    expect(env.ask(T.SET_MAP, env.mappingPage([2]), 1, 0).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([2, 2, 1, 0, 3, 1, 1, 0]);
    expect(env.ask(T.SET_MAP, 0xdead, 0, 8).status).toBe(S.SUCCESS); // len 0 at the end: nothing to copy
  });

  it('ctrl_set_hash_mapping_invalid', async () => {
    const env = await setup({ queues: 4 });
    env.ask(T.SET_MAP_SIZE, 8);
    env.ask(T.SET_MAP, env.mappingPage([0, 1, 2, 3, 0, 1, 2, 3]), 8, 0);
    const before = env.ctrl.mapping();
    const gref = env.mappingPage([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(env.ask(T.SET_MAP, gref, 9, 0).status).toBe(S.INVALID);         // off + len > size
    expect(env.ask(T.SET_MAP, gref, 1, 8).status).toBe(S.INVALID);         // off = size
    expect(env.ask(T.SET_MAP, gref, 2, 0xffffffff).status).toBe(S.INVALID); // off + len wraps
    expect(env.ask(T.SET_MAP, gref, 0xffffffff, 2).status).toBe(S.INVALID); // len + off wraps
    expect(env.ask(T.SET_MAP, gref, 1025, 0).status).toBe(S.INVALID);      // len > 1024
    // an entry naming a queue that does not exist: the active table stays as it was (XSA-270)
    expect(env.ask(T.SET_MAP, env.mappingPage([1, 4, 1]), 3, 2).status).toBe(S.INVALID);
    expect(env.ctrl.mapping()).toEqual(before);
    expect(env.ask(T.SET_MAP, env.mappingPage([0xffffffff]), 1, 0).status).toBe(S.INVALID);
    expect(env.ctrl.mapping()).toEqual(before);
    // a failed copy
    expect(env.ask(T.SET_MAP, 55555, 2, 0).status).toBe(S.INVALID);
    expect(env.ctrl.mapping()).toEqual(before);
    // and a good one afterwards is applied on top of the unchanged table
    expect(env.ask(T.SET_MAP, env.mappingPage([3]), 1, 7).status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([...before.slice(0, 7), 3]);
  });

  it('ctrl_set_hash_mapping_copy_goes_to_inactive_half', async () => {
    const env = await setup({ queues: 2 });
    env.ask(T.SET_MAP_SIZE, 4);
    env.ask(T.SET_MAP, env.mappingPage([1, 1, 1, 1]), 4, 0);
    // while the copy is in flight, queue selection still sees the old table
    let seen: number[] = [];
    env.beforeCopy = () => {
      seen = [0, 1, 2, 3].map((h) => env.ctrl.selectQueue(h, 2));
    };
    env.ask(T.SET_MAP, env.mappingPage([0, 0, 0, 0]), 4, 0);
    expect(seen).toEqual([1, 1, 1, 1]);
    expect([0, 1, 2, 3].map((h) => env.ctrl.selectQueue(h, 2))).toEqual([0, 0, 0, 0]);
  });

  it('ctrl_gref_mapping_not_supported', async () => {
    const env = await setup();
    for (const type of [T.GET_GREF_SIZE, T.ADD_GREF, T.DEL_GREF, T.INVALID, 11, 0xffff]) {
      expect(env.ask(type, 1, 2, 3), `type ${type}`).toMatchObject({ status: S.NOT_SUPPORTED, data: 0 });
    }
  });

  it('ctrl_copy_once', async () => {
    const env = await setup({ queues: 4 });
    // the frontend rewrites its SET_HASH_KEY slot during the copy: the request copy rules
    const short = Uint8Array.from([0xaa, 0xbb, 0xcc, 0xdd]);
    const key = Uint8Array.from([...short, ...new Array<number>(36).fill(0xee)]);
    const id = env.write(T.SET_KEY, env.page(key), 4);
    env.publish();
    const slot = env.slot(env.reqProd - 1);
    env.beforeCopy = () => {
      env.k.view.setUint32(slot + 8, 40, true);
      env.k.view.setUint16(slot, 0x7777, true);
    };
    env.serve();
    const [rsp] = env.responses();
    expect(rsp).toMatchObject({ id, type: T.SET_KEY, status: S.SUCCESS });
    expect(Array.from(env.ctrl.key())).toEqual([...short, ...new Array<number>(36).fill(0)]);
    // the same for SET_HASH_MAPPING: offset and length come from the copy
    env.beforeCopy = undefined;
    env.ask(T.SET_MAP_SIZE, 4);
    env.write(T.SET_MAP, env.mappingPage([3, 3, 3, 3]), 1, 0);
    env.publish();
    const mapSlot = env.slot(env.reqProd - 1);
    env.beforeCopy = () => {
      env.k.view.setUint32(mapSlot + 8, 4, true);
      env.k.view.setUint32(mapSlot + 12, 3, true);
    };
    env.serve();
    expect(env.responses()[0]!.status).toBe(S.SUCCESS);
    expect(env.ctrl.mapping()).toEqual([3, 0, 0, 0]);
  });

  it('ctrl_one_response_per_request', async () => {
    const env = await setup({ queues: 2 });
    const ids = [
      env.write(T.SET_ALG, TOEPLITZ),
      env.write(T.GET_FLAGS),
      env.write(T.SET_KEY, env.page(MS_KEY), 40),
      env.write(T.SET_FLAGS, 0xf),
      env.write(T.SET_MAP_SIZE, 2),
      env.write(T.SET_MAP, env.mappingPage([1, 0]), 2, 0),
      env.write(T.ADD_GREF),
      env.write(T.GET_MAP_SIZE),
      env.write(T.SET_KEY, env.page(MS_KEY), 41),
    ];
    env.publish();
    env.serve();
    const rsps = env.responses();
    expect(rsps.map((r) => r.id)).toEqual(ids);
    expect(rsps.map((r) => r.status)).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 2]);
    expect(rsps.map((r) => r.data)).toEqual([0, 0xf, 0, 0, 0, 0, 0, 128, 0]);
    expect(env.ctrl.mapping()).toEqual([1, 0]);
    expect(env.counter('COUNTER_CTRL_REQUESTS')).toBe(9);
    expect(env.counter('COUNTER_CTRL_REJECTED')).toBe(2);
    // req_event asks for the next request (see: netback.c xenvif_ctrl_action)
    expect(env.k.view.getUint32(env.ring + 4, true)).toBe(env.reqProd + 1);
    expect(env.ctrl.process()).toEqual({ copy: false, notify: false, more: false });
  });

  it('ctrl_wraps', async () => {
    const env = await setup({ start: 0xffffffff - 60, queues: 3 });
    env.ask(T.SET_MAP_SIZE, 3);
    let expected: number[] = [];
    for (let round = 0; round < 3; round++) {
      const ids: number[] = [];
      for (let i = 0; i < RING_SLOTS; i++) {
        if (i % 40 === 7) ids.push(env.write(T.SET_MAP, env.mappingPage([i % 3]), 1, i % 3));
        else ids.push(env.write(T.GET_MAP_SIZE));
      }
      env.publish();
      env.serve();
      const rsps = env.responses();
      expect(rsps.map((r) => r.id)).toEqual(ids);
      expect(rsps.every((r) => r.status === S.SUCCESS)).toBe(true);
      expected = [0, 1, 2];
    }
    expect(env.ctrl.mapping()).toEqual(expected);
    expect(env.rspCons).toBe((0xffffffff - 60 + 1 + 3 * RING_SLOTS) >>> 0);
  });

  it('ctrl_notify', async () => {
    const env = await setup();
    // the frontend waits for the response (rsp_event = rsp_cons + 1): one notify
    env.ask(T.GET_MAP_SIZE);
    expect(env.notifies).toBe(1);
    // a frontend polling without arming rsp_event gets no event
    env.k.view.setUint32(env.ring + 12, env.rspCons + 1000, true);
    env.ask(T.GET_MAP_SIZE);
    env.ask(T.SET_KEY, env.page(MS_KEY), 40);
    expect(env.notifies).toBe(1);
    // armed again: the response of a two-phase request (pushed by commit) notifies
    env.k.view.setUint32(env.ring + 12, env.rspCons + 1, true);
    env.ask(T.SET_KEY, env.page(MS_KEY), 40);
    expect(env.notifies).toBe(2);
  });

  it('ctrl_overflow_bounded', async () => {
    const env = await setup();
    // a hostile producer index more than a ring ahead is fatal before anything is answered
    // (it used to be answered a ring's worth per call, for ever: found by fuzz_ctrl)
    env.k.view.setUint32(env.ring, 1000, true);
    expect(() => env.ctrl.process()).toThrow(FrontendFatalError);
    expect(env.ctrl.reqCons).toBe(0);
    expect(env.responses()).toHaveLength(0);
  });

  it('ctrl_bad_state', async () => {
    const env = await setup();
    expect(() => env.ctrl.commit()).toThrow(KernelUsageError);
    env.write(T.SET_KEY, env.page(MS_KEY), 40);
    env.publish();
    expect(env.ctrl.process().copy).toBe(true);
    expect(() => env.ctrl.process()).toThrow(KernelUsageError);
    env.grants.execute(env.k, env.ctrl.opAddress, 1);
    env.ctrl.commit();
    expect(env.responses()).toHaveLength(1);
    const fresh = await instantiateKernels(modules.get('release')!);
    expect(() => new CtrlRingKernel(fresh).process()).toThrow(KernelUsageError);
  });

  it('ctrl_debug_build', async () => {
    const env = await setup({ build: 'debug', queues: 2 });
    env.configure(0xf);
    env.ask(T.SET_MAP_SIZE, 2);
    expect(env.ask(T.SET_MAP, env.mappingPage([1, 0]), 2, 0).status).toBe(S.SUCCESS);
    const [dst, dport, src, sport, , tcp] = IPV4[0]!;
    expect(env.hash(flowFrame({ ip: 4, l4: 'tcp', payload: 10 }, ipv4(src), ipv4(dst), sport, dport))).toEqual({ type: 1, value: tcp });
  });
});

describe('flow hash', () => {
  it('flow_hash_ms_ipv4', async () => {
    const env = await setup();
    env.configure(0x1);
    for (const [dst, dport, src, sport, ipOnly] of IPV4) {
      for (const l4 of ['tcp', 'udp', 1] as const) {
        expect(env.hash(flowFrame({ ip: 4, l4, payload: 20 }, ipv4(src), ipv4(dst), sport, dport)), `${src} ${l4}`).toEqual({ type: 0, value: ipOnly });
      }
    }
  });

  it('flow_hash_ms_ipv4_tcp', async () => {
    const env = await setup();
    env.configure(0x3);
    for (const [dst, dport, src, sport, ipOnly, ipTcp] of IPV4) {
      expect(env.hash(flowFrame({ ip: 4, l4: 'tcp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport))).toEqual({ type: 1, value: ipTcp });
      // not TCP: the maximal enabled type is the plain one
      expect(env.hash(flowFrame({ ip: 4, l4: 'udp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport))).toEqual({ type: 0, value: ipOnly });
    }
  });

  it('flow_hash_ms_ipv6', async () => {
    const env = await setup();
    env.configure(0x4);
    for (const [dst, dport, src, sport, ipOnly] of IPV6) {
      expect(env.hash(flowFrame({ ip: 6, l4: 'tcp', payload: 20 }, ipv6(src), ipv6(dst), sport, dport))).toEqual({ type: 2, value: ipOnly });
    }
  });

  it('flow_hash_ms_ipv6_tcp', async () => {
    const env = await setup();
    env.configure(0xc);
    for (const [dst, dport, src, sport, ipOnly, ipTcp] of IPV6) {
      expect(env.hash(flowFrame({ ip: 6, l4: 'tcp', payload: 20 }, ipv6(src), ipv6(dst), sport, dport))).toEqual({ type: 3, value: ipTcp });
      expect(env.hash(flowFrame({ ip: 6, l4: 'udp', payload: 20 }, ipv6(src), ipv6(dst), sport, dport))).toEqual({ type: 2, value: ipOnly });
    }
  });

  it('flow_hash_only_enabled_types', async () => {
    const env = await setup();
    const [dst, dport, src, sport, , ipTcp] = IPV4[1]!;
    const tcp4 = flowFrame({ ip: 4, l4: 'tcp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport);
    const udp4 = flowFrame({ ip: 4, l4: 'udp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport);
    const [dst6, dport6, src6, sport6] = IPV6[0]!;
    const tcp6 = flowFrame({ ip: 6, l4: 'tcp', payload: 20 }, ipv6(src6), ipv6(dst6), sport6, dport6);
    expect(env.hash(tcp4)).toBeUndefined(); // no algorithm
    env.configure(0x2);
    expect(env.hash(tcp4)).toEqual({ type: 1, value: ipTcp });
    expect(env.hash(udp4)).toBeUndefined(); // TCP-only hashing, UDP frame
    expect(env.hash(tcp6)).toBeUndefined(); // no IPv6 type enabled
    env.ask(T.SET_FLAGS, 0);
    expect(env.hash(tcp4)).toBeUndefined();
    expect(env.hash(Uint8Array.from([...new Array<number>(12).fill(1), 0x08, 0x06, ...new Array<number>(28).fill(0)]))).toBeUndefined(); // ARP
  });

  it('flow_hash_fragment_l3', async () => {
    const env = await setup();
    env.configure(0xf);
    const [dst, dport, src, sport, ipOnly] = IPV4[2]!;
    expect(env.hash(flowFrame({ ip: 4, l4: 'tcp', payload: 20, fragment: true }, ipv4(src), ipv4(dst), sport, dport))).toEqual({ type: 0, value: ipOnly });
    const [dst6, dport6, src6, sport6, ipOnly6] = IPV6[2]!;
    for (const fragment of [false, true]) {
      const f = flowFrame({ ip: 6, l4: 'tcp', payload: 20, ipv6Extensions: ['fragment'], fragment }, ipv6(src6), ipv6(dst6), sport6, dport6);
      expect(env.hash(f), `fragment=${fragment}`).toEqual({ type: 2, value: ipOnly6 });
    }
  });

  it('flow_hash_ipv6_extension_headers', async () => {
    const env = await setup();
    env.configure(0xc);
    const [dst, dport, src, sport, ipOnly, ipTcp] = IPV6[1]!;
    const f = flowFrame({ ip: 6, l4: 'tcp', payload: 20, ipv6Extensions: ['hop', 'routing', 'dest'] }, ipv6(src), ipv6(dst), sport, dport);
    expect(env.hash(f)).toEqual({ type: 3, value: ipTcp });
    // AH is not walked by the flow dissector: L3
    const ah = flowFrame({ ip: 6, l4: 'tcp', payload: 20, ipv6Extensions: ['auth'] }, ipv6(src), ipv6(dst), sport, dport);
    expect(env.hash(ah)).toEqual({ type: 2, value: ipOnly });
  });

  it('flow_hash_vlan', async () => {
    const env = await setup();
    env.configure(0xf);
    const [dst, dport, src, sport, , ipTcp] = IPV4[3]!;
    for (const vlanTags of [1, 2]) {
      expect(env.hash(flowFrame({ ip: 4, l4: 'tcp', payload: 20, vlanTags }, ipv4(src), ipv4(dst), sport, dport))).toEqual({ type: 1, value: ipTcp });
    }
  });

  it('flow_hash_truncated', async () => {
    const env = await setup();
    env.configure(0xf);
    const [dst, dport, src, sport] = IPV4[4]!;
    const full = flowFrame({ ip: 4, l4: 'tcp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport);
    // ports cut off: the dissector reports ports 0 and the frame is still hashed as TCP
    const noPorts = full.subarray(0, 14 + 20 + 2);
    const input = Uint8Array.from([...ipv4(src), ...ipv4(dst), 0, 0, 0, 0]);
    expect(env.hash(noPorts)).toEqual({ type: 1, value: toeplitzReference(MS_KEY, input) });
    // the IPv4 header itself cut: no hash at all
    expect(env.hash(full.subarray(0, 14 + 19))).toBeUndefined();
    // IHL below 5
    const badIhl = full.slice();
    badIhl[14] = 0x44;
    expect(env.hash(badIhl)).toBeUndefined();
    const [dst6, dport6, src6, sport6] = IPV6[0]!;
    const v6 = flowFrame({ ip: 6, l4: 'tcp', payload: 0, ipv6Extensions: ['hop'] }, ipv6(src6), ipv6(dst6), sport6, dport6);
    expect(env.hash(v6.subarray(0, 14 + 40 + 1))).toBeUndefined(); // the hop-by-hop header cut
    expect(env.hash(v6.subarray(0, 14 + 39))).toBeUndefined();
  });

  it('flow_hash_short_key', async () => {
    const env = await setup();
    const key = MS_KEY.subarray(0, 16);
    env.configure(0x1, key);
    const [dst, , src] = IPV4[0]!;
    const input = Uint8Array.from([...ipv4(src), ...ipv4(dst)]);
    expect(env.hash(flowFrame({ ip: 4, l4: 'udp', payload: 4 }, ipv4(src), ipv4(dst), 1, 2))).toEqual({ type: 0, value: toeplitzReference(key, input) });
  });

  it('flow_hash_random_keys_match_reference', async () => {
    // the per-key table (rebuilt on every SET_HASH_KEY) against the plain bit-by-bit reference
    const env = await setup();
    for (let round = 0; round < 12; round++) {
      const key = pseudoRandomBytes([40, 39, 1, 8, 15, 22, 29, 36, 3, 10, 17, 24][round]!, 100 + round);
      env.configure(0xf, key);
      for (let flow = 0; flow < 4; flow++) {
        const r = pseudoRandomBytes(36, 1000 * round + flow + 1);
        const [sport, dport] = [(r[32]! << 8) | r[33]!, (r[34]! << 8) | r[35]!];
        const v4 = [[...r.subarray(0, 4)], [...r.subarray(4, 8)]] as const;
        const v6 = [[...r.subarray(0, 16)], [...r.subarray(16, 32)]] as const;
        const ports = [...r.subarray(32, 36)];
        expect(env.hash(flowFrame({ ip: 4, l4: 'tcp', payload: 8 }, v4[0], v4[1], sport, dport))).toEqual({ type: 1, value: toeplitzReference(key, Uint8Array.from([...v4[0], ...v4[1], ...ports])) });
        expect(env.hash(flowFrame({ ip: 4, l4: 'udp', payload: 8 }, v4[0], v4[1], sport, dport))).toEqual({ type: 0, value: toeplitzReference(key, Uint8Array.from([...v4[0], ...v4[1]])) });
        expect(env.hash(flowFrame({ ip: 6, l4: 'tcp', payload: 8 }, v6[0], v6[1], sport, dport))).toEqual({ type: 3, value: toeplitzReference(key, Uint8Array.from([...v6[0], ...v6[1], ...ports])) });
        expect(env.hash(flowFrame({ ip: 6, l4: 'udp', payload: 8 }, v6[0], v6[1], sport, dport))).toEqual({ type: 2, value: toeplitzReference(key, Uint8Array.from([...v6[0], ...v6[1]])) });
      }
    }
  });

  it('flow_hash_bad_argument', async () => {
    const env = await setup();
    expect(() => env.ctrl.hashAt(env.k.constant('TX_RING_OFFSET'), 64)).toThrow(KernelUsageError);
    const scratch = env.k.constant('SCRATCH_OFFSET');
    expect(() => env.ctrl.hashAt(scratch + env.k.constant('SCRATCH_SIZE') - 10, 64)).toThrow(KernelUsageError);
    expect(() => env.ctrl.hashAt(scratch, 0xffffffff)).toThrow(KernelUsageError);
  });

  it('select_queue', async () => {
    const env = await setup({ queues: 3 });
    const hashes = [0, 1, 2, 7, 0x80000000, 0xffffffff, 0x51ccc178];
    // no table: hash % queues
    expect(hashes.map((h) => env.ctrl.selectQueue(h, 3))).toEqual(hashes.map((h) => h % 3));
    env.ask(T.SET_MAP_SIZE, 5);
    const table = [2, 0, 1, 1, 2];
    env.ask(T.SET_MAP, env.mappingPage(table), 5, 0);
    expect(hashes.map((h) => env.ctrl.selectQueue(h, 3))).toEqual(hashes.map((h) => table[h % 5]));
    // fewer queues than the table names: folded, never out of range
    expect(hashes.map((h) => env.ctrl.selectQueue(h, 2))).toEqual(hashes.map((h) => table[h % 5]! % 2));
    expect(() => env.ctrl.selectQueue(1, 0)).toThrow(KernelUsageError);
  });

  it('regression_flow_hash_keeps_mapping', async () => {
    // the hash input buffer once overlapped the second half of the mapping double buffer
    const env = await setup({ queues: 4 });
    env.configure(0xf);
    env.ask(T.SET_MAP_SIZE, 128);
    const table = Array.from({ length: 128 }, (_, i) => (i * 7) % 4);
    for (const half of [0, 1]) {
      expect(env.ask(T.SET_MAP, env.mappingPage(table), 128, 0).status).toBe(S.SUCCESS);
      for (const [dst, dport, src, sport] of IPV6) env.hash(flowFrame({ ip: 6, l4: 'tcp', payload: 8 }, ipv6(src), ipv6(dst), sport, dport));
      expect(env.ctrl.mapping(), `half ${half}`).toEqual(table);
      expect(Array.from(env.ctrl.key())).toEqual(Array.from(MS_KEY));
    }
  });

  it('bench_flow_hash_runs', async () => {
    const env = await setup();
    env.configure(0xf);
    const [dst, dport, src, sport] = IPV4[0]!;
    const frame = flowFrame({ ip: 4, l4: 'tcp', payload: 20 }, ipv4(src), ipv4(dst), sport, dport);
    const base = env.k.constant('RX_BUF_OFFSET');
    env.k.write(base, frame, base, env.k.constant('RX_BUF_SIZE'));
    const one = env.k.fn('bench_flow_hash')(base, frame.length, 1) >>> 0;
    expect(one).toBe((1 ^ 0x51ccc178) >>> 0);
  });
});
