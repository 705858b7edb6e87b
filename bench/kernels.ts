// The kernel benchmarks: each runs a bench_* loop inside Wasm on data already in linear memory,
// so what is measured is the kernel, not the JS↔Wasm call. Inputs come from the same frame
// builder the tests use.

import type { Kernels } from '../src/index.js';
import { TxRingKernel } from '../src/wasm/tx-ring.js';
import { buildFrame, pseudoRandomBytes } from '../test/reference/frames.js';
import { TestGrantTable } from '../test/support/grant-table.js';
import { gsoExtra, makeFrame, TxFrontend } from '../test/support/tx-frontend.js';
import { bestRate, row, type BenchRow, type TimingOptions } from './harness.js';

export interface KernelBench {
  group: string;
  run(k: Kernels, timing: TimingOptions): BenchRow[];
}

const ENGINE_NOTE = `AssemblyScript, Node ${process.version} (V8), one core, cache-hot`;

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
      rows.push(row('csum_raw', 'raw_cksum', 'wasm_simd128', size, rate, size, ENGINE_NOTE));
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
    return [64, 1500].map((size) => {
      const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: size - 54, checksum: 'pseudo' });
      instance.write(at, frame, at, instance.constant('SCRATCH_SIZE'));
      const rate = bestRate((n) => bench(at, frame.length, n), timing);
      return row('csum_l4', 'csum_complete_tcp4', 'wasm_simd128', size, rate, size, ENGINE_NOTE);
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
    return shapes.map(({ ip, gsoType, mss, segments, kernel }) => {
      const payload = mss * segments;
      const { frame } = buildFrame({ ip, l4: 'tcp', payload, tcpOptionBytes: 12, checksum: 'pseudo' });
      instance.write(at, frame, at, instance.constant('SCRATCH_SIZE'));
      const produced = bench(at, frame.length, gsoType, mss, 1);
      if (produced !== segments) throw new Error(`${kernel}: ${produced} segments, expected ${segments}`);
      const rate = bestRate((n) => bench(at, frame.length, gsoType, mss, n), timing);
      return row('gso', kernel, 'wasm_simd128', payload, rate * segments, payload / segments,
        `${segments} segments of MSS ${mss}, copy + full checksums; GBps = TCP payload; Mops = segments/s; ${ENGINE_NOTE}`);
    });
  },
};

// Guest TX: a full ring parsed, validated, planned and answered per round (the ring is restored
// inside Wasm between rounds). Small frames take one slot each; a 64 KiB GSO frame takes a GSO
// extra and 17 data slots (first slot 1024 bytes, then 16 of 4096 minus what the first took).
const txParse: KernelBench = {
  group: 'tx_parse',
  run(k, timing) {
    const shapes: [label: string, size: number, fill: (fe: TxFrontend) => void][] = [
      ['64B', 64, (fe) => { for (let i = 0; i < 256; i++) fe.packet({ frame: makeFrame(64, i) }); }],
      ['64KiB_gso', 65535, (fe) => {
        const slots = [1024, ...Array.from({ length: 15 }, () => 4096), 65535 - 1024 - 15 * 4096];
        for (let i = 0; i < 14; i++) fe.packet({ frame: makeFrame(65535, i), slots, extras: [gsoExtra(1448, 1)] });
      }],
    ];
    return shapes.map(([label, size, fill]) => {
      const tx = new TxRingKernel(k.instance);
      const frontend = new TxFrontend(k.instance, new TestGrantTable());
      fill(frontend);
      frontend.publish();
      tx.attach();
      const slotsPerRound = tx.benchParse(1);
      const rounds = bestRate((n) => tx.benchParse(n), timing);
      return row('tx_parse', `tx_build_commit_${label}`, 'wasm', size, rounds * slotsPerRound, 0,
        `${slotsPerRound} slots per round (a full ring); Mops = M slots/s; ${ENGINE_NOTE}`);
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
      const bytes = buildFrame({ ip, l4: 'tcp', payload: 64 }).frame;
      instance.write(frame, bytes, frame, instance.constant('RX_BUF_SIZE'));
      const rate = bestRate((n) => bench(frame, bytes.length, n), timing);
      return row('flow_hash', ip === 4 ? 'flow_hash_ipv4_tcp' : 'flow_hash_ipv6_tcp', 'wasm', bytes.length, rate, bytes.length, `headers + Toeplitz; ${ENGINE_NOTE}`);
    });
  },
};

export const KERNEL_BENCHES: readonly KernelBench[] = [rawChecksum, l4Checksum, segmentation, txParse, rxPack, toeplitz, flowHash];
