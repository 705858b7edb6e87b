// The kernel benchmarks: each runs a bench_* loop inside Wasm on data already in linear memory,
// so what is measured is the kernel, not the JS↔Wasm call; where a pure-TypeScript version of
// the same kernel exists (src/bench-ts/) it runs on the same input right after, as an `ts` row.

import type { Kernels } from '../wasm/kernels.js';
import { TxRingKernel } from '../wasm/tx-ring.js';
import { buildFrame, pseudoRandomBytes } from '../sim/frames.js';
import { completeChecksum, internetChecksum } from '../bench-ts/checksum.js';
import { segmentTcp, tsoScratch } from '../bench-ts/tso.js';
import { TsTxParser } from '../bench-ts/tx-parse.js';
import { bestRate, row, type BenchRow, type TimingOptions } from './harness.js';
import { fillTxRing, type TxRingShape } from './tx-ring-fill.js';

export interface KernelBench {
  group: string;
  run(k: Kernels, timing: TimingOptions): BenchRow[];
}

const ENGINE_NOTE = `AssemblyScript, Node ${process.version} (V8), one core, cache-hot`;
const TS_NOTE = `pure TypeScript (src/bench-ts), Node ${process.version} (V8), one core, cache-hot`;

/** A 4-aligned private buffer with its byte and word views, for the TypeScript kernels. */
function aligned(bytes: Uint8Array): { bytes: Uint8Array; words: Uint32Array } {
  const buffer = new ArrayBuffer((bytes.length + 3) & ~3);
  const copy = new Uint8Array(buffer);
  copy.set(bytes);
  return { bytes: copy, words: new Uint32Array(buffer) };
}

const rawChecksum: KernelBench = {
  group: 'csum_raw',
  run(k, timing) {
    const instance = k.instance;
    const buffer = instance.constant('SCRATCH_OFFSET');
    const rows: BenchRow[] = [];
    for (const size of [64, 1500, 9000, 65536]) {
      instance.write(buffer, pseudoRandomBytes(size, size), buffer, instance.constant('SCRATCH_SIZE'));
      const bench = instance.fn('bench_inet_checksum');
      const rate = bestRate((n) => bench(buffer, size, n), timing);
      rows.push(row('csum_raw', 'raw_cksum', 'wasm', size, rate, size, `simd128; ${ENGINE_NOTE}`));
      const ts = aligned(pseudoRandomBytes(size, size));
      const tsRate = bestRate((n) => { for (let i = 0; i < n; i++) internetChecksum(ts.bytes, ts.words, 0, size); }, timing);
      rows.push(row('csum_raw', 'raw_cksum', 'ts', size, tsRate, size, TS_NOTE));
    }
    return rows;
  },
};

// L4 checksum completion of a csum_blank IPv4/TCP frame (parse + sum + store, the pseudo sum
// restored inside the loop).
const l4Checksum: KernelBench = {
  group: 'csum_l4',
  run(k, timing) {
    const instance = k.instance;
    const at = instance.constant('SCRATCH_OFFSET');
    const bench = instance.fn('bench_csum_complete');
    return [64, 1500].flatMap((size) => {
      const frame = buildFrame({ ip: 4, l4: 'tcp', payload: size - 54, checksum: 'pseudo' });
      instance.write(at, frame, at, instance.constant('SCRATCH_SIZE'));
      const rate = bestRate((n) => bench(at, frame.length, n), timing);
      // The same loop as the Wasm bench: restore the pseudo sum, complete the checksum.
      const ts = aligned(frame);
      const hi = frame[50]!, lo = frame[51]!;
      const tsRate = bestRate((n) => {
        for (let i = 0; i < n; i++) { ts.bytes[50] = hi; ts.bytes[51] = lo; completeChecksum(ts.bytes, ts.words, 0, frame.length); }
      }, timing);
      return [
        row('csum_l4', 'csum_complete_tcp4', 'wasm', size, rate, size, `simd128; ${ENGINE_NOTE}`),
        row('csum_l4', 'csum_complete_tcp4', 'ts', size, tsRate, size, TS_NOTE),
      ];
    });
  },
};

// TSO of a 64 KiB frame into MSS-sized, fully checksummed frames (TCP with timestamps).
const segmentation: KernelBench = {
  group: 'gso',
  run(k, timing) {
    const instance = k.instance;
    const at = instance.constant('SCRATCH_OFFSET');
    const bench = instance.fn('bench_tso');
    const shapes = [
      { ip: 4 as const, gsoType: 1, mss: 1448, segments: 45, kernel: 'tso_tcp4' },
      { ip: 6 as const, gsoType: 2, mss: 1428, segments: 45, kernel: 'tso_tcp6' },
    ];
    return shapes.flatMap(({ ip, gsoType, mss, segments, kernel }) => {
      const payload = mss * segments;
      const frame = buildFrame({ ip, l4: 'tcp', payload, tcpOptionBytes: 12, checksum: 'pseudo' });
      instance.write(at, frame, at, instance.constant('SCRATCH_SIZE'));
      const produced = bench(at, frame.length, gsoType, mss, 1);
      if (produced !== segments) throw new Error(`${kernel}: ${produced} segments, expected ${segments}`);
      const rate = bestRate((n) => bench(at, frame.length, gsoType, mss, n), timing);
      const out = tsoScratch(segments * (mss + 128));
      if (segmentTcp(frame, 0, frame.length, mss, out) !== segments) throw new Error(`${kernel} (ts): wrong segment count`);
      const tsRate = bestRate((n) => { for (let i = 0; i < n; i++) segmentTcp(frame, 0, frame.length, mss, out); }, timing);
      const note = `${segments} segments of MSS ${mss}, copy + full checksums; GBps = TCP payload; Mops = segments/s`;
      return [
        row('gso', kernel, 'wasm', payload, rate * segments, payload / segments, `${note}; simd128; ${ENGINE_NOTE}`),
        row('gso', kernel, 'ts', payload, tsRate * segments, payload / segments, `${note}; ${TS_NOTE}`),
      ];
    });
  },
};

// Guest TX: a full ring parsed, validated, planned and answered per round (the ring is restored
// inside Wasm between rounds). Small frames take one slot each; a 64 KiB GSO frame takes a GSO
// extra and 17 data slots (first slot 1024 bytes, then 16 of 4096 minus what the first took).
const txParse: KernelBench = {
  group: 'tx_parse',
  run(k, timing) {
    const shapes: [label: TxRingShape, size: number][] = [['64B', 64], ['64KiB_gso', 65535]];
    return shapes.flatMap(([label, size]) => {
      const tx = new TxRingKernel(k.instance);
      const ringAt = k.instance.constant('TX_RING_OFFSET');
      fillTxRing(k.instance.bytes.subarray(ringAt, ringAt + 4096), label);
      tx.attach();
      const slotsPerRound = tx.benchParse(1);
      const rounds = bestRate((n) => tx.benchParse(n), timing);
      const ring = new Uint8Array(4096);
      fillTxRing(ring, label);
      const saved = ring.slice(64, 64 + 256 * 12);
      const parser = new TsTxParser(ring);
      parser.attach();
      const tsSlots = parser.benchParse(1, saved);
      if (tsSlots !== slotsPerRound) throw new Error(`tx_parse ${label}: ts parsed ${tsSlots} slots, wasm ${slotsPerRound}`);
      const tsRounds = bestRate((n) => parser.benchParse(n, saved), timing);
      const note = `${slotsPerRound} slots per round (a full ring); Mops = M slots/s`;
      return [
        row('tx_parse', `tx_build_commit_${label}`, 'wasm', size, rounds * slotsPerRound, 0, `${note}; ${ENGINE_NOTE}`),
        row('tx_parse', `tx_build_commit_${label}`, 'ts', size, tsRounds * tsSlots, 0, `${note}; ${TS_NOTE}`),
      ];
    });
  },
};

// Guest RX: one frame packed into posted requests and committed per iteration.
const rxPack: KernelBench = {
  group: 'rx_pack',
  run(k, timing) {
    const instance = k.instance;
    const frame = instance.constant('RX_BUF_OFFSET');
    const bench = instance.fn('bench_rx_pack');
    return [64, 1514, 65535].map((size) => {
      instance.write(frame, pseudoRandomBytes(size, 3), frame, instance.constant('RX_BUF_SIZE'));
      const rate = bestRate((n) => bench(frame, size, n), timing);
      return row('rx_pack', 'rx_pack_commit', 'wasm', size, rate, size, `GBps = frame bytes planned; ${ENGINE_NOTE}`);
    });
  },
};

// Toeplitz over the inputs netif.h hashes: IPv4+TCP (12 bytes) and IPv6+TCP (36 bytes).
const toeplitz: KernelBench = {
  group: 'toeplitz',
  run(k, timing) {
    const instance = k.instance;
    const key = instance.constant('SCRATCH_OFFSET');
    const input = key + 64;
    instance.write(key, pseudoRandomBytes(76, 5), key, instance.constant('SCRATCH_SIZE'));
    const bench = instance.fn('bench_toeplitz');
    return [12, 36].map((size) => {
      const rate = bestRate((n) => bench(key, 40, input, size, n), timing);
      return row('toeplitz', 'toeplitz_hash', 'wasm', size, rate, size, `40-byte key; ${ENGINE_NOTE}`);
    });
  },
};

// Flow hash of a frame for RX steering: header walk + Toeplitz (IPv4+TCP, IPv6+TCP), with the
// algorithm and every hash type enabled through two control requests (the key stays zero: the
// hash work does not depend on its bits).
const flowHash: KernelBench = {
  group: 'flow_hash',
  run(k, timing) {
    const instance = k.instance;
    const ring = instance.constant('CTRL_RING_OFFSET');
    const view = instance.view;
    for (let i = 0; i < 16; i++) view.setUint32(ring + i, 0);
    instance.call('ctrl_attach', 1);
    const requests: [number, number][] = [[7, 1], [2, 0xf]]; // SET_HASH_ALGORITHM Toeplitz, SET_HASH_FLAGS all
    requests.forEach(([type, data], i) => {
      view.setUint16(ring + 64 + i * 16 + 2, type, true);
      view.setUint32(ring + 64 + i * 16 + 4, data, true);
    });
    view.setUint32(ring, requests.length, true);
    instance.call('ctrl_process');
    const frame = instance.constant('RX_BUF_OFFSET');
    const bench = instance.fn('bench_flow_hash');
    return ([4, 6] as const).map((ip) => {
      const bytes = buildFrame({ ip, l4: 'tcp', payload: 64 });
      instance.write(frame, bytes, frame, instance.constant('RX_BUF_SIZE'));
      const rate = bestRate((n) => bench(frame, bytes.length, n), timing);
      return row('flow_hash', ip === 4 ? 'flow_hash_ipv4_tcp' : 'flow_hash_ipv6_tcp', 'wasm', bytes.length, rate, bytes.length, `headers + Toeplitz; ${ENGINE_NOTE}`);
    });
  },
};

export const KERNEL_BENCHES: readonly KernelBench[] = [rawChecksum, l4Checksum, segmentation, txParse, rxPack, toeplitz, flowHash];
