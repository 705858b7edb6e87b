// One regression test per Xen security advisory of the netback driver, each reproducing the
// attack pattern against the real engine over the simulated host. The hostile guest is isolated
// (its frames go to a capture port), the victims (domains 1 and 2) must be unaffected: their
// Wasm memories unchanged while the attack runs, their traffic still flowing afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../reference/frames.js';
import { udpFrame } from '../engine/helpers.js';
import { NETIF_RSP_ERROR, NETIF_RSP_OKAY, TxRingModel } from './ring-model.js';
import { FuzzWorld, HOSTILE_MAC } from './world.js';

let world: FuzzWorld;
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => { await world.close(); });

/** The host stack's MAC on the attacker's bridge (unknown to it: frames flood to the capture port). */
const HOST_MAC = [0x02, 0, 0, 0, 0, 0x77];
const NETTXF_CSUM_BLANK = 0x1;
const NETTXF_DATA_VALIDATED = 0x2;
const NETTXF_MORE_DATA = 0x4;

interface Piece { bytes: Uint8Array; offset: number }

/** A frame from the hostile guest (its MAC both ends) with a pseudo-header checksum. */
function hostileFrame(payload: number, l4: 'tcp' | 'udp' = 'tcp', ip: 4 | 6 = 4): Uint8Array {
  const frame = buildFrame({ ip, l4, payload, checksum: 'pseudo' }).frame;
  frame.set(HOST_MAC, 0);
  frame.set(HOSTILE_MAC, 6);
  return frame;
}

/** Splits a frame into slots of the given sizes (the last takes the rest), each on its own page at `offsets[i]`. */
function split(frame: Uint8Array, sizes: number[], offsets: number[] = []): Piece[] {
  const pieces: Piece[] = [];
  let at = 0;
  sizes.forEach((size, i) => {
    const n = i === sizes.length - 1 ? frame.length - at : size;
    pieces.push({ bytes: frame.subarray(at, at + n), offset: offsets[i] ?? 0 });
    at += n;
  });
  return pieces;
}

/** Writes a chain (first slot declares the whole length), publishes it at once, kicks. */
function sendChain(model: TxRingModel, pieces: Piece[], flags = 0, firstId = 0): number {
  const raw = model.raw;
  const total = pieces.reduce((n, p) => n + p.bytes.length, 0);
  let index = raw.txRing.reqProd;
  pieces.forEach((piece, i) => {
    const page = new Uint8Array(4096);
    page.set(piece.bytes, piece.offset);
    const more = i < pieces.length - 1 ? NETTXF_MORE_DATA : 0;
    model.write(index++, { gref: raw.grant(true, page), offset: piece.offset, flags: (i === 0 ? flags : 0) | more, id: firstId + i, size: i === 0 ? total : piece.bytes.length });
  });
  model.publish(index);
  raw.notifyTx();
  return index;
}

/** The frames the hostile vif passed to its interface, without their virtio_net_hdr. */
function delivered(): Uint8Array[] {
  return world.fromHostile.map((f) => f.subarray(10));
}

function statusesOf(model: TxRingModel, from: number, count: number): number[] {
  const view = model.ring.view();
  return Array.from({ length: count }, (_, i) => view.getInt16(model.at(from + i) + 2, true));
}

describe('Xen security advisories', () => {
  it('regression_xsa_155_slot_rewritten_after_validation', async () => {
    // The frontend rewrites the request (size, offset, grant, id) while the backend works on it:
    // between build (validation) and the grant copy. Copy-once means the op and the response
    // come from the private copy; the rewrite has no effect.
    const guest = await world.newHostile();
    const raw = guest.netfront.hostile(0);
    const model = new TxRingModel(raw);
    world.snapshotVictims();
    const frame = hostileFrame(200, 'udp');
    const page = new Uint8Array(4096);
    page.set(frame, 100);
    const start = raw.txRing.reqProd;
    const gref = raw.grant(true, page);
    const other = raw.grant(true, new Uint8Array(4096).fill(0xEE));
    model.write(start, { gref, offset: 100, flags: NETTXF_DATA_VALIDATED, id: 7, size: frame.length });
    model.publish(start + 1);
    let rewrote = 0;
    world.host.grants.faults.failOp = (index, domid) => {
      if (domid === guest.domid && index === 0 && rewrote === 0) {
        rewrote++;
        raw.writeTxRequest(start, { gref: other, offset: 4000, flags: NETTXF_MORE_DATA, id: 99, size: 0xFFFF });
      }
      return undefined;
    };
    try {
      raw.notifyTx();
      await world.settle();
    } finally {
      world.host.grants.faults.failOp = undefined;
    }
    expect(rewrote).toBe(1);
    expect(world.hostileDataPath().disabled).toBeUndefined();
    expect(delivered().map((f) => Buffer.from(f).toString('hex'))).toEqual([Buffer.from(frame).toString('hex')]);
    const view = raw.txRing.view();
    expect(raw.txRing.rspProd).toBe(start + 1);
    expect(view.getUint16(model.at(start), true)).toBe(7); // the id the backend copied, not 99
    expect(view.getInt16(model.at(start) + 2, true)).toBe(NETIF_RSP_OKAY);
    world.assertVictimsUntouched();
    expect(world.outcome(0).kind).not.toBe('typed-error');
  });

  it('regression_xsa_90_disabling_a_vif_under_attack_keeps_the_daemon_up', async () => {
    // A malicious frontend keeps hammering while its vif is disabled: the disable happens once,
    // nothing escapes, its later kicks cost nothing, the other vifs keep working and the daemon
    // still brings up new guests.
    const guest = await world.newHostile();
    const raw = guest.netfront.hostile(0);
    const model = new TxRingModel(raw);
    world.snapshotVictims();
    const frame = hostileFrame(100, 'udp');
    sendChain(model, Array.from({ length: 22 }, () => ({ bytes: frame.subarray(0, 10), offset: 0 })));
    await world.settle();
    const path = world.hostileDataPath();
    expect(path.disabled?.code).toBe('NETBACK_FATAL_TOO_MANY_SLOTS');
    const events = path.queues[0]!.stats.events;
    for (let i = 0; i < 1000; i++) {
      raw.setTxReqProd(raw.txRing.reqProd + 300);
      raw.notifyTx();
      raw.notifyRx();
    }
    await world.settle();
    expect(path.queues[0]!.stats.events).toBe(events); // a disabled queue keeps its port masked
    expect(path.carrier).toBe(false);
    expect(world.escapes.untyped).toEqual([]);
    world.assertVictimsUntouched();
    await world.assertVictimsFlow(90);
    // the daemon is still serving: a new guest connects and passes traffic
    const fresh = await world.newHostile();
    expect(fresh.dataPath()?.disabled).toBeUndefined();
    expect(fresh.netfront.send(hostileFrame(64, 'udp'), { checksum: 'validated' }).kind).toBe('sent');
    await world.settle();
    expect(world.fromHostile).toHaveLength(1);
  });

  it('regression_xsa_392_rx_without_buffers_cannot_grow_memory', async () => {
    // The guest posts no RX buffers beyond those of connect and never consumes responses; the
    // host floods it. The backlog holds at most 512 KiB; everything else is dropped and counted.
    const guest = await world.newHostile({ pollMode: 'manual' });
    const path = world.hostileDataPath();
    const queue = path.queues[0]!;
    const heapBefore = process.memoryUsage().arrayBuffers;
    const frame = new Uint8Array(10 + 1514);
    frame.set(HOSTILE_MAC, 10);
    frame.set([0x02, 0, 0, 0, 0, 0x77], 16);
    frame[22] = 0x88; frame[23] = 0xb5;
    let accepted = 0;
    let maxBacklog = 0;
    for (let i = 0; i < 4000; i++) {
      if (world.injectToHostile(frame)) accepted++;
      maxBacklog = Math.max(maxBacklog, queue.backlogBytes);
      if (i % 256 === 0) await world.settle(1);
    }
    await world.settle();
    expect(maxBacklog).toBeLessThanOrEqual(512 * 1024);
    expect(queue.backlogBytes).toBeLessThanOrEqual(512 * 1024);
    expect(queue.stats.rxBacklogDrops).toBe(4000 - accepted);
    expect(queue.stats.rxBacklogDrops).toBeGreaterThan(3000);
    // the ring took what the guest posted at connect, the backlog the rest up to the cap: nothing
    // accepted was lost, and no slot beyond those posted was used
    const counters = path.counters();
    expect(counters.rx_ring_packets + queue.backlogLength).toBe(accepted);
    expect(counters.rx_ring_slots).toBeLessThanOrEqual(256);
    void guest;
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(world.escapes.untyped).toEqual([]);
  });

  it('regression_xsa_423_headers_split_across_the_maximum_number_of_slots', async () => {
    // CVE-2023-34319: the protocol headers spread over the first slots, 19 slots in all (the
    // most a packet may use): the header copy gathers across every slot and the frame reaches
    // the interface byte for byte, its checksum-partial offload intact.
    const guest = await world.newHostile();
    const model = new TxRingModel(guest.netfront.hostile(0));
    world.snapshotVictims();
    const frame = hostileFrame(1200, 'tcp');
    const sizes = [14, ...Array.from({ length: 17 }, () => 3), 0];
    const start = model.raw.txRing.reqProd;
    sendChain(model, split(frame, sizes, sizes.map((_, i) => (i * 37) % 200)), NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED, 1);
    await world.settle();
    model.check();
    expect(world.hostileDataPath().disabled).toBeUndefined();
    expect(statusesOf(model, start, 19)).toEqual(Array(19).fill(NETIF_RSP_OKAY));
    const got = delivered();
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!).equals(Buffer.from(frame))).toBe(true);
    expect(world.fromHostile[0]![0]! & 1).toBe(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
    world.assertVictimsUntouched();
  });

  it('regression_xsa_432_header_copy_crossing_a_page', async () => {
    // The header lies at the very end of the first slot's page and continues in the next slot:
    // each copy stays inside its source page, and the frame is whole. A first slot that would
    // itself run over its page is fatal.
    const guest = await world.newHostile();
    const model = new TxRingModel(guest.netfront.hostile(0));
    world.snapshotVictims();
    const frame = hostileFrame(600, 'udp');
    sendChain(model, split(frame, [20, 0], [4096 - 20, 0]), NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED);
    await world.settle();
    model.check();
    expect(world.hostileDataPath().disabled).toBeUndefined();
    expect(delivered().map((f) => Buffer.from(f).toString('hex'))).toEqual([Buffer.from(frame).toString('hex')]);
    // the same frame in one slot starting 20 bytes before the page end: fatal, nothing copied
    world.fromHostile.length = 0;
    const raw = model.raw;
    const page = new Uint8Array(4096);
    page.set(frame.subarray(0, 20), 4076);
    const at = raw.txRing.reqProd;
    model.write(at, { gref: raw.grant(true, page), offset: 4076, flags: 0, id: 3, size: frame.length });
    model.publish(at + 1);
    raw.notifyTx();
    await world.settle();
    model.check();
    expect(world.hostileDataPath().disabled?.code).toBe('NETBACK_FATAL_FIRST_CROSSES_PAGE');
    expect(world.fromHostile).toHaveLength(0);
    world.assertVictimsUntouched();
  });

  it('regression_xsa_448_zero_length_slots', async () => {
    // Zero-length following slots (between data slots and at the end): each is answered OKAY
    // exactly once, none becomes a fragment or a grant op, the frame is whole.
    const guest = await world.newHostile();
    const model = new TxRingModel(guest.netfront.hostile(0));
    world.snapshotVictims();
    const frame = hostileFrame(300, 'udp');
    const path = world.hostileDataPath();
    const zerosBefore = path.counters().tx_zero_length_slots ?? 0;
    const opsBefore = world.host.grants.copiedOps;
    const pieces: Piece[] = [
      { bytes: frame.subarray(0, 100), offset: 0 },
      { bytes: frame.subarray(100, 100), offset: 0 },
      { bytes: frame.subarray(100, 250), offset: 8 },
      { bytes: frame.subarray(250, 250), offset: 4096 },
      { bytes: frame.subarray(250, 250), offset: 0 },
      { bytes: frame.subarray(250), offset: 16 },
      { bytes: frame.subarray(0, 0), offset: 0 },
    ];
    const start = model.raw.txRing.reqProd;
    sendChain(model, pieces, NETTXF_DATA_VALIDATED, 40);
    await world.settle();
    model.check();
    expect(statusesOf(model, start, pieces.length)).toEqual(Array(pieces.length).fill(NETIF_RSP_OKAY));
    expect(model.answered).toBe(pieces.length);
    expect((path.counters().tx_zero_length_slots ?? 0) - zerosBefore).toBe(4);
    expect(world.host.grants.copiedOps - opsBefore).toBe(3);
    expect(delivered().map((f) => Buffer.from(f).toString('hex'))).toEqual([Buffer.from(frame).toString('hex')]);
    world.assertVictimsUntouched();
  });

  it('regression_xsa_332_event_storm_is_bounded_and_starves_no_one', async () => {
    // The attacker kicks both directions in a tight loop without posting work. Each burst while
    // the port is masked is one event (late EOI); every event it gets is counted spurious and
    // does no work; the victims' frames still arrive in the same step they were sent.
    const guest = await world.newHostile();
    const raw = guest.netfront.hostile(0);
    const queue = world.hostileDataPath().queues[0]!;
    const victim1 = world.host.dataPaths.get('vif1.0')!.queues[0]!;
    const eventsBefore = queue.stats.events;
    const spuriousBefore = queue.stats.spuriousEvents;
    const busyBefore = queue.stats.busyMs;
    let kicks = 0;
    let victimSteps = 0;
    const got: number[] = [];
    const off = world.host.guests.get(2)!.netfront.on('receive', (p) => got.push(p.frame.length));
    for (let step = 0; step < 50; step++) {
      for (let i = 0; i < 200; i++) { raw.notifyTx(); raw.notifyRx(); kicks += 2; }
      const sentBefore = got.length;
      world.host.guests.get(1)!.netfront.send(udpFrame(142 + step), { checksum: 'validated' });
      await world.host.settle(1);
      if (got.length > sentBefore) victimSteps++;
    }
    off();
    await world.settle();
    const events = queue.stats.events - eventsBefore;
    expect(kicks).toBe(20000);
    // one event per port (split TX/RX channels) per settle step at most: bursts coalesce while masked
    expect(events).toBeLessThanOrEqual(2 * 51);
    expect(queue.stats.spuriousEvents - spuriousBefore).toBe(events);
    expect(queue.stats.txBatches + queue.stats.rxBatches).toBe(0);
    // every victim frame arrived within the step it was sent
    expect(victimSteps).toBe(50);
    expect(got).toHaveLength(50);
    expect(victim1.stats.txFrames).toBeGreaterThanOrEqual(50);
    // the attacker's cost stays proportional to its events, not its kicks
    expect(queue.stats.busyMs - busyBefore).toBeLessThan(events * 50);
    expect(world.hostileDataPath().disabled).toBeUndefined();
  });

  it.each([
    [19, 'accepted'],
    [20, 'dropped'],
    [21, 'dropped'],
    [22, 'fatal'],
  ] as const)('regression_fatal_skb_slots_boundary_%i_slots', async (slots, expected) => {
    // see: netback.c xenvif_count_requests with fatal_skb_slots = 20, XEN_NETBK_LEGACY_SLOTS_MAX = 18
    const guest = await world.newHostile();
    const model = new TxRingModel(guest.netfront.hostile(0));
    world.snapshotVictims();
    const frame = hostileFrame(slots * 60, 'udp');
    const start = model.raw.txRing.reqProd;
    sendChain(model, split(frame, Array(slots).fill(60)), NETTXF_DATA_VALIDATED, 10);
    await world.settle();
    model.check();
    const path = world.hostileDataPath();
    const statuses = statusesOf(model, start, slots);
    if (expected === 'accepted') {
      expect(path.disabled).toBeUndefined();
      expect(statuses).toEqual(Array(slots).fill(NETIF_RSP_OKAY));
      expect(delivered().map((f) => Buffer.from(f).toString('hex'))).toEqual([Buffer.from(frame).toString('hex')]);
    } else if (expected === 'dropped') {
      expect(path.disabled).toBeUndefined();
      expect(statuses).toEqual(Array(slots).fill(NETIF_RSP_ERROR));
      expect(path.counters().tx_drop_too_many_slots).toBe(1);
      expect(world.fromHostile).toHaveLength(0);
    } else {
      expect(path.disabled?.code).toBe('NETBACK_FATAL_TOO_MANY_SLOTS');
      expect(model.answered).toBe(0);
      expect(world.fromHostile).toHaveLength(0);
    }
    world.assertVictimsUntouched();
    expect(world.escapes.untyped).toEqual([]);
  });
});
