import { beforeAll, describe, expect, it } from 'vitest';
import { loadKernels, type Kernels } from '../../src/index.js';
import { internetChecksum } from '../reference/checksum.js';
import { pseudoRandomBytes } from '../reference/frames.js';

let k: Kernels;
beforeAll(async () => { k = await loadKernels(); });

// 0x0000 and 0xffff are the same value in ones'-complement arithmetic (RFC 1071 §2(A)); the
// kernel and the reference may legitimately choose either for an all-zero sum.
function sameChecksum(a: number, b: number): boolean {
  return a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);
}

describe('inet_checksum', () => {
  it('inet_checksum_rfc1071_example', () => {
    // The IPv4 header of the classic worked example: its checksum field is 0xb861.
    const header = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    expect(k.internetChecksum(header)).toBe(0xb861);
  });

  it('inet_checksum_empty_and_one_byte', () => {
    expect(k.internetChecksum(new Uint8Array(0))).toBe(0xffff);
    expect(k.internetChecksum(Uint8Array.from([0x12]))).toBe(~0x1200 & 0xffff);
  });

  it('inet_checksum_all_ones', () => {
    for (const length of [2, 64, 1500, 65536]) expect(sameChecksum(k.internetChecksum(new Uint8Array(length).fill(0xff)), 0)).toBe(true);
  });

  it('inet_checksum_matches_reference_at_every_alignment', () => {
    const data = pseudoRandomBytes(65536 + 16, 99);
    const lengths = [...Array.from({ length: 140 }, (_, i) => i * 15), 60000, 63999, 65520, 65536];
    for (const length of lengths) {
      for (let align = 0; align < 16; align += length > 4000 ? 5 : 1) {
        const slice = data.subarray(align, align + length);
        expect(sameChecksum(k.internetChecksum(slice), internetChecksum(slice)), `len ${length} align ${align}`).toBe(true);
      }
    }
  });

  it('inet_checksum_bias_extremes', () => {
    // Words at both ends of the signed range stress the biased pmaddwd sum.
    for (const fill of [0x00, 0x7f, 0x80, 0xff]) {
      const data = new Uint8Array(4096 + 7);
      for (let i = 0; i < data.length; i++) data[i] = i % 2 ? fill : 0xff - fill;
      expect(sameChecksum(k.internetChecksum(data), internetChecksum(data)), `fill ${fill}`).toBe(true);
    }
  });
});
