// Toeplitz hash (assembly/hash/toeplitz.ts) against Microsoft's published RSS verification data
// and a plain bit-by-bit reference (test/reference/toeplitz.ts).
//
// Vectors: Microsoft, "Verifying the RSS Hash Calculation" (Windows hardware docs,
// learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation):
// the documented 40-byte secret key and, per row, destination/source address:port with the
// expected IPv4-only / IPv4-with-TCP and IPv6-only / IPv6-with-TCP hashes. The hashed input is
// source address, destination address, source port, destination port (RSS hashing functions page,
// and netif.h's XEN_NETIF_CTRL_HASH_TYPE_* buffer layouts, which use the same order).

import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, type KernelInstance } from '../../src/wasm/module.js';
import { readKernels } from '../../src/wasm/node-source.js';
import { Kernels } from '../../src/wasm/kernels.js';
import { toeplitzReference } from '../reference/toeplitz.js';

const MS_KEY = Uint8Array.from(Buffer.from('6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa', 'hex'));

const IPV4: [dst: string, dport: number, src: string, sport: number, ipOnly: number, ipTcp: number][] = [
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

const IPV6: [dst: string, dport: number, src: string, sport: number, ipOnly: number, ipTcp: number][] = [
  ['3ffe:2501:200:3::1', 1766, '3ffe:2501:200:1fff::7', 2794, 0x2cc18cd5, 0x40207d3d],
  ['ff02::1', 4739, '3ffe:501:8::260:97ff:fe40:efab', 14230, 0x0f0c461c, 0xdde51bbf],
  ['fe80::200:f8ff:fe21:67cf', 38024, '3ffe:1900:4545:3:200:f8ff:fe21:67cf', 44251, 0x4b61e985, 0x02d1feef],
];

function ipv4(s: string): number[] {
  return s.split('.').map(Number);
}

function ipv6(s: string): number[] {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  expect(groups).toHaveLength(8);
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

const port = (p: number): number[] => [p >> 8, p & 0xff];

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
