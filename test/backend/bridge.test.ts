import { describe, expect, it } from 'vitest';
import { SoftwareBridge } from '../../src/sink/bridge.js';

function frame(dst: number[], src: number[], tag: number): Uint8Array {
  const bytes = new Uint8Array(10 + 60);
  bytes.set(dst, 10);
  bytes.set(src, 16);
  bytes[10 + 12] = 0x08;
  bytes[10 + 14] = tag;
  return bytes;
}

function receiver(capacity = Infinity) {
  const got: Uint8Array[] = [];
  let wakes = 0;
  return {
    got,
    get wakes() { return wakes; },
    receive: (f: Uint8Array) => (got.length < capacity ? (got.push(f), true) : false),
    wake: () => { wakes++; },
  };
}

const A = [2, 0, 0, 0, 0, 1];
const B = [2, 0, 0, 0, 0, 2];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

describe('SoftwareBridge', () => {
  it('bridge_floods_unknown_then_forwards_learned', () => {
    const bridge = new SoftwareBridge();
    const a = receiver(), b = receiver(), c = receiver();
    const pa = bridge.attach('a', a);
    const pb = bridge.attach('b', b);
    bridge.attach('c', c);
    const first = frame(B, A, 1);
    pa.transmit(first, 0, first.length); // B unknown: flooded to b and c
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1]);
    const reply = frame(A, B, 2);
    pb.transmit(reply, 0, reply.length); // A learned on port a
    expect([a.got.length, c.got.length]).toEqual([1, 1]);
    expect(a.got[0]![24]).toBe(2);
    const again = frame(B, A, 3);
    pa.transmit(again, 0, again.length); // B learned now: c sees nothing more
    expect([b.got.length, c.got.length]).toEqual([2, 1]);
    expect(bridge.stats).toMatchObject({ forwarded: 2, flooded: 1 });
    expect(b.wakes).toBe(2);
  });

  it('bridge_floods_broadcast_and_never_learns_multicast_sources', () => {
    const bridge = new SoftwareBridge();
    const a = receiver(), b = receiver();
    const pa = bridge.attach('a', a);
    bridge.attach('b', b);
    const arp = frame(BROADCAST, A, 1);
    pa.transmit(arp, 0, arp.length);
    expect(b.got.length).toBe(1);
    const spoof = frame(B, [3, 0, 0, 0, 0, 9], 2); // multicast source: not learned
    pa.transmit(spoof, 0, spoof.length);
    const toSpoofed = frame([3, 0, 0, 0, 0, 9], B, 3);
    bridge.attach('c', receiver()).transmit(toSpoofed, 0, toSpoofed.length);
    expect(bridge.stats.flooded).toBe(3);
  });

  it("bridge_counts_receiver_drops_and_runts", async () => {
    const bridge = new SoftwareBridge();
    const full = receiver(0);
    const pa = bridge.attach('a', receiver());
    const pb = bridge.attach('b', full);
    const f = frame(B, A, 1);
    pa.transmit(f, 0, f.length);
    expect(pb.dropped).toBe(1);
    expect(pa.transmit(new Uint8Array(20), 0, 20)).toBe(false);
    expect(bridge.stats.dropped).toBe(1);
    await pb.close();
    pa.transmit(f, 0, f.length);
    expect(pb.dropped).toBe(1);
  });
});
