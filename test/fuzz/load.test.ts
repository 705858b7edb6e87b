// Load: 32 simulated guests × 2 queues under mixed traffic (small UDP, MTU-sized, checksum-partial
// TCP GSO up to 60 KiB, broadcast) for a bounded number of rounds. Every frame must arrive exactly
// once, intact, at the guest it was for; no drop counter moves; RSS is sampled and reported and
// must stay bounded. Then one guest stops taking RX (an RX stall) while the rest keep sending to
// it: each of its queues holds at most the 512 KiB cap, the excess is dropped and counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimHost } from '../../src/sim/host.js';
import type { ManualClock } from '../../src/xen/sim/clock.js';
import { buildFrame } from '../reference/frames.js';
import { manualHost } from '../engine/helpers.js';
import { dropCount } from './world.js';

const GUESTS = 32;
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 40);
const MB = 1024 * 1024;

let host: SimHost;
let clock: ManualClock;
const received = new Map<number, Map<string, number>>();

function mac(i: number): number[] {
  return [0x00, 0x16, 0x3e, 0, i, 0];
}

function frameFor(src: number, dst: number, kind: number, seq: number): { frame: Uint8Array; gso?: { type: 'tcpv4' | 'tcpv6'; size: number }; checksum: 'validated' | 'partial' } {
  const ip = (seq & 1) === 0 ? 4 : 6;
  let built;
  let gso: { type: 'tcpv4' | 'tcpv6'; size: number } | undefined;
  let checksum: 'validated' | 'partial' = 'validated';
  if (kind === 0) built = buildFrame({ ip, l4: 'udp', payload: 18 + (seq % 200), checksum: 'full', seed: seq });
  else if (kind === 1) built = buildFrame({ ip, l4: 'udp', payload: 1400 + (seq % 50), checksum: 'full', seed: seq });
  else {
    built = buildFrame({ ip, l4: 'tcp', payload: 1448 * (4 + (seq % 38)), checksum: 'pseudo', seed: seq, seq });
    gso = { type: ip === 4 ? 'tcpv4' : 'tcpv6', size: ip === 4 ? 1448 : 1428 };
    checksum = 'partial';
  }
  const frame = built.frame;
  frame.set(mac(dst), 0);
  frame.set(mac(src), 6);
  // distinct flows per sender and sequence spread frames over both RX queues
  frame[frame.length - 1] = seq & 0xFF;
  return { frame, gso, checksum };
}

const key = (frame: Uint8Array): string => Buffer.from(frame).toString('base64');

beforeAll(async () => {
  ({ host, clock } = await manualHost());
  for (let i = 1; i <= GUESTS; i++) {
    await host.addGuest({ domid: i, queues: 2 });
    const got = new Map<string, number>();
    received.set(i, got);
    host.guests.get(i)!.netfront.on('receive', (p) => got.set(key(p.frame), (got.get(key(p.frame)) ?? 0) + 1));
  }
  // every guest announces itself once (a broadcast each: the bridge learns all 32 MACs)
  for (let i = 1; i <= GUESTS; i++) {
    const arp = new Uint8Array(60).fill(i);
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
    arp.set(mac(i), 6);
    arp[12] = 0x08; arp[13] = 0x06;
    host.guests.get(i)!.netfront.send(arp);
    await host.settle(2);
  }
  for (const got of received.values()) got.clear();
}, 120_000);

afterAll(async () => {
  await host.close();
  expect(host.grants.mappedPages()).toBe(0);
  expect(host.channels.openPorts(0)).toBe(0);
});

describe('load', () => {
  it('load_32_guests_2_queues_mixed_traffic_no_unexpected_drops', async () => {
    expect([...host.dataPaths.values()].every((p) => p.queues.length === 2)).toBe(true);
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const expected = new Map<number, Map<string, number>>();
    let sent = 0;
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 1; i <= GUESTS; i++) {
        for (let k = 0; k < 3; k++) {
          const seq = round * 97 + i * 7 + k;
          const dst = ((i - 1 + 1 + ((round + k) % (GUESTS - 1))) % GUESTS) + 1;
          const { frame, gso, checksum } = frameFor(i, dst, k, seq);
          const result = host.guests.get(i)!.netfront.send(frame, { checksum, ...(gso && { gso }), queue: (seq >> 1) & 1 });
          expect(result.kind).toBe('sent');
          const want = expected.get(dst) ?? new Map<string, number>();
          expected.set(dst, want);
          want.set(key(frame), (want.get(key(frame)) ?? 0) + 1);
          sent++;
          bytes += frame.length;
        }
      }
      await host.settle(3);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    await host.settle(10);
    clock.advance(1);
    await host.settle(5);
    // every frame exactly once where it was sent, byte for byte
    let delivered = 0;
    for (let i = 1; i <= GUESTS; i++) {
      const got = received.get(i)!;
      const want = expected.get(i) ?? new Map();
      expect(got.size, `guest ${i} distinct frames`).toBe(want.size);
      for (const [k, n] of want) expect(got.get(k), `guest ${i} frame count`).toBe(n);
      for (const n of got.values()) delivered += n;
    }
    expect(delivered).toBe(sent);
    const paths = [...host.dataPaths.values()];
    expect(paths.reduce((n, p) => n + dropCount(p), 0)).toBe(0);
    expect(paths.every((p) => p.disabled === undefined)).toBe(true);
    // both queues of every vif carried traffic in both directions
    for (const path of paths) for (const q of path.queues) expect(q.stats.txFrames + q.stats.rxFrames).toBeGreaterThan(0);
    const rssEnd = process.memoryUsage().rss;
    console.log(`load: ${GUESTS} guests x 2 queues, ${ROUNDS} rounds: ${sent} frames (${(bytes / MB).toFixed(1)} MiB) sent, ${delivered} delivered, 0 dropped; `
      + `RSS start ${(rssStart / MB).toFixed(0)} MiB, peak ${(rssPeak / MB).toFixed(0)} MiB, end ${(rssEnd / MB).toFixed(0)} MiB`);
    // bounded: beyond the 64 fixed-size Wasm memories (touched as traffic reaches their buffers)
    // the run keeps nothing per frame
    const wasmBytes = paths.reduce((n, p) => n + p.queues.reduce((m, q) => m + (q as unknown as { instance: { bytes: Uint8Array } }).instance.bytes.length, 0), 0);
    console.log(`load: Wasm memory of the 64 queues ${(wasmBytes / MB).toFixed(0)} MiB`);
    expect(rssPeak - rssStart).toBeLessThan(wasmBytes + 128 * MB);
  }, 180_000);

  it('load_rx_stall_memory_per_queue_within_the_cap', async () => {
    // guest 1 stops taking RX (it never polls its ring again); the other 31 flood it
    const victim = host.guests.get(1)!;
    const path = host.dataPaths.get('vif1.0')!;
    // consume what is pending once in manual mode, then never again
    const rx = victim.netfront as unknown as { queues: { rx: { manualPoll: boolean } }[] };
    for (const q of rx.queues) q.rx.manualPoll = true;
    const heapStart = process.memoryUsage().arrayBuffers;
    const rssStart = process.memoryUsage().rss;
    let maxQueueBytes = 0;
    let sent = 0;
    const onRingBefore = path.counters().rx_ring_packets;
    for (let round = 0; round < 80; round++) {
      for (let i = 2; i <= GUESTS; i++) {
        const { frame } = frameFor(i, 1, 1, round * 31 + i);
        host.guests.get(i)!.netfront.send(frame, { checksum: 'validated', queue: round & 1 });
        sent++;
      }
      await host.settle(2);
      for (const q of path.queues) maxQueueBytes = Math.max(maxQueueBytes, q.backlogBytes);
    }
    const drops = path.queues.reduce((n, q) => n + q.stats.rxBacklogDrops, 0);
    const queued = path.queues.reduce((n, q) => n + q.backlogLength, 0);
    const onRing = path.counters().rx_ring_packets - onRingBefore;
    console.log(`load_rx_stall: ${sent} frames to a stalled guest: ${onRing} on its rings, ${queued} queued, ${drops} dropped at the cap; `
      + `max backlog per queue ${(maxQueueBytes / 1024).toFixed(0)} KiB; arrayBuffers +${((process.memoryUsage().arrayBuffers - heapStart) / MB).toFixed(1)} MiB, `
      + `RSS +${((process.memoryUsage().rss - rssStart) / MB).toFixed(1)} MiB`);
    expect(maxQueueBytes).toBeLessThanOrEqual(512 * 1024);
    expect(drops).toBeGreaterThan(0);
    // everything is accounted for: on the ring, queued or dropped at the cap (nothing lost silently)
    expect(onRing + queued + drops).toBe(sent);
    expect(process.memoryUsage().arrayBuffers - heapStart).toBeLessThan(64 * MB);
    // the other guests still talk to each other
    const got: number[] = [];
    const off = host.guests.get(3)!.netfront.on('receive', (p) => got.push(p.frame.length));
    const { frame } = frameFor(2, 3, 0, 12345);
    host.guests.get(2)!.netfront.send(frame, { checksum: 'validated' });
    await host.settle(4);
    off();
    expect(got).toContain(frame.length);
  }, 120_000);
});
