import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, KernelInstance, PacketDropError, readKernels } from '../../src/index.js';
import { Offload } from '../../src/wasm/offload.js';
import { internetChecksum, l4Checksum, onesSum, pseudoHeader } from '../reference/checksum.js';
import { buildFrame, l4ChecksumValid, parseFrame, pseudoRandomBytes, type FrameSpec, type Ipv6ExtensionHeader } from '../reference/frames.js';

let inst: KernelInstance;
let offload: Offload;
let frameAt: number;

beforeAll(async () => {
  inst = await instantiateKernels(await compileKernels(await readKernels('release')));
  offload = new Offload(inst);
  frameAt = inst.constant('SCRATCH_OFFSET') + 64;
});

const status = (name: string) => inst.constant(name);
const counter = (k: KernelInstance, name: string) =>
  Number(k.view.getBigUint64(k.constant('COUNTERS_OFFSET') + k.constant(`COUNTER_${name}`) * 8, true));

function place(k: KernelInstance, frame: Uint8Array, at = frameAt): void {
  k.write(at, frame, k.constant('SCRATCH_OFFSET'), k.constant('SCRATCH_SIZE'));
}

/** Runs a frame kernel on a copy of `frame` in memory; returns the status and the bytes after. */
function run(name: 'csum_complete' | 'csum_fill', frame: Uint8Array, k = inst): { status: number; frame: Uint8Array } {
  place(k, frame);
  const result = k.fn(name)(frameAt, frame.length);
  return { status: result, frame: k.read(frameAt, frame.length) };
}

type Proto = 'tcp4' | 'udp4' | 'tcp6' | 'udp6';
const PROTOS: Proto[] = ['tcp4', 'udp4', 'tcp6', 'udp6'];
const base = (p: Proto): Pick<FrameSpec, 'ip' | 'l4'> => ({ ip: p.endsWith('4') ? 4 : 6, l4: p.startsWith('tcp') ? 'tcp' : 'udp' });

/** The named variants each protocol is checked with. */
function variants(p: Proto): [string, FrameSpec][] {
  const b = base(p);
  const list: [string, FrameSpec][] = [
    ['', { ...b, payload: 100 }],
    ['_vlan1', { ...b, payload: 77, vlanTags: 1 }],
    ['_vlan2', { ...b, payload: 78, vlanTags: 2 }],
    ['_padded', { ...b, payload: 3, trailingPad: 9 }],
    ['_padded_vlan2', { ...b, payload: 1, trailingPad: 23, vlanTags: 2 }],
  ];
  for (const length of [0, 1, 2, 63, 64, 65, 1459, 65000]) list.push([`_len${length}`, { ...b, payload: length, seed: length + 3 }]);
  if (b.ip === 4) {
    list.push(['_ipopts', { ...b, payload: 51, ipv4OptionBytes: 12 }]);
    list.push(['_ipopts40_vlan1', { ...b, payload: 52, ipv4OptionBytes: 40, vlanTags: 1 }]);
  } else {
    const exts: Ipv6ExtensionHeader[] = ['hop', 'routing', 'dest', 'auth', 'fragment'];
    for (const ext of exts) list.push([`_ext_${ext === 'fragment' ? 'atomicfrag' : ext}`, { ...b, payload: 41, ipv6Extensions: [ext] }]);
    list.push(['_ext_all_vlan2', { ...b, payload: 99, vlanTags: 2, ipv6Extensions: ['hop', 'dest', 'routing', 'auth', 'fragment', 'dest'] }]);
  }
  if (b.l4 === 'tcp') {
    list.push(['_tcpopts', { ...b, payload: 20, tcpOptionBytes: 12 }]);
    list.push(['_tcpopts40_vlan1', { ...b, payload: 9, tcpOptionBytes: 40, vlanTags: 1 }]);
  }
  return list;
}

/** A payload whose TCP/UDP checksum comes out as 0: two payload bytes solved for the sum. */
function zeroSumSpec(p: Proto): FrameSpec {
  const payload = pseudoRandomBytes(40, 7);
  payload[0] = 0;
  payload[1] = 0;
  const spec: FrameSpec = { ...base(p), payload, checksum: 'zero' };
  const built = buildFrame(spec);
  const parsed = parseFrame(built.frame);
  const pseudo = pseudoHeader(parsed.ip, parsed.source, parsed.destination, parsed.protocol, parsed.l4End - parsed.l4);
  const sum = onesSum(built.frame.subarray(parsed.l4, parsed.l4End), onesSum(pseudo));
  const word = 0xffff - sum; // sum + word = 0xffff: the complement is 0
  payload[0] = word >> 8;
  payload[1] = word & 0xff;
  return { ...spec, payload };
}

describe('csum_complete', () => {
  for (const p of PROTOS) {
    for (const [suffix, spec] of variants(p)) {
      it(`csum_complete_${p}${suffix}`, () => {
        const input = buildFrame({ ...spec, checksum: 'pseudo' });
        const expected = buildFrame({ ...spec, checksum: 'full' });
        const { status: s, frame } = run('csum_complete', input.frame);
        expect(s).toBe(0);
        expect(l4ChecksumValid(frame)).toBe(true);
        const at = input.l4 + input.checksumOffset;
        expect(frame[at]! * 256 + frame[at + 1]!).toBe(expected.frame[at]! * 256 + expected.frame[at + 1]!);
        expect(Buffer.from(frame).equals(Buffer.from(expected.frame))).toBe(true);
      });
    }
  }

  for (const p of PROTOS) {
    it(`csum_complete_${p}_zero_sum`, () => {
      const spec = zeroSumSpec(p);
      const zero = buildFrame(spec);
      const parsed = parseFrame(zero.frame);
      const pseudo = pseudoHeader(parsed.ip, parsed.source, parsed.destination, parsed.protocol, parsed.l4End - parsed.l4);
      // precondition, from the reference alone: the true checksum of this payload is 0
      expect(l4Checksum(pseudo, zero.frame.subarray(parsed.l4, parsed.l4End), zero.checksumOffset)).toBe(0);
      const { status: s, frame } = run('csum_complete', buildFrame({ ...spec, checksum: 'pseudo' }).frame);
      expect(s).toBe(0);
      const at = zero.l4 + zero.checksumOffset;
      // RFC 768: UDP transmits a computed 0 as 0xFFFF (v4 and v6); TCP keeps 0
      expect(frame[at]! * 256 + frame[at + 1]!).toBe(spec.l4 === 'udp' ? 0xffff : 0);
      expect(l4ChecksumValid(frame)).toBe(true);
    });
  }

  it('csum_complete_drops', () => {
    const tcp4 = buildFrame({ ip: 4, l4: 'tcp', payload: 100, checksum: 'pseudo' }).frame;
    const cases: [string, Uint8Array, string][] = [
      ['fragment4', buildFrame({ ip: 4, l4: 'udp', payload: 40, fragment: true }).frame, 'STATUS_DROP_IP_FRAGMENT'],
      ['fragment6', buildFrame({ ip: 6, l4: 'tcp', payload: 40, ipv6Extensions: ['hop', 'fragment'], fragment: true }).frame, 'STATUS_DROP_IP_FRAGMENT'],
      ['icmp4', buildFrame({ ip: 4, l4: 1, payload: 40 }).frame, 'STATUS_DROP_NOT_TCP_UDP'],
      ['icmp6', buildFrame({ ip: 6, l4: 58, payload: 40 }).frame, 'STATUS_DROP_NOT_TCP_UDP'],
      ['arp', (() => { const f = tcp4.slice(); f[12] = 0x08; f[13] = 0x06; return f; })(), 'STATUS_DROP_NOT_IP'],
      ['truncated_eth', tcp4.subarray(0, 12), 'STATUS_DROP_TRUNCATED'],
      ['truncated_tcp', tcp4.subarray(0, 14 + 20 + 19), 'STATUS_DROP_TRUNCATED'],
      ['ipv4_len_past_frame', (() => { const f = tcp4.slice(); f[16] = 0x01; f[17] = 0x00; return f; })(), 'STATUS_DROP_TRUNCATED'],
      ['ipv4_len_below_ihl', (() => { const f = tcp4.slice(); f[16] = 0; f[17] = 19; return f; })(), 'STATUS_DROP_BAD_HEADER'],
      ['ipv4_len_cuts_tcp', (() => { const f = tcp4.slice(); f[16] = 0; f[17] = 30; return f; })(), 'STATUS_DROP_TRUNCATED'],
      ['ipv6_len_past_frame', (() => { const f = buildFrame({ ip: 6, l4: 'udp', payload: 10 }).frame; f[18] = 0x02; return f; })(), 'STATUS_DROP_TRUNCATED'],
      ['ipv6_len_zero', (() => { const f = buildFrame({ ip: 6, l4: 'udp', payload: 10 }).frame; f[18] = 0; f[19] = 0; return f; })(), 'STATUS_DROP_BAD_HEADER'],
      ['tcp_doff_past_ip', (() => { const f = tcp4.slice(); f[14 + 20 + 12] = 0xf0; f[16] = 0; f[17] = 60; return f; })(), 'STATUS_DROP_TRUNCATED'],
      ['vlan3', buildFrame({ ip: 4, l4: 'tcp', payload: 10, vlanTags: 3 }).frame, 'STATUS_DROP_TRUNCATED'],
    ];
    for (const [name, frame, expected] of cases) {
      const before = frame.slice();
      const { status: s, frame: after } = run('csum_complete', frame);
      expect(s, name).toBe(status(expected));
      expect(Buffer.from(after).equals(Buffer.from(before)), `${name} untouched`).toBe(true);
    }
  });

  it('csum_complete_bad_argument', () => {
    expect(inst.fn('csum_complete')(0, 64)).toBe(status('STATUS_BAD_ARGUMENT'));
    expect(inst.fn('csum_complete')(inst.constant('TX_RING_OFFSET'), 64)).toBe(status('STATUS_BAD_ARGUMENT'));
    const end = inst.constant('SCRATCH_OFFSET') + inst.constant('SCRATCH_SIZE');
    expect(inst.fn('csum_complete')(end - 10, 64)).toBe(status('STATUS_BAD_ARGUMENT'));
    expect(inst.fn('csum_complete')(frameAt, -1)).toBe(status('STATUS_BAD_ARGUMENT'));
  });

  it('csum_complete_public_api', async () => {
    const { loadKernels } = await import('../../src/index.js');
    const k = await loadKernels();
    const spec: FrameSpec = { ip: 6, l4: 'udp', payload: 333, vlanTags: 1, ipv6Extensions: ['dest'] };
    const frame = buildFrame({ ...spec, checksum: 'pseudo' }).frame;
    k.completeChecksum(frame);
    expect(Buffer.from(frame).equals(Buffer.from(buildFrame({ ...spec, checksum: 'full' }).frame))).toBe(true);
    expect(() => k.completeChecksum(buildFrame({ ip: 4, l4: 'udp', payload: 8, fragment: true }).frame)).toThrow(PacketDropError);
  });

  it('csum_complete_wrapper_returns_drops', () => {
    place(inst, buildFrame({ ip: 4, l4: 1, payload: 20 }).frame);
    const drop = offload.csumComplete(frameAt, 54);
    expect(drop).toBeInstanceOf(PacketDropError);
    expect(drop?.code).toBe('NETBACK_DROP_NOT_TCP_UDP');
  });
});

describe('csum_fill', () => {
  for (const p of PROTOS) {
    for (const [suffix, spec] of variants(p).filter(([s]) => ['', '_vlan2', '_padded', '_len1', '_len1459', '_ipopts', '_ext_all_vlan2', '_tcpopts'].includes(s))) {
      it(`csum_fill_${p}${suffix}`, () => {
        const expected = buildFrame({ ...spec, checksum: 'full' });
        for (const fill of ['zero', 'pseudo', 'full'] as const) {
          const input = buildFrame({ ...spec, checksum: fill });
          const at = input.l4 + input.checksumOffset;
          input.frame[at] = input.frame[at]! ^ 0x5a; // whatever the field holds
          const { status: s, frame } = run('csum_fill', input.frame);
          expect(s).toBe(0);
          expect(Buffer.from(frame).equals(Buffer.from(expected.frame)), fill).toBe(true);
        }
      });
    }
    it(`csum_fill_${p}_zero_sum`, () => {
      const spec = zeroSumSpec(p);
      const { frame } = run('csum_fill', buildFrame(spec).frame);
      const built = buildFrame(spec);
      const at = built.l4 + built.checksumOffset;
      expect(frame[at]! * 256 + frame[at + 1]!).toBe(spec.l4 === 'udp' ? 0xffff : 0);
    });
  }
});

describe('csum_setup', () => {
  for (const p of PROTOS) {
    for (const [suffix, spec] of variants(p).filter(([s]) => !s.startsWith('_len') || s === '_len0' || s === '_len65000')) {
      it(`csum_setup_${p}${suffix}`, () => {
        const partial = buildFrame({ ...spec, checksum: 'pseudo' });
        // without recompute: the field is left alone, start/offset reported
        place(inst, partial.frame);
        const fixups = counter(inst, 'RX_GSO_CHECKSUM_FIXUP');
        const setup = offload.csumSetup(frameAt, partial.frame.length, false);
        expect(setup).toEqual({ csumStart: partial.l4, csumOffset: spec.l4 === 'tcp' ? 16 : 6 });
        expect(Buffer.from(inst.read(frameAt, partial.frame.length)).equals(Buffer.from(partial.frame))).toBe(true);
        expect(counter(inst, 'RX_GSO_CHECKSUM_FIXUP')).toBe(fixups);
        // recompute (the GSO fix-up): a zeroed or garbage field becomes the pseudo-header sum
        for (const fill of ['zero', 'full'] as const) {
          const input = buildFrame({ ...spec, checksum: fill });
          place(inst, input.frame);
          expect(offload.csumSetup(frameAt, input.frame.length, true)).toEqual(setup);
          expect(Buffer.from(inst.read(frameAt, input.frame.length)).equals(Buffer.from(partial.frame)), fill).toBe(true);
        }
        expect(counter(inst, 'RX_GSO_CHECKSUM_FIXUP')).toBe(fixups + 2);
      });
    }
  }

  it('csum_setup_drops_counted', () => {
    const drops = counter(inst, 'TX_DROP_CSUM_SETUP');
    const fixups = counter(inst, 'RX_GSO_CHECKSUM_FIXUP');
    const frames: [Uint8Array, string][] = [
      [buildFrame({ ip: 4, l4: 'tcp', payload: 40, fragment: true }).frame, 'NETBACK_DROP_IP_FRAGMENT'],
      [buildFrame({ ip: 6, l4: 'udp', payload: 40, ipv6Extensions: ['fragment'], fragment: true }).frame, 'NETBACK_DROP_IP_FRAGMENT'],
      [buildFrame({ ip: 6, l4: 58, payload: 40 }).frame, 'NETBACK_DROP_NOT_TCP_UDP'],
    ];
    for (const [frame, code] of frames) {
      place(inst, frame);
      const result = offload.csumSetup(frameAt, frame.length, true);
      expect(result).toBeInstanceOf(PacketDropError);
      expect((result as PacketDropError).code).toBe(code);
      expect(Buffer.from(inst.read(frameAt, frame.length)).equals(Buffer.from(frame))).toBe(true);
    }
    expect(counter(inst, 'TX_DROP_CSUM_SETUP')).toBe(drops + 3);
    // Linux counts the fix-up before the setup can fail. see: netback.c checksum_setup
    expect(counter(inst, 'RX_GSO_CHECKSUM_FIXUP')).toBe(fixups + 3);
    expect(inst.fn('csum_setup')(frameAt, 60, 2)).toBe(status('STATUS_BAD_ARGUMENT'));
  });
});

/** A deterministic random frame spec. */
function randomSpec(rand: () => number, i: number): FrameSpec {
  const ip = rand() < 0.5 ? 4 : 6;
  const l4 = rand() < 0.5 ? 'tcp' : 'udp';
  const allExt: Ipv6ExtensionHeader[] = ['hop', 'dest', 'routing', 'auth', 'fragment'];
  const ipv6Extensions = ip === 6 ? allExt.filter(() => rand() < 0.3) : undefined;
  const big = rand() < 0.1;
  return {
    ip, l4, seed: i + 1,
    payload: Math.floor(rand() * (big ? 20000 : 1600)),
    vlanTags: Math.floor(rand() * 3),
    ipv4OptionBytes: ip === 4 ? Math.floor(rand() * 11) * 4 : undefined,
    ipv6Extensions,
    tcpOptionBytes: l4 === 'tcp' ? Math.floor(rand() * 11) * 4 : undefined,
    trailingPad: rand() < 0.3 ? Math.floor(rand() * 40) : 0,
  };
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32; };
}

function differential(k: KernelInstance, count: number, seed: number): void {
  const rand = lcg(seed);
  for (let i = 0; i < count; i++) {
    const spec = randomSpec(rand, i);
    const expected = buildFrame({ ...spec, checksum: 'full' }).frame;
    const complete = run('csum_complete', buildFrame({ ...spec, checksum: 'pseudo' }).frame, k);
    expect(complete.status, JSON.stringify(spec)).toBe(0);
    expect(l4ChecksumValid(complete.frame), JSON.stringify(spec)).toBe(true);
    expect(Buffer.from(complete.frame).equals(Buffer.from(expected)), JSON.stringify(spec)).toBe(true);
    const fill = run('csum_fill', buildFrame({ ...spec, checksum: 'zero' }).frame, k);
    expect(Buffer.from(fill.frame).equals(Buffer.from(expected)), JSON.stringify(spec)).toBe(true);
  }
}

describe('csum differential', () => {
  it('csum_complete_differential_random', () => differential(inst, 300, 0xc0ffee));

  it('csum_complete_differential_debug_build', async () => {
    const debug = await instantiateKernels(await compileKernels(await readKernels('debug')));
    differential(debug, 60, 0xbeef);
    // the drops and the big frames too: no assertion may trip on any of them
    expect(run('csum_complete', buildFrame({ ip: 6, l4: 'udp', payload: 65000, checksum: 'pseudo' }).frame, debug).status).toBe(0);
    expect(run('csum_complete', buildFrame({ ip: 4, l4: 1, payload: 8 }).frame, debug).status).toBe(debug.constant('STATUS_DROP_NOT_TCP_UDP'));
  });
});

describe('inet_checksum', () => {
  function check(data: Uint8Array, align: number): void {
    const at = inst.constant('SCRATCH_OFFSET') + align;
    inst.write(at, data, inst.constant('SCRATCH_OFFSET'), inst.constant('SCRATCH_SIZE'));
    expect(inst.fn('inet_checksum')(at, data.length) >>> 0, `len ${data.length} align ${align}`).toBe(internetChecksum(data));
  }

  it('inet_checksum_outside_the_packet_buffers_is_a_bad_argument', () => {
    // a range past the memory used to trap, one over a ring page read the guest's page
    const bad = inst.constant('STATUS_BAD_ARGUMENT');
    const scratchEnd = inst.constant('SCRATCH_OFFSET') + inst.constant('SCRATCH_SIZE');
    for (const [at, len] of [[inst.bytes.length - 8, 64], [0xFFFFFFF0, 32], [inst.constant('TX_RING_OFFSET'), 64], [scratchEnd - 10, 11], [0, 1]]) {
      expect(inst.fn('inet_checksum')(at!, len!), `${at}+${len}`).toBe(bad);
      expect(inst.fn('bench_inet_checksum')(at!, len!, 1) | 0, `bench ${at}+${len}`).toBe(bad);
    }
    expect(inst.fn('inet_checksum')(scratchEnd - 10, 10)).toBeGreaterThanOrEqual(0);
  });

  it('regression_inet_checksum_tail_carry_after_a_word_near_all_ones', async () => {
    // Found by kernel_hash under libFuzzer: the last 1-7 bytes were added without carry, so after
    // an 8-byte word that left the accumulator within 2^32 of 2^64 one unit of the sum was lost
    // (14 bytes ff x 9, 25, 0 x 4: 0x01da instead of 0x00da). csum_complete, csum_fill and the
    // checksums of vnet_to_netif and TSO sum through the same csumPartial.
    const found = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x25, 0, 0, 0, 0]);
    for (const build of ['release', 'debug'] as const) {
      const k = await instantiateKernels(await compileKernels(await readKernels(build)));
      const at = k.constant('SCRATCH_OFFSET') + 1;
      k.write(at, found, k.constant('SCRATCH_OFFSET'), k.constant('SCRATCH_SIZE'));
      expect(k.fn('inet_checksum')(at, found.length) >>> 0, build).toBe(0x00da);
    }
    // every tail length after a word of all ones, behind 0 or 1 vector of 64 bytes
    for (const before of [0, 64]) {
      for (let tail = 1; tail < 8; tail++) {
        const data = new Uint8Array(before + 8 + tail).fill(0xff);
        data[before + 8] = 0x25;
        for (let align = 0; align < 4; align++) check(data, align);
      }
    }
  });

  it('inet_checksum_random_lengths_all_alignments', () => {
    const rand = lcg(42);
    for (let i = 0; i < 160; i++) {
      const length = Math.floor(rand() * 2101);
      const data = pseudoRandomBytes(length, i + 11);
      check(data, i % 16);
    }
    for (const length of [0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1500]) {
      const data = pseudoRandomBytes(length, length + 1);
      for (let align = 0; align < 16; align++) check(data, align);
    }
  });

  it('inet_checksum_large', () => {
    const rand = lcg(7);
    for (let i = 0; i < 12; i++) {
      const length = 60000 + Math.floor(rand() * 5537);
      check(pseudoRandomBytes(length, i + 100), i % 16);
    }
    check(pseudoRandomBytes(65536, 9), 3);
  });

  it('inet_checksum_rfc1071_example', () => {
    // The IPv4 header of the classic worked example: its checksum field is 0xb861.
    const header = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    check(header, 0);
    expect(internetChecksum(header)).toBe(0xb861);
  });

  it('inet_checksum_bias_extremes', () => {
    // Words at both ends of the signed range stress the biased pmaddwd sum of csum/inet.ts.
    for (const fill of [0x00, 0x7f, 0x80, 0xff]) {
      const data = new Uint8Array(4096 + 7);
      for (let i = 0; i < data.length; i++) data[i] = i % 2 ? fill : 0xff - fill;
      for (const align of [0, 1, 8]) check(data, align);
    }
  });

  it('inet_checksum_edges', () => {
    check(new Uint8Array(0), 0);
    expect(internetChecksum(new Uint8Array(0))).toBe(0xffff);
    check(Uint8Array.of(0xab), 5);
    // all ones: the ones'-complement sum is 0xFFFF (never folds to 0), the checksum 0
    for (const length of [2, 64, 1500, 65536]) {
      const data = new Uint8Array(length).fill(0xff);
      check(data, length % 16);
      expect(internetChecksum(data)).toBe(0);
    }
    check(Uint8Array.of(0xff), 1); // odd: 0xFF00, checksum 0x00FF
    expect(internetChecksum(Uint8Array.of(0xff))).toBe(0x00ff);
  });
});

describe('bench_csum_complete', () => {
  for (const [name, payload] of [['64', 10], ['1500', 1446]] as const) {
    it(`bench_csum_complete_${name}`, () => {
      const spec: FrameSpec = { ip: 4, l4: 'tcp', payload };
      const input = buildFrame({ ...spec, checksum: 'pseudo' });
      expect(input.frame.length).toBe(Number(name));
      const expected = buildFrame({ ...spec, checksum: 'full' }).frame;
      const at = input.l4 + 16;
      const stored = expected[at]! | (expected[at + 1]! << 8); // the field as a little-endian load sees it
      place(inst, input.frame);
      expect(inst.fn('bench_csum_complete')(frameAt, input.frame.length, 3) >>> 0).toBe(3 * stored);
      // the pseudo sum is put back after every iteration
      expect(Buffer.from(inst.read(frameAt, input.frame.length)).equals(Buffer.from(input.frame))).toBe(true);
    });
  }
});
