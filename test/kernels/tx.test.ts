import { describe, expect, it } from 'vitest';
import { FrontendFatalError, KernelUsageError } from '../../src/wasm/errors.js';
import {
  EXTRA_XDP, gsoExtra, hashExtra, makeFrame, mcastAddExtra, mcastDelExtra, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED,
  NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, RSP_ERROR, RSP_NULL, RSP_OKAY, xdpExtra, type SentPacket,
} from '../support/tx-frontend.js';
import { answers, batch, counter, expectedAnswers, harness, status, type Harness } from './tx-harness.js';

const sizes = (n: number, each: number): number[] => Array.from({ length: n }, () => each);

/** A packet of `total` data slots: first slot 100 bytes, every following slot 60 bytes. */
function chain(h: Harness, total: number): SentPacket {
  const slotSizes = [100, ...sizes(total - 1, 60)];
  return h.fe.packet({ frame: makeFrame(slotSizes.reduce((a, b) => a + b, 0)), slots: slotSizes });
}

function expectFrames(h: Harness, sent: SentPacket[]): void {
  const packets = h.tx.packets();
  expect(packets.length).toBe(sent.length);
  packets.forEach((p, i) => {
    expect(p.status).toBe(0);
    expect(h.tx.frame(p)).toEqual(sent[i]!.frame);
  });
}

describe('tx_build', () => {
  it('tx_build_empty', async () => {
    const h = await harness(5);
    const { built, committed, responses } = batch(h);
    expect(built).toMatchObject({ packets: 0, ops: 0, slots: 0, creditUsed: 0, creditBlocked: 0, fatal: undefined });
    expect(responses).toEqual([]);
    expect(committed).toEqual({ notify: false, morePending: false });
    // final check asked for an event at the next request
    expect(h.fe.reqEvent).toBe(6);
  });

  it('tx_build_1req', async () => {
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(60), offsets: [128], flags: NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED });
    h.fe.publish();
    const built = h.tx.build();
    expect(built).toMatchObject({ packets: 1, ops: 1, slots: 1, creditUsed: 60, fatal: undefined });
    const [op] = h.tx.ops();
    expect(op).toMatchObject({ gref: sent.grefs[0], guestOffset: 128, length: 60, toGuest: false, status: -1 });
    const [pkt] = h.tx.packets();
    expect(pkt).toMatchObject({ length: 60, csumBlank: true, dataValidated: true, gsoType: 0, hash: undefined, firstSlot: 0, slotCount: 1, opCount: 1 });
    const headroom = h.instance.constant('PKT_HEADROOM');
    expect(pkt!.data % 16).toBe(0);
    expect(pkt!.data - headroom).toBeGreaterThanOrEqual(h.instance.constant('TX_BUF_OFFSET'));
    h.grants.execute(h.instance, h.tx.opsAddress, built.ops);
    const committed = h.tx.commit();
    expectFrames(h, [sent]);
    expect(answers(h.fe.responses())).toEqual(expectedAnswers(sent, RSP_OKAY));
    expect(committed).toEqual({ notify: true, morePending: false });
    expect(counter(h.instance, 'tx_ring_packets')).toBe(1);
    expect(counter(h.instance, 'tx_ring_bytes')).toBe(60);
    expect(counter(h.instance, 'tx_ring_slots')).toBe(1);
  });

  it('tx_build_2req', async () => {
    const h = await harness();
    const a = h.fe.packet({ frame: makeFrame(60, 1) });
    const b = h.fe.packet({ frame: makeFrame(1514, 2), offsets: [2048], flags: NETTXF_DATA_VALIDATED });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 2, ops: 2, slots: 2, creditUsed: 60 + 1514 });
    expectFrames(h, [a, b]);
    const [, pb] = h.tx.packets();
    expect(pb).toMatchObject({ csumBlank: false, dataValidated: true, firstSlot: 1 });
    expect(answers(responses)).toEqual([...expectedAnswers(a, RSP_OKAY), ...expectedAnswers(b, RSP_OKAY)]);
  });

  it('tx_build_sg', async () => {
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(100 + 4096 + 1000 + 7), slots: [100, 4096, 1000, 7], offsets: [3996, 0, 3096, 13] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, ops: 4, slots: 4 });
    expect(h.tx.ops().map((o) => [o.gref, o.guestOffset, o.length])).toEqual([
      [sent.grefs[0], 3996, 100], [sent.grefs[1], 0, 4096], [sent.grefs[2], 3096, 1000], [sent.grefs[3], 13, 7],
    ]);
    expectFrames(h, [sent]);
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_OKAY));
  });

  it('tx_build_extra_gso', async () => {
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(3000), slots: [1000, 2000], flags: NETTXF_CSUM_BLANK, extras: [gsoExtra(1448, 1)] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, ops: 2, slots: 3 });
    expect(h.tx.packets()[0]).toMatchObject({ gsoType: 1, gsoSize: 1448, csumBlank: true, extraCount: 1, slotCount: 3 });
    expectFrames(h, [sent]);
    // first data OKAY, its extra NULL, the follower OKAY, in slot order
    expect(answers(responses)).toEqual([
      { index: 0, id: sent.ids[0], status: RSP_OKAY }, { index: 1, status: RSP_NULL }, { index: 2, id: sent.ids[1], status: RSP_OKAY },
    ]);
  });

  it('tx_build_extra_gso_later_overwrites', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(200), extras: [gsoExtra(536, 1), gsoExtra(1440, 2)] });
    h.fe.publish();
    batch(h);
    expect(h.tx.packets()[0]).toMatchObject({ gsoType: 2, gsoSize: 1440, extraCount: 2 });
  });

  it('tx_build_extra_hash', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(80), extras: [hashExtra(1, 0xDEADBEEF)] });
    h.fe.packet({ frame: makeFrame(80), extras: [hashExtra(3, 0x01020304)] });
    h.fe.packet({ frame: makeFrame(80), extras: [hashExtra(9, 0x55)] }); // unknown type: no hash
    h.fe.publish();
    batch(h);
    expect(h.tx.packets().map((p) => p.hash)).toEqual([{ type: 1, value: 0xDEADBEEF }, { type: 3, value: 0x01020304 }, undefined]);
  });

  it('tx_build_extra_xdp_ignored', async () => {
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(90), extras: [xdpExtra(256)] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, slots: 2, fatal: undefined });
    expect(h.tx.packets()[0]).toMatchObject({ gsoType: 0, hash: undefined, extraCount: 1 });
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_OKAY));
    expect(EXTRA_XDP).toBe(5);
  });

  const MAC_A = [0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB];
  const MAC_B = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];

  /** An MCAST request: a first request (size 0) carrying the extra, as Windows PV sends it. */
  function mcastRequest(h: Harness, extra: ReturnType<typeof mcastAddExtra>): { id: number; first: number } {
    const id = h.fe.allocId();
    const first = h.fe.writeRequest({ gref: 0, offset: 0, flags: NETTXF_EXTRA_INFO, id, size: 0 });
    h.fe.writeExtra(extra);
    return { id, first };
  }

  it('tx_build_extra_mcast_add_del', async () => {
    const h = await harness();
    const add = mcastRequest(h, mcastAddExtra(MAC_A));
    const data = h.fe.packet({ frame: makeFrame(64) });
    h.fe.publish();
    const first = batch(h);
    expect(first.built).toMatchObject({ packets: 1, slots: 3 });
    expect(answers(first.responses)).toEqual([
      { index: 0, id: add.id, status: RSP_OKAY }, { index: 1, status: RSP_NULL }, ...expectedAnswers(data, RSP_OKAY),
    ]);
    expect(h.tx.mcastCount()).toBe(1);
    expect(h.tx.mcastContains(Uint8Array.from(MAC_A))).toBe(true);
    expect(h.tx.mcastContains(Uint8Array.from(MAC_B))).toBe(false);
    expect(counter(h.instance, 'tx_mcast_add')).toBe(1);

    const del = mcastRequest(h, mcastDelExtra(MAC_A));
    h.fe.publish();
    const second = batch(h);
    expect(second.built.packets).toBe(0);
    expect(answers(second.responses)).toEqual([{ index: 3, id: del.id, status: RSP_OKAY }, { index: 4, status: RSP_NULL }]);
    expect(h.tx.mcastCount()).toBe(0);
    expect(h.tx.mcastContains(Uint8Array.from(MAC_A))).toBe(false);
  });

  it('tx_build_extra_mcast_del_absent', async () => {
    const h = await harness();
    mcastRequest(h, mcastAddExtra(MAC_A));
    const del = mcastRequest(h, mcastDelExtra(MAC_B));
    h.fe.publish();
    const { responses } = batch(h);
    expect(answers(responses).slice(2)).toEqual([{ index: 2, id: del.id, status: RSP_OKAY }, { index: 3, status: RSP_NULL }]);
    expect(h.tx.mcastCount()).toBe(1);
    expect(h.tx.mcastContains(Uint8Array.from(MAC_A))).toBe(true);
  });

  it('tx_build_extra_mcast_add_wins_over_del', async () => {
    const h = await harness();
    const id = h.fe.allocId();
    h.fe.writeRequest({ gref: 0, offset: 0, flags: NETTXF_EXTRA_INFO, id, size: 0 });
    h.fe.writeExtra({ ...mcastDelExtra(MAC_B), more: true });
    h.fe.writeExtra(mcastAddExtra(MAC_A));
    h.fe.publish();
    const { responses } = batch(h);
    expect(answers(responses)).toEqual([{ index: 0, id, status: RSP_OKAY }, { index: 1, status: RSP_NULL }, { index: 2, status: RSP_NULL }]);
    expect(h.tx.mcastCount()).toBe(1);
    expect(h.tx.mcastContains(Uint8Array.from(MAC_A))).toBe(true);
  });

  it('tx_build_extra_mcast_edits_and_record', async () => {
    const h = await harness();
    mcastRequest(h, mcastAddExtra(MAC_A));
    mcastRequest(h, mcastAddExtra(MAC_B));
    mcastRequest(h, mcastDelExtra([0x01, 0, 0x5E, 0, 9, 9])); // absent: no change
    h.fe.publish();
    expect(batch(h).built.mcastEdits).toBe(2);
    h.fe.packet({ frame: makeFrame(64) });
    h.fe.publish();
    expect(batch(h).built.mcastEdits).toBe(0);
    // another queue's instance takes the list whole
    const other = await harness();
    other.tx.mcastRestore(h.tx.mcastSnapshot());
    expect(other.tx.mcastCount()).toBe(2);
    expect(other.tx.mcastContains(Uint8Array.from(MAC_B))).toBe(true);
    mcastRequest(other, mcastDelExtra(MAC_A));
    other.fe.publish();
    expect(batch(other).built.mcastEdits).toBe(1);
    expect(other.tx.mcastContains(Uint8Array.from(MAC_A))).toBe(false);
    // a record with more than 64 entries, or of the wrong size, is refused and changes nothing
    const record = h.tx.mcastSnapshot();
    new DataView(record.buffer, record.byteOffset).setUint32(0, 65, true);
    expect(() => other.tx.mcastRestore(record)).toThrow(KernelUsageError);
    expect(() => other.tx.mcastRestore(record.subarray(1))).toThrow(KernelUsageError);
    expect(other.tx.mcastCount()).toBe(1);
    // the record only moves through SCRATCH, never a ring page the guest writes
    const ring = other.instance.constant('TX_RING_OFFSET');
    expect(() => other.instance.call('mcast_save', ring)).toThrow(KernelUsageError);
    expect(() => other.instance.call('mcast_load', ring)).toThrow(KernelUsageError);
    expect(() => other.instance.call('mcast_load', other.instance.constant('SCRATCH_OFFSET') + other.instance.constant('SCRATCH_SIZE') - 8)).toThrow(KernelUsageError);
    expect(other.tx.mcastCount()).toBe(1);
  });

  it('tx_build_extra_mcast_full', async () => {
    const h = await harness();
    const requests = Array.from({ length: 65 }, (_, i) => mcastRequest(h, mcastAddExtra([0x01, 0, 0x5E, 0, 1, i])));
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 0, slots: 130 });
    const firstAnswers = answers(responses).filter((r) => r.status !== RSP_NULL);
    expect(firstAnswers).toEqual(requests.map((r, i) => ({ index: r.first, id: r.id, status: i < 64 ? RSP_OKAY : RSP_ERROR })));
    expect(h.tx.mcastCount()).toBe(64);
    expect(h.tx.mcastContains(Uint8Array.from([0x01, 0, 0x5E, 0, 1, 63]))).toBe(true);
    expect(h.tx.mcastContains(Uint8Array.from([0x01, 0, 0x5E, 0, 1, 64]))).toBe(false);
    expect(counter(h.instance, 'tx_mcast_full')).toBe(1);
  });

  it('tx_build_partial', async () => {
    const h = await harness();
    const ok = h.fe.packet({ frame: makeFrame(60) });
    h.fe.packet({ frame: makeFrame(300), slots: [100, 100, 100] });
    h.fe.publish(3); // the last following slot is not published
    const { built, responses } = batch(h);
    expect(built.fatal).toBeInstanceOf(FrontendFatalError);
    expect(built.fatal!.code).toBe('NETBACK_FATAL_CHAIN_UNPUBLISHED');
    // the packet built before the fatal one is still delivered and answered; the fatal one is not
    expect(built).toMatchObject({ packets: 1, slots: 1 });
    expectFrames(h, [ok]);
    expect(answers(responses)).toEqual(expectedAnswers(ok, RSP_OKAY));
    expect(counter(h.instance, 'tx_fatal')).toBe(1);
  });

  it('tx_build_wraps', async () => {
    const start = 0xFFFFFFF8;
    const h = await harness(start);
    const sent = Array.from({ length: 10 }, (_, i) => h.fe.packet({ frame: makeFrame(300, i), slots: [100, 150, 50] }));
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 10, slots: 30, ops: 30 });
    expectFrames(h, sent);
    expect(answers(responses)).toEqual(sent.flatMap((s) => expectedAnswers(s, RSP_OKAY)));
    expect(h.fe.rspProd).toBe((start + 30) >>> 0);
    expect(responses.at(-1)!.index).toBe(21);
  });

  it('tx_build_wraps_full_ring', async () => {
    const start = 0xFFFFFF00 + 17;
    const h = await harness(start);
    const sent = Array.from({ length: 256 }, (_, i) => h.fe.packet({ frame: makeFrame(64 + i, i) }));
    h.fe.publish();
    const { built, responses } = batch(h, { maxPackets: 256 });
    expect(built).toMatchObject({ packets: 256, slots: 256 });
    expectFrames(h, sent);
    expect(answers(responses)).toEqual(sent.flatMap((s) => expectedAnswers(s, RSP_OKAY)));
  });

  it('tx_build_full_ring_of_full_pages_fits', async () => {
    const h = await harness();
    const sent = Array.from({ length: 256 }, (_, i) => h.fe.packet({ frame: makeFrame(4096, i) }));
    h.fe.publish();
    const { built, responses } = batch(h, { maxPackets: 256 });
    expect(built).toMatchObject({ packets: 256, slots: 256, ops: 256 });
    expectFrames(h, sent);
    expect(responses.every((r) => r.status === RSP_OKAY)).toBe(true);
  });

  it('tx_build_budget', async () => {
    const h = await harness();
    const sent = Array.from({ length: 5 }, (_, i) => h.fe.packet({ frame: makeFrame(60, i) }));
    h.fe.publish();
    const first = batch(h, { maxPackets: 3 });
    expect(first.built.packets).toBe(3);
    expect(first.committed.morePending).toBe(true);
    const second = batch(h, { maxPackets: 3 });
    expect(second.built.packets).toBe(2);
    expect(answers([...first.responses, ...second.responses])).toEqual(sent.flatMap((s) => expectedAnswers(s, RSP_OKAY)));
  });
});

describe('tx_build_invalid', () => {
  async function expectFatal(h: Harness, code: string, options = {}): Promise<void> {
    const { built, responses } = batch(h, options);
    expect(built.fatal?.code).toBe(code);
    expect(responses).toEqual([]);
    expect(h.tx.build().fatal?.code).toBe('NETBACK_FATAL_DISABLED');
  }

  it('tx_build_invalid_ring_overflow', async () => {
    const h = await harness(100);
    h.fe.publish(100 + 257);
    await expectFatal(h, 'NETBACK_FATAL_RING_OVERFLOW');
  });

  it('tx_build_invalid_ring_full_is_not_overflow', async () => {
    const h = await harness(100);
    for (let i = 0; i < 256; i++) h.fe.packet({ frame: makeFrame(20) });
    h.fe.publish();
    expect(batch(h, { maxPackets: 256 }).built).toMatchObject({ packets: 256, fatal: undefined });
  });

  it('tx_build_invalid_chain_unpublished', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(200), slots: [100, 100] });
    h.fe.publish(1);
    await expectFatal(h, 'NETBACK_FATAL_CHAIN_UNPUBLISHED');
  });

  it('tx_build_invalid_19_slots_accepted', async () => {
    const h = await harness();
    const sent = chain(h, 19);
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, slots: 19, ops: 19, drops: 0 });
    expectFrames(h, [sent]);
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_OKAY));
  });

  for (const total of [20, 21]) {
    it(`tx_build_invalid_${total}_slots_dropped`, async () => {
      const h = await harness();
      const sent = chain(h, total);
      const next = h.fe.packet({ frame: makeFrame(70) });
      h.fe.publish();
      const { built, responses } = batch(h);
      expect(built).toMatchObject({ packets: 1, slots: total + 1, drops: 1, fatal: undefined });
      expectFrames(h, [next]);
      expect(answers(responses)).toEqual([...expectedAnswers(sent, RSP_ERROR), ...expectedAnswers(next, RSP_OKAY)]);
      expect(counter(h.instance, 'tx_drop_too_many_slots')).toBe(1);
    });
  }

  it('tx_build_invalid_22_slots_fatal', async () => {
    const h = await harness();
    chain(h, 22);
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_TOO_MANY_SLOTS');
  });

  it('tx_build_invalid_fatal_slots_clamped_to_18', async () => {
    const h = await harness();
    chain(h, 19); // 18 following slots: under the clamped threshold
    chain(h, 20); // 19 following: >= 18 = fatal before the drop rule
    h.fe.publish();
    const { built, responses } = batch(h, { fatalSlots: 5 });
    expect(built.fatal?.code).toBe('NETBACK_FATAL_TOO_MANY_SLOTS');
    expect(built.packets).toBe(1);
    expect(responses.length).toBe(19);
  });

  it('tx_build_invalid_fatal_slots_raised', async () => {
    const h = await harness();
    const sent = chain(h, 22);
    h.fe.publish();
    const { built, responses } = batch(h, { fatalSlots: 30 });
    expect(built).toMatchObject({ packets: 0, drops: 1, fatal: undefined });
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_ERROR));
  });

  it('tx_build_invalid_follower_crosses_page', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(300), slots: [100, 200], offsets: [0, 3900] });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_FRAG_CROSSES_PAGE');
  });

  it('tx_build_invalid_dropped_follower_crossing_is_fatal', async () => {
    // the page check runs on every following slot, even once the packet is already being dropped
    const h = await harness();
    const gref = h.grants.grant();
    h.fe.writeRequest({ gref, offset: 0, flags: NETTXF_MORE_DATA, id: 1, size: 100 });
    h.fe.writeRequest({ gref, offset: 0, flags: NETTXF_MORE_DATA, id: 2, size: 200 }); // oversize: drop
    h.fe.writeRequest({ gref, offset: 4000, flags: 0, id: 3, size: 97 }); // crosses: fatal
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_FRAG_CROSSES_PAGE');
  });

  it('tx_build_invalid_first_crosses_page', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(300), slots: [200, 100], offsets: [3900, 0] });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_FIRST_CROSSES_PAGE');
  });

  it('tx_build_invalid_follower_larger_than_remaining', async () => {
    const h = await harness();
    const gref = h.grants.grant();
    const first = h.fe.writeRequest({ gref, offset: 0, flags: NETTXF_MORE_DATA, id: 7, size: 100 });
    h.fe.writeRequest({ gref, offset: 0, flags: 0, id: 8, size: 200 });
    const next = h.fe.packet({ frame: makeFrame(70) });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, drops: 1, fatal: undefined });
    expect(answers(responses)).toEqual([
      { index: first, id: 7, status: RSP_ERROR }, { index: first + 1, id: 8, status: RSP_ERROR }, ...expectedAnswers(next, RSP_OKAY),
    ]);
    expect(counter(h.instance, 'tx_drop_frag_oversize')).toBe(1);
  });

  it('tx_build_invalid_first_too_small', async () => {
    const h = await harness();
    const tiny = h.fe.packet({ frame: makeFrame(13) });
    const split = h.fe.packet({ frame: makeFrame(100), slots: [10, 90], extras: [gsoExtra(1448, 1)] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 0, drops: 2, slots: 4, fatal: undefined });
    expect(answers(responses)).toEqual([...expectedAnswers(tiny, RSP_ERROR), ...expectedAnswers(split, RSP_ERROR)]);
    expect(counter(h.instance, 'tx_drop_first_too_small')).toBe(2);
  });

  it('tx_build_invalid_drop_checked_before_gso', async () => {
    // Linux checks the first-slot size before the GSO extra: a tiny packet with GSO size 0 is a drop
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(12), extras: [gsoExtra(0, 1)] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built.fatal).toBeUndefined();
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_ERROR));
  });

  it('tx_build_invalid_extra_missing', async () => {
    const h = await harness();
    h.fe.request({ size: 60, flags: NETTXF_EXTRA_INFO });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_EXTRA_MISSING');
  });

  it('tx_build_invalid_extra_more_missing', async () => {
    const h = await harness();
    h.fe.request({ size: 60, flags: NETTXF_EXTRA_INFO });
    h.fe.writeExtra({ ...gsoExtra(1448, 1), more: true });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_EXTRA_MISSING');
  });

  for (const type of [0, 6]) {
    it(`tx_build_invalid_extra_type_${type}`, async () => {
      const h = await harness();
      h.fe.packet({ frame: makeFrame(60), extras: [{ type }] });
      h.fe.publish();
      await expectFatal(h, 'NETBACK_FATAL_EXTRA_BAD_TYPE');
    });
  }

  it('tx_build_invalid_gso_size_0', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(60), extras: [gsoExtra(0, 1)] });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_GSO_SIZE_ZERO');
  });

  it('tx_build_invalid_gso_type_3', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(60), extras: [gsoExtra(1448, 3)] });
    h.fe.publish();
    await expectFatal(h, 'NETBACK_FATAL_GSO_BAD_TYPE');
  });

  it('tx_build_invalid_disabled_refuses_builds', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(60), extras: [{ type: 0 }] });
    h.fe.publish();
    expect(batch(h).built.fatal?.status).toBe(status(h.instance, 'FATAL_EXTRA_BAD_TYPE'));
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    for (let i = 0; i < 2; i++) expect(h.tx.build().fatal?.code).toBe('NETBACK_FATAL_DISABLED');
    expect(h.fe.responses()).toEqual([]);
  });
});

describe('tx_commit', () => {
  it('tx_commit_copyerror_one_op', async () => {
    const h = await harness();
    const a = h.fe.packet({ frame: makeFrame(100, 1) });
    const b = h.fe.packet({ frame: makeFrame(3000, 2), slots: [1000, 0, 2000], extras: [gsoExtra(1000, 1)] });
    const c = h.fe.packet({ frame: makeFrame(100, 3) });
    h.fe.publish();
    // ops: a=0, b=1 (first), 2 (third slot; the empty one has no op), c=3
    const { built, responses } = batch(h, {}, { failOps: [2] });
    expect(built.ops).toBe(4);
    const packets = h.tx.packets();
    expect(packets.map((p) => p.status)).toEqual([0, status(h.instance, 'DROP_COPY_FAILED'), 0]);
    expect(h.tx.frame(packets[0]!)).toEqual(a.frame);
    expect(h.tx.frame(packets[2]!)).toEqual(c.frame);
    // the empty follower was answered OKAY without a copy, as Linux does at build time
    expect(answers(responses)).toEqual([
      ...expectedAnswers(a, RSP_OKAY), ...expectedAnswers(b, [RSP_ERROR, RSP_OKAY, RSP_ERROR]), ...expectedAnswers(c, RSP_OKAY),
    ]);
    expect(counter(h.instance, 'tx_drop_copy_failed')).toBe(1);
    expect(counter(h.instance, 'tx_ring_packets')).toBe(2);
  });

  it('tx_commit_copyerror_bad_gref', async () => {
    const h = await harness();
    h.fe.request({ gref: 9999, size: 60 });
    h.fe.publish();
    const { responses } = batch(h);
    expect(responses.map((r) => r.status)).toEqual([RSP_ERROR]);
  });

  it('tx_commit_copyerror_whole_call', async () => {
    const h = await harness();
    const sent = [h.fe.packet({ frame: makeFrame(60) }), h.fe.packet({ frame: makeFrame(200), slots: [100, 100] })];
    h.fe.publish();
    const { responses } = batch(h, {}, { failCall: true });
    expect(answers(responses)).toEqual(sent.flatMap((s) => expectedAnswers(s, RSP_ERROR)));
    expect(counter(h.instance, 'tx_ring_packets')).toBe(0);
  });

  it('tx_commit_nospace_credit', async () => {
    const h = await harness();
    const a = h.fe.packet({ frame: makeFrame(100, 1) });
    const b = h.fe.packet({ frame: makeFrame(100, 2) });
    h.fe.publish();
    const first = batch(h, { credit: 150 });
    expect(first.built).toMatchObject({ packets: 1, slots: 1, creditUsed: 100, creditBlocked: 100 });
    expect(answers(first.responses)).toEqual(expectedAnswers(a, RSP_OKAY));
    expect(first.committed.morePending).toBe(true);
    expect(counter(h.instance, 'tx_credit_blocked')).toBe(1);
    const second = batch(h, { credit: 100 });
    expect(second.built).toMatchObject({ packets: 1, creditUsed: 100, creditBlocked: 0 });
    expectFrames(h, [b]);
    expect(answers(second.responses)).toEqual(expectedAnswers(b, RSP_OKAY));
    expect(second.committed.morePending).toBe(false);
  });

  it('tx_commit_nospace_credit_zero', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    const { built, responses } = batch(h, { credit: 0 });
    expect(built).toMatchObject({ packets: 0, slots: 0, creditBlocked: 60 });
    expect(responses).toEqual([]);
  });

  it('tx_commit_responses_one_per_slot', async () => {
    const h = await harness(0x7FFFFFF0);
    const mixed: SentPacket[] = [];
    mixed.push(h.fe.packet({ frame: makeFrame(4000), slots: [1000, 3000], extras: [gsoExtra(1448, 1), hashExtra(0, 7)] }));
    mixed.push(chain(h, 20)); // dropped
    mixed.push(h.fe.packet({ frame: makeFrame(500), slots: [100, 0, 400] }));
    const addId = h.fe.allocId();
    const add = h.fe.writeRequest({ gref: 0, offset: 0, flags: NETTXF_EXTRA_INFO, id: addId, size: 0 });
    h.fe.writeExtra(mcastAddExtra([1, 2, 3, 4, 5, 6]));
    mixed.push(h.fe.packet({ frame: makeFrame(13) })); // dropped
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built.slots).toBe(h.fe.reqProd - 0x7FFFFFF0);
    expect(h.fe.rspProd).toBe(h.fe.reqProd);
    // every consumed index answered exactly once, in order
    expect(responses.map((r) => r.index)).toEqual(Array.from({ length: built.slots }, (_, i) => 0x7FFFFFF0 + i));
    // every data request's id answered exactly once, extras NULL
    const dataIds = [...h.fe.sent.entries()].filter(([, v]) => v !== 'extra').map(([index, v]) => ({ index, id: (v as { id: number }).id }));
    const answered = responses.filter((r) => r.status !== RSP_NULL).map((r) => ({ index: r.index, id: r.id }));
    expect(answered).toEqual(dataIds);
    expect(new Set(answered.map((a) => a.id)).size).toBe(answered.length);
    const extras = [...h.fe.sent.entries()].filter(([, v]) => v === 'extra').map(([index]) => index);
    expect(responses.filter((r) => r.status === RSP_NULL).map((r) => r.index)).toEqual(extras);
    expect(answers(responses).find((r) => r.index === add)).toEqual({ index: add, id: addId, status: RSP_OKAY });
    expect(mixed[1]!.dataIndices.map((i) => responses.find((r) => r.index === i)!.status)).toEqual(sizes(20, RSP_ERROR));
    // a second commit cannot answer anything again
    expect(() => h.tx.commit()).toThrow(KernelUsageError);
    expect(h.fe.responses()).toEqual([]);
  });

  it('tx_commit_rsp_event', async () => {
    const h = await harness(1000);
    h.fe.rspEvent = 1003; // wants an event once the third response is out
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    expect(batch(h).committed.notify).toBe(false); // rsp_prod 1000 -> 1001
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    expect(batch(h).committed.notify).toBe(true); // 1001 -> 1003 covers 1003
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    expect(batch(h).committed.notify).toBe(false); // 1003 -> 1004, event already passed
  });

  it('tx_commit_final_check_sees_late_request', async () => {
    const h = await harness();
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    h.tx.build();
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish(); // published while the batch was in flight
    h.grants.execute(h.instance, h.tx.opsAddress, 1);
    expect(h.tx.commit().morePending).toBe(true);
    batch(h);
    expect(h.fe.reqEvent).toBe(3);
  });

  it('tx_commit_copy_once', async () => {
    // XSA-155: rewriting a slot after tx_build must change neither the plan nor the responses
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(300), slots: [200, 100] });
    h.fe.publish();
    const built = h.tx.build();
    const evil = h.grants.grant(makeFrame(4096, 9));
    h.fe.writeRequest({ gref: evil, offset: 3000, flags: NETTXF_MORE_DATA, id: 99, size: 4000 }, 0);
    h.fe.writeRequest({ gref: evil, offset: 4000, flags: NETTXF_MORE_DATA, id: 98, size: 3000 }, 1);
    expect(h.tx.ops().map((o) => [o.gref, o.guestOffset, o.length])).toEqual([[sent.grefs[0], 0, 200], [sent.grefs[1], 0, 100]]);
    h.grants.execute(h.instance, h.tx.opsAddress, built.ops);
    h.tx.commit();
    expectFrames(h, [sent]);
    expect(answers(h.fe.responses())).toEqual(expectedAnswers(sent, RSP_OKAY));
  });

  it('tx_commit_zero_length_follower', async () => {
    // XSA-448: an empty following slot is answered OKAY and gets no op
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(100), slots: [60, 0, 40, 0] });
    h.fe.publish();
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 1, ops: 2, slots: 4 });
    expect(h.tx.ops().every((o) => o.length > 0)).toBe(true);
    expectFrames(h, [sent]);
    expect(answers(responses)).toEqual(expectedAnswers(sent, RSP_OKAY));
    expect(counter(h.instance, 'tx_zero_length_slots')).toBe(2);
  });

  it('tx_commit_without_build', async () => {
    const h = await harness();
    expect(() => h.tx.commit()).toThrow(KernelUsageError);
  });

  it('tx_commit_unexecuted_plan_drops', async () => {
    const h = await harness();
    const sent = h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    h.tx.build();
    h.tx.commit();
    expect(answers(h.fe.responses())).toEqual(expectedAnswers(sent, RSP_ERROR));
  });

  it('tx_build_twice_without_commit', async () => {
    const h = await harness();
    h.tx.build();
    expect(() => h.tx.build()).toThrow(KernelUsageError);
  });
});

describe('tx_attach', () => {
  it('tx_attach_refuses_inconsistent_ring', async () => {
    const h = await harness(50);
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.publish();
    batch(h);
    const cons = h.instance.fn('tx_req_cons')();
    h.fe.publish(51 + 257); // rsp_prod is 51
    expect(() => h.tx.attach()).toThrow(FrontendFatalError);
    try { h.tx.attach(); } catch (e) { expect((e as FrontendFatalError).code).toBe('NETBACK_FATAL_RING_INCONSISTENT'); }
    expect(h.instance.fn('tx_req_cons')()).toBe(cons);
  });

  it('tx_attach_at_rsp_prod_after_reconnect', async () => {
    const h = await harness(0xFFFFFFF0);
    h.fe.packet({ frame: makeFrame(60) });
    h.fe.request({ size: 60, flags: NETTXF_EXTRA_INFO, id: 1 });
    h.fe.writeExtra({ type: 0 });
    h.fe.publish();
    expect(batch(h).built.fatal).toBeDefined();
    // reconnect: the frontend starts over at the current rsp_prod with pending requests
    h.tx.attach();
    const sent = h.fe.packet({ frame: makeFrame(60) });
    // overwrite the bad request with a good one at the same index
    h.fe.writeRequest({ gref: sent.grefs[0]!, offset: 0, flags: 0, id: 5, size: 60 }, 0xFFFFFFF1);
    h.fe.writeRequest({ gref: sent.grefs[0]!, offset: 0, flags: 0, id: 6, size: 60 }, 0xFFFFFFF2);
    h.fe.publish(0xFFFFFFF3);
    const { built, responses } = batch(h);
    expect(built).toMatchObject({ packets: 2, fatal: undefined });
    expect(responses.map((r) => [r.index, r.id, r.status])).toEqual([[0xFFFFFFF1, 5, RSP_OKAY], [0xFFFFFFF2, 6, RSP_OKAY]]);
  });
});

describe('tx kernels (debug build)', () => {
  it('tx_build_debug_no_assertion_trips', async () => {
    const h = await harness(0xFFFFFF00, 'debug');
    const sent = [
      h.fe.packet({ frame: makeFrame(3000), slots: [1000, 0, 2000], flags: NETTXF_CSUM_BLANK, extras: [gsoExtra(1448, 2), hashExtra(2, 3)] }),
      h.fe.packet({ frame: makeFrame(60) }),
    ];
    chain(h, 21);
    h.fe.writeRequest({ gref: 0, offset: 0, flags: NETTXF_EXTRA_INFO, id: h.fe.allocId(), size: 0 });
    h.fe.writeExtra(mcastAddExtra([1, 0, 0x5E, 1, 2, 3]));
    h.fe.publish();
    const { built } = batch(h);
    expect(built).toMatchObject({ packets: 2, drops: 1, fatal: undefined });
    expectFrames(h, sent);
    h.fe.packet({ frame: makeFrame(60), extras: [{ type: 6 }] });
    h.fe.publish();
    expect(batch(h).built.fatal?.code).toBe('NETBACK_FATAL_EXTRA_BAD_TYPE');
  });
});

describe('bench_tx_parse', () => {
  it('bench_tx_parse_counts_slots', async () => {
    const h = await harness();
    for (let i = 0; i < 8; i++) h.fe.packet({ frame: makeFrame(1514, i), slots: [514, 1000], extras: [gsoExtra(1448, 1)] });
    h.fe.publish();
    expect(h.tx.benchParse(5)).toBe(5 * 8 * 3);
    expect(h.tx.benchParse(2)).toBe(2 * 8 * 3); // repeated calls measure the same ring
  });
});
