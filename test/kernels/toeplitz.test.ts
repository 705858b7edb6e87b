// Toeplitz hash (assembly/hash/toeplitz.ts) against Microsoft's published RSS verification data
// and a plain bit-by-bit reference (test/reference/toeplitz.ts).
// The vectors and their source: test/reference/rss-vectors.ts.

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { Kernels } from '../../src/wasm/kernels.js';
import { be16 as port, ipv4Bytes as ipv4, ipv6Bytes as ipv6, MS_RSS_KEY as MS_KEY, RSS_IPV4 as IPV4, RSS_IPV6 as IPV6 } from '../reference/rss-vectors.js';
import { toeplitzReference } from '../reference/toeplitz.js';

let module: WebAssembly.Module;
let k: Kernels;
beforeAll(async () => {
  module = await compileKernels(await readKernels('release'));
  k = new Kernels(await instantiateKernels(module));
});

describe('Toeplitz hash', () => {
  it('toeplitz_ms_ipv4', () => {
    for (const [dst, , src, , expected] of IPV4) {
      const input = Uint8Array.from([...ipv4(src), ...ipv4(dst)]);
      expect(k.toeplitz(MS_KEY, input), `${src} -> ${dst}`).toBe(expected);
      expect(toeplitzReference(MS_KEY, input)).toBe(expected);
    }
  });

  it('toeplitz_ms_ipv4_tcp', () => {
    for (const [dst, dport, src, sport, , expected] of IPV4) {
      const input = Uint8Array.from([...ipv4(src), ...ipv4(dst), ...port(sport), ...port(dport)]);
      expect(k.toeplitz(MS_KEY, input), `${src}:${sport} -> ${dst}:${dport}`).toBe(expected);
      expect(toeplitzReference(MS_KEY, input)).toBe(expected);
    }
  });

  it('toeplitz_ms_ipv6', () => {
    for (const [dst, , src, , expected] of IPV6) {
      const input = Uint8Array.from([...ipv6(src), ...ipv6(dst)]);
      expect(k.toeplitz(MS_KEY, input), `${src} -> ${dst}`).toBe(expected);
      expect(toeplitzReference(MS_KEY, input)).toBe(expected);
    }
  });

  it('toeplitz_ms_ipv6_tcp', () => {
    for (const [dst, dport, src, sport, , expected] of IPV6) {
      const input = Uint8Array.from([...ipv6(src), ...ipv6(dst), ...port(sport), ...port(dport)]);
      expect(input).toHaveLength(36);
      expect(k.toeplitz(MS_KEY, input), `${src} -> ${dst}`).toBe(expected);
      expect(toeplitzReference(MS_KEY, input)).toBe(expected);
    }
  });

  it('toeplitz_random_matches_reference', () => {
    let s = 0x12345678;
    const rnd = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s >>> 24;
    };
    for (let n = 0; n < 2000; n++) {
      const keyLen = rnd() % 41; // 0..40, including keys shorter than the input needs
      const inLen = rnd() % 37; // 0..36
      const key = Uint8Array.from({ length: keyLen }, rnd);
      const input = Uint8Array.from({ length: inLen }, rnd);
      expect(k.toeplitz(key, input), `key ${Buffer.from(key).toString('hex')} input ${Buffer.from(input).toString('hex')}`).toBe(toeplitzReference(key, input));
    }
  });

  it('toeplitz_clamps_lengths', () => {
    // lengths past the limits never read past 40 key / 36 input bytes
    const key = Uint8Array.from({ length: 48 }, (_, i) => (i * 37 + 11) & 0xff);
    const input = Uint8Array.from({ length: 40 }, (_, i) => (i * 91 + 3) & 0xff);
    expect(k.toeplitz(key, input)).toBe(toeplitzReference(key.subarray(0, 40), input.subarray(0, 36)));
  });

  it('toeplitz_hash_outside_the_packet_buffers_is_a_bad_argument', () => {
    const inst = k.instance;
    const bad = inst.constant('STATUS_BAD_ARGUMENT');
    const scratch = inst.constant('SCRATCH_OFFSET');
    const scratchEnd = scratch + inst.constant('SCRATCH_SIZE');
    const cases: [number, number, number, number][] = [
      [inst.bytes.length - 4, 40, scratch, 12], [scratch, 40, 0xFFFFFFFF, 36], [inst.constant('RX_RING_OFFSET'), 40, scratch, 12],
      [scratch, 40, scratchEnd - 35, 0x10000], // the input clamped to 36 bytes still runs past the scratch
    ];
    for (const [key, keyLen, input, inputLen] of cases) {
      expect(inst.fn('toeplitz_hash')(key, keyLen, input, inputLen), `${key}+${keyLen} ${input}+${inputLen}`).toBe(bad);
      expect(inst.fn('bench_toeplitz')(key, keyLen, input, inputLen, 1) | 0).toBe(bad);
    }
    expect(inst.fn('toeplitz_hash')(scratch, 40, scratchEnd - 36, 0x10000)).toBe(0);
  });

  it('toeplitz_debug_build_and_bench', async () => {
    const dk = new Kernels(await instantiateKernels(await compileKernels(await readKernels('debug'))));
    const input = Uint8Array.from([...ipv4('66.9.149.187'), ...ipv4('161.142.100.80'), ...port(2794), ...port(1766)]);
    expect(dk.toeplitz(MS_KEY, input)).toBe(0x51ccc178);
    const inst: KernelInstance = dk.instance;
    const scratch = inst.constant('SCRATCH_OFFSET');
    // bench_toeplitz XORs hash + i over the iterations: 2 iterations → h ^ (h + 1)
    const h = 0x51ccc178;
    expect(inst.fn('bench_toeplitz')(scratch, 40, scratch + 40, 12, 2) >>> 0).toBe((h ^ ((h + 1) >>> 0)) >>> 0);
  });
});
