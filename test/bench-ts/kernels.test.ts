// The pure-TypeScript kernels that `bench` compares the Wasm ones with must compute the same
// thing: checked against the test references (test/reference), which share no code with them.
import { describe, expect, it } from 'vitest';
import { completeChecksum, internetChecksum, onesSum } from '../../src/bench-ts/checksum.js';
import { segmentTcp, tsoScratch } from '../../src/bench-ts/tso.js';
import { TsTxParser } from '../../src/bench-ts/tx-parse.js';
import { fillTxRing } from '../../src/bench/tx-ring-fill.js';
import { internetChecksum as referenceChecksum } from '../reference/checksum.js';
import { buildFrame, l4ChecksumValid, pseudoRandomBytes } from '../reference/frames.js';
import { referenceSegment } from '../reference/segment.js';

function aligned(bytes: Uint8Array, pad = 0): { bytes: Uint8Array; words: Uint32Array } {
  const buffer = new ArrayBuffer((bytes.length + pad + 3) & ~3);
  const copy = new Uint8Array(buffer);
  copy.set(bytes, pad);
  return { bytes: copy, words: new Uint32Array(buffer) };
}

describe('pure-TypeScript bench kernels', () => {
  it('ts_checksum_matches_reference_every_alignment_and_length', () => {
    for (const length of [0, 1, 2, 3, 5, 63, 64, 65, 1500, 9001, 70001]) {
      const data = pseudoRandomBytes(length, length + 7);
      for (const pad of [0, 1, 2, 3]) {
        const { bytes, words } = aligned(data, pad);
        expect(internetChecksum(bytes, words, pad, pad + length), `len ${length} pad ${pad}`).toBe(referenceChecksum(data));
      }
    }
  });

  it('ts_checksum_all_ones_input_does_not_overflow', () => {
    const data = new Uint8Array(256 * 1024).fill(0xff);
    const { bytes, words } = aligned(data);
    expect(onesSum(bytes, words, 0, data.length)).toBe(0xffff);
    expect(internetChecksum(bytes, words, 0, data.length)).toBe(referenceChecksum(data));
  });

  it('ts_csum_complete_tcp_udp_v4_v6', () => {
    for (const ip of [4, 6] as const) {
      for (const l4 of ['tcp', 'udp'] as const) {
        for (const payload of [0, 1, 100, 1459]) {
          const { frame } = buildFrame({ ip, l4, payload, checksum: 'pseudo' });
          const { bytes, words } = aligned(frame);
          expect(completeChecksum(bytes, words, 0, frame.length)).toBe(0);
          expect(l4ChecksumValid(bytes.slice(0, frame.length)), `${ip} ${l4} ${payload}`).toBe(true);
        }
      }
    }
  });

  it('ts_tso_matches_reference_segmentation', () => {
    for (const [ip, mss, payload] of [[4, 1448, 45 * 1448], [6, 1428, 45 * 1428], [4, 1000, 2500], [6, 536, 537]] as const) {
      const { frame } = buildFrame({ ip, l4: 'tcp', payload, tcpOptionBytes: 12, checksum: 'pseudo', tcpFlags: 0x80 | 0x18 | 0x01 });
      const out = tsoScratch(Math.ceil(payload / mss) * (mss + 128));
      const count = segmentTcp(frame, 0, frame.length, mss, out);
      const expected = referenceSegment(frame, mss);
      expect(count).toBe(expected.length);
      expected.forEach((segment, s) => {
        const got = out.bytes.slice(out.offsets[s]!, out.offsets[s]! + out.lengths[s]!);
        expect([...got], `ip${ip} segment ${s}`).toEqual([...segment.frame]);
      });
    }
  });

  it('ts_tx_parse_answers_a_full_ring_okay', () => {
    for (const [shape, slots, packets] of [['64B', 256, 256], ['64KiB_gso', 252, 14]] as const) {
      const ring = new Uint8Array(4096);
      expect(fillTxRing(ring, shape)).toBe(slots);
      const parser = new TsTxParser(ring);
      expect(parser.attach()).toBe(0);
      expect(parser.build(256, 20)).toBe(packets);
      expect(parser.slots).toBe(slots);
      parser.opStatus.fill(0);
      parser.commit();
      const view = new DataView(ring.buffer);
      expect(view.getUint32(8, true)).toBe(slots); // rsp_prod pushed
      let okay = 0, nulls = 0;
      for (let i = 0; i < slots; i++) {
        const status = view.getInt16(64 + i * 12 + 2, true);
        if (status === 0) okay++;
        else if (status === 1) nulls++;
      }
      expect(okay + nulls).toBe(slots);
      expect(nulls).toBe(shape === '64B' ? 0 : 14); // one GSO extra per packet
      expect(parser.txPackets).toBe(packets);
    }
  });

  it('ts_tx_parse_fatal_on_a_22_slot_chain', () => {
    const ring = new Uint8Array(4096);
    const view = new DataView(ring.buffer);
    for (let i = 0; i < 22; i++) {
      const p = 64 + i * 12;
      view.setUint16(p + 6, i < 21 ? 0x4 : 0, true);
      view.setUint16(p + 10, i === 0 ? 2200 : 100, true);
    }
    view.setUint32(0, 22, true);
    const parser = new TsTxParser(ring);
    parser.attach();
    expect(parser.build(256, 20)).toBeLessThan(0);
  });
});
