import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, instantiateKernels, KernelInstance, loadKernels, PacketDropError, readKernels, type Kernels } from '../../src/index.js';
import { buildFrame, ipv4HeaderChecksumValid, l4ChecksumValid, parseFrame, type FrameSpec } from '../reference/frames.js';
import { referenceSegment, tcpPayload } from '../reference/segment.js';
import { Segmenter } from '../../src/wasm/segment.js';

const TCPV4 = 1; // XEN_NETIF_GSO_TYPE_TCPV4 (netif.h)
const TCPV6 = 2; // XEN_NETIF_GSO_TYPE_TCPV6
const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;

let k: Kernels;
beforeAll(async () => { k = await loadKernels(); });

interface Segment { address: number; frame: Uint8Array }
interface CallResult { status: number; segments: Segment[]; resume: number }

/** One tso_segment call on a frame placed at `address` (SCRATCH by default). */
function call(instance: KernelInstance, frame: Uint8Array, gsoType: number, mss: number, resumeFrom = 0, address?: number): CallResult {
  const at = address ?? instance.constant('SCRATCH_OFFSET');
  instance.bytes.set(frame, at);
  const status = instance.fn('tso_segment')(at, frame.length, gsoType, mss, resumeFrom);
  const resume = instance.fn('tso_resume_offset')() >>> 0;
  const segments: Segment[] = [];
  const desc = instance.constant('SEG_DESC_OFFSET');
  const stride = instance.constant('SEG_DESC_STRIDE');
  for (let i = 0; i < status; i++) {
    const address = instance.view.getUint32(desc + i * stride, true);
    const length = instance.view.getUint32(desc + i * stride + 4, true);
    segments.push({ address, frame: instance.read(address, length) });
  }
  return { status, segments, resume };
}

/** Every segment of a frame, resuming until done; also returns the number of calls. */
function segmentAll(instance: KernelInstance, frame: Uint8Array, gsoType: number, mss: number): { frames: Uint8Array[]; calls: number[] } {
  const frames: Uint8Array[] = [];
  const calls: number[] = [];
  let resume = 0;
  do {
    const result = call(instance, frame, gsoType, mss, resume);
    expect(result.status, `tso_segment from ${resume}`).toBeGreaterThan(0);
    checkPlacement(instance, result.segments);
    calls.push(result.status);
    frames.push(...result.segments.map((s) => s.frame));
    resume = result.resume;
  } while (resume !== 0);
  return { frames, calls };
}

/** Each frame 16-byte aligned inside SEG_BUF with 16 free bytes before it, none overlapping. */
function checkPlacement(instance: KernelInstance, segments: Segment[]): void {
  const start = instance.constant('SEG_BUF_OFFSET');
  const end = start + instance.constant('SEG_BUF_SIZE');
  let previousEnd = start;
  for (const s of segments) {
    expect(s.address % 16).toBe(0);
    expect(s.address - previousEnd).toBeGreaterThanOrEqual(16);
    expect(s.address + s.frame.length).toBeLessThanOrEqual(end);
    previousEnd = s.address + s.frame.length;
  }
}

/** The oracle: byte-for-byte equal to the reference, valid checksums, payloads reassemble. */
function checkAgainstReference(frame: Uint8Array, frames: Uint8Array[], mss: number): void {
  const expected = referenceSegment(frame, mss);
  expect(frames.length).toBe(expected.length);
  frames.forEach((f, i) => {
    expect(l4ChecksumValid(f), `segment ${i} TCP checksum`).toBe(true);
    expect(ipv4HeaderChecksumValid(f), `segment ${i} IPv4 header checksum`).toBe(true);
    expect(Buffer.compare(f, expected[i]!.frame), `segment ${i} bytes`).toBe(0);
  });
  const payload = tcpPayload(frame);
  const joined = Buffer.concat(frames.map((f) => tcpPayload(f)));
  expect(Buffer.compare(joined, payload)).toBe(0);
}

function tcpField(frame: Uint8Array) {
  const parsed = parseFrame(frame);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return {
    seq: view.getUint32(parsed.l4 + 4), flags: frame[parsed.l4 + 13]!,
    ipId: parsed.ip === 4 ? view.getUint16(parsed.l3 + 4) : -1,
    ipLength: parsed.ip === 4 ? view.getUint16(parsed.l3 + 2) : view.getUint16(parsed.l3 + 4),
  };
}

const status = (name: string) => k.instance.constant(name);

describe('tso_segment', () => {
  const cases: [string, FrameSpec, number, number][] = [
    // name, spec, mss, expected number of segments (ceil(payload / mss), at least 1)
    ['v4', { ip: 4, l4: 'tcp', payload: 5000 }, 1448, 4],
    ['v6', { ip: 6, l4: 'tcp', payload: 5000 }, 1428, 4],
    ['exact_multiple', { ip: 4, l4: 'tcp', payload: 1448 * 3 }, 1448, 3],
    ['one_byte_over', { ip: 4, l4: 'tcp', payload: 1448 * 3 + 1 }, 1448, 4],
    ['v6_one_byte_over', { ip: 6, l4: 'tcp', payload: 1000 * 2 + 1 }, 1000, 3],
    ['mss_larger_than_payload', { ip: 4, l4: 'tcp', payload: 100 }, 1448, 1],
    ['v6_mss_larger_than_payload', { ip: 6, l4: 'tcp', payload: 100 }, 9000, 1],
    ['empty_payload', { ip: 4, l4: 'tcp', payload: 0 }, 1448, 1],
    ['mss_1', { ip: 4, l4: 'tcp', payload: 300 }, 1, 300],
    ['v6_mss_1', { ip: 6, l4: 'tcp', payload: 77 }, 1, 77],
    ['odd_mss', { ip: 4, l4: 'tcp', payload: 1001 }, 333, 4],
    ['vlan1', { ip: 4, l4: 'tcp', payload: 4000, vlanTags: 1 }, 1448, 3],
    ['vlan2', { ip: 6, l4: 'tcp', payload: 4000, vlanTags: 2 }, 1448, 3],
    ['ipv4_options', { ip: 4, l4: 'tcp', payload: 4000, ipv4OptionBytes: 12 }, 1000, 4],
    ['ipv4_options_max', { ip: 4, l4: 'tcp', payload: 3000, ipv4OptionBytes: 40, tcpOptionBytes: 40 }, 999, 4],
    ['ipv6_extensions', { ip: 6, l4: 'tcp', payload: 4000, ipv6Extensions: ['hop', 'routing', 'dest', 'auth', 'fragment'] }, 1000, 4],
    ['tcp_options', { ip: 4, l4: 'tcp', payload: 4000, tcpOptionBytes: 12 }, 1448, 3],
    ['v6_tcp_options_vlan', { ip: 6, l4: 'tcp', payload: 4000, tcpOptionBytes: 12, vlanTags: 1 }, 1448, 3],
    ['padded', { ip: 4, l4: 'tcp', payload: 10, trailingPad: 36 }, 4, 3],
    ['v6_padded', { ip: 6, l4: 'tcp', payload: 3000, trailingPad: 7 }, 1448, 3],
    ['seq_wraps', { ip: 4, l4: 'tcp', payload: 3000, seq: 0xfffffc00 }, 1000, 3],
    ['64k_mss1448', { ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12 }, 1448, 45],
    ['64k_mss536', { ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12 }, 536, 122],
    ['v6_64k_mss1428', { ip: 6, l4: 'tcp', payload: 65535 - 14 - 40 - 32, tcpOptionBytes: 12 }, 1428, 46],
  ];
  for (const [name, spec, mss, count] of cases) {
    it(`tso_segment_${name}`, () => {
      const { frame } = buildFrame({ ...spec, checksum: 'pseudo' });
      const { frames, calls } = segmentAll(k.instance, frame, spec.ip === 4 ? TCPV4 : TCPV6, mss);
      expect(calls).toEqual([count]);
      checkAgainstReference(frame, frames, mss);
      const headerLength = frame.length - (spec.trailingPad ?? 0) - (typeof spec.payload === 'number' ? spec.payload : 0);
      frames.forEach((f, i) => {
        const payload = i < count - 1 ? mss : (typeof spec.payload === 'number' ? spec.payload : 0) - mss * (count - 1);
        expect(f.length).toBe(headerLength + payload);
      });
    });
  }

  it('tso_segment_flags_first_middle_last', () => {
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 3000, tcpFlags: FIN | PSH | ACK | CWR, seq: 1000 });
    const { frames } = segmentAll(k.instance, frame, TCPV4, 1000);
    expect(frames.map((f) => tcpField(f).flags)).toEqual([CWR | ACK, ACK, FIN | PSH | ACK]);
    expect(frames.map((f) => tcpField(f).seq)).toEqual([1000, 2000, 3000]);
    checkAgainstReference(frame, frames, 1000);
  });

  it('tso_segment_flags_single_segment_keeps_all', () => {
    const { frame } = buildFrame({ ip: 6, l4: 'tcp', payload: 500, tcpFlags: FIN | PSH | ACK | CWR });
    const { frames } = segmentAll(k.instance, frame, TCPV6, 1000);
    expect(frames.map((f) => tcpField(f).flags)).toEqual([FIN | PSH | ACK | CWR]);
    checkAgainstReference(frame, frames, 1000);
  });

  it('tso_segment_ipv4_id_increments_and_wraps', () => {
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 400, ipId: 0xfffe });
    const { frames } = segmentAll(k.instance, frame, TCPV4, 100);
    expect(frames.map((f) => tcpField(f).ipId)).toEqual([0xfffe, 0xffff, 0x0000, 0x0001]);
    // tot_len = 20 (IP) + 20 (TCP) + 100
    expect(frames.map((f) => tcpField(f).ipLength)).toEqual([140, 140, 140, 140]);
    checkAgainstReference(frame, frames, 100);
  });

  it('tso_segment_ipv6_payload_len_counts_extensions', () => {
    const { frame } = buildFrame({ ip: 6, l4: 'tcp', payload: 250, ipv6Extensions: ['hop', 'auth'] });
    const { frames } = segmentAll(k.instance, frame, TCPV6, 100);
    // 8 (hop) + 16 (auth) + 20 (TCP) + payload
    expect(frames.map((f) => tcpField(f).ipLength)).toEqual([144, 144, 94]);
  });

  it('tso_segment_padding_not_copied', () => {
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 6, trailingPad: 40 });
    frame.fill(0xee, frame.length - 40);
    const { frames } = segmentAll(k.instance, frame, TCPV4, 1000);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.length).toBe(14 + 20 + 20 + 6);
    expect(frames[0]!.includes(0xee)).toBe(false);
  });

  it('tso_segment_resume', () => {
    // 65000 bytes at MSS 64: 1016 segments, more than the 512 descriptors SEG_DESC holds
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12, ipId: 0xff00, tcpFlags: FIN | PSH | ACK | CWR });
    const capacity = k.instance.constant('SEG_DESC_SIZE') / k.instance.constant('SEG_DESC_STRIDE');
    const first = call(k.instance, frame, TCPV4, 64);
    expect(first.status).toBe(capacity);
    expect(first.resume).toBe(capacity * 64);
    const { frames, calls } = segmentAll(k.instance, frame, TCPV4, 64);
    expect(calls).toEqual([512, 504]);
    expect(frames.map((f) => tcpField(f).flags).filter((f) => f !== ACK)).toEqual([CWR | ACK, FIN | PSH | ACK]);
    checkAgainstReference(frame, frames, 64);
    expect(k.instance.fn('tso_resume_offset')()).toBe(0);
  });

  it('tso_segment_resume_v6_mss1', () => {
    const { frame } = buildFrame({ ip: 6, l4: 'tcp', payload: 1500, vlanTags: 1 });
    const { frames, calls } = segmentAll(k.instance, frame, TCPV6, 1);
    expect(calls).toEqual([512, 512, 476]);
    checkAgainstReference(frame, frames, 1);
  });

  it('tso_segment_from_tx_and_rx_buffers', () => {
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 3000 });
    for (const region of ['TX_BUF', 'RX_BUF']) {
      const start = k.instance.constant(`${region}_OFFSET`);
      const size = k.instance.constant(`${region}_SIZE`);
      for (const at of [start, start + size - frame.length]) {
        const result = call(k.instance, frame, TCPV4, 1448, 0, at);
        expect(result.status, `${region} at ${at}`).toBe(3);
        checkAgainstReference(frame, result.segments.map((s) => s.frame), 1448);
      }
    }
  });

  describe('drops', () => {
    const drop = (frame: Uint8Array, gsoType: number, mss: number, resumeFrom = 0, address?: number) => {
      const result = call(k.instance, frame, gsoType, mss, resumeFrom, address);
      expect(result.resume).toBe(0);
      return result.status;
    };
    const tcp4 = () => buildFrame({ ip: 4, l4: 'tcp', payload: 3000 }).frame;
    const tcp6 = () => buildFrame({ ip: 6, l4: 'tcp', payload: 3000 }).frame;

    it('tso_segment_udp', () => {
      expect(drop(buildFrame({ ip: 4, l4: 'udp', payload: 3000 }).frame, TCPV4, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
      expect(drop(buildFrame({ ip: 6, l4: 'udp', payload: 3000 }).frame, TCPV6, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
    });
    it('tso_segment_icmp', () => {
      expect(drop(buildFrame({ ip: 4, l4: 1, payload: 64 }).frame, TCPV4, 1448)).toBe(status('STATUS_DROP_NOT_TCP_UDP'));
    });
    it('tso_segment_not_ip', () => {
      const arp = tcp4(); arp[12] = 0x08; arp[13] = 0x06;
      expect(drop(arp, TCPV4, 1448)).toBe(status('STATUS_DROP_NOT_IP'));
    });
    it('tso_segment_ipv4_fragment', () => {
      expect(drop(buildFrame({ ip: 4, l4: 'tcp', payload: 3000, fragment: true }).frame, TCPV4, 1448)).toBe(status('STATUS_DROP_IP_FRAGMENT'));
    });
    it('tso_segment_ipv6_fragment_with_offset', () => {
      const built = buildFrame({ ip: 6, l4: 'tcp', payload: 3000, ipv6Extensions: ['fragment'] });
      // fragment header right after the 40-byte IPv6 header; offset field (bits 15..3 of bytes 2-3) = 1
      built.frame[built.l3 + 40 + 3] = 0x08;
      expect(drop(built.frame, TCPV6, 1448)).toBe(status('STATUS_DROP_IP_FRAGMENT'));
    });
    it('tso_segment_type_mismatch', () => {
      expect(drop(tcp4(), TCPV6, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
      expect(drop(tcp6(), TCPV4, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
      expect(drop(tcp4(), 0, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
      expect(drop(tcp4(), 3, 1448)).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
    });
    it('tso_segment_bad_size', () => {
      expect(drop(tcp4(), TCPV4, 0)).toBe(status('STATUS_DROP_GSO_BAD_SIZE'));
      // IPv4: tot_len = 20 + 20 + mss must fit 16 bits, so 65495 is the largest MSS
      expect(drop(tcp4(), TCPV4, 65496)).toBe(status('STATUS_DROP_GSO_BAD_SIZE'));
      expect(call(k.instance, tcp4(), TCPV4, 65495).status).toBe(1);
      // IPv6: payload_len = 20 + mss
      expect(drop(tcp6(), TCPV6, 65516)).toBe(status('STATUS_DROP_GSO_BAD_SIZE'));
      expect(call(k.instance, tcp6(), TCPV6, 65515).status).toBe(1);
      expect(drop(tcp4(), TCPV4, 0xffffffff)).toBe(status('STATUS_DROP_GSO_BAD_SIZE'));
    });
    it('tso_segment_outside_regions', () => {
      const frame = tcp4();
      const scratch = k.instance.constant('SCRATCH_OFFSET');
      const scratchEnd = scratch + k.instance.constant('SCRATCH_SIZE');
      const fn = k.instance.fn('tso_segment');
      expect(fn(k.instance.constant('SEG_BUF_OFFSET'), frame.length, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(fn(0, frame.length, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(fn(scratchEnd - 100, frame.length, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(fn(scratch, 0xffffffff, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(fn(-1, 10, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
      const txEnd = k.instance.constant('TX_BUF_OFFSET') + k.instance.constant('TX_BUF_SIZE');
      expect(fn(txEnd - 10, frame.length, TCPV4, 1448, 0)).toBe(status('STATUS_BAD_ARGUMENT'));
    });
    it('tso_segment_truncated', () => {
      const frame = tcp4();
      expect(drop(frame.subarray(0, 13), TCPV4, 1448)).toBe(status('STATUS_DROP_TRUNCATED'));
      expect(drop(frame.subarray(0, 14 + 20 + 10), TCPV4, 1448)).toBe(status('STATUS_DROP_TRUNCATED'));
      expect(drop(frame.subarray(0, frame.length - 1), TCPV4, 1448)).toBe(status('STATUS_DROP_TRUNCATED'));
      expect(drop(tcp6().subarray(0, 100), TCPV6, 1448)).toBe(status('STATUS_DROP_TRUNCATED'));
    });
    it('regression_tso_segment_ip_end_past_65535', () => {
      // tot_len / payload_len valid on their own, but the IP packet ends past byte 65535 of the
      // frame: the u16 HDR_L4_END used to wrap and the kernel read far past the frame (a trap)
      const v6 = buildFrame({ ip: 6, l4: 'tcp', payload: 65535 - 20 }).frame;
      expect(drop(v6, TCPV6, 1428)).toBe(status('STATUS_DROP_TOO_BIG'));
      const v4 = buildFrame({ ip: 4, l4: 'tcp', payload: 65535 - 40, vlanTags: 1 }).frame;
      expect(drop(v4, TCPV4, 1448)).toBe(status('STATUS_DROP_TOO_BIG'));
    });
    it('tso_segment_bad_resume', () => {
      expect(drop(tcp4(), TCPV4, 1000, 500)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(drop(tcp4(), TCPV4, 1000, 3000)).toBe(status('STATUS_BAD_ARGUMENT'));
      expect(call(k.instance, tcp4(), TCPV4, 1000, 2000).status).toBe(1);
    });
  });

  it('tso_segment_differential_random', () => {
    let x = 0x5eed;
    const rand = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x >>> 8) % n; };
    const extensionKinds = ['hop', 'routing', 'dest', 'auth', 'fragment'] as const;
    for (let i = 0; i < 100; i++) {
      const ip = rand(2) === 0 ? 4 : 6;
      const ipv4OptionBytes = ip === 4 ? rand(11) * 4 : 0;
      const ipv6Extensions = ip === 6 ? Array.from({ length: rand(4) }, () => extensionKinds[rand(5)]!) : [];
      const tcpOptionBytes = rand(11) * 4;
      const mss = 1 + rand(9000);
      const extBytes = ipv6Extensions.reduce((sum, kind) => sum + (kind === 'auth' ? 16 : 8), 0);
      const vlanTags = rand(3);
      // the whole frame stays within 65535 bytes (parse_headers refuses an IP packet ending later)
      const headers = 14 + 4 * vlanTags + (ip === 4 ? 20 + ipv4OptionBytes : 40 + extBytes) + 20 + tcpOptionBytes;
      const room = 65535 - headers;
      // keep the reference's work bounded: at most ~3000 segments per frame
      const payload = rand(4) === 0 ? Math.min(room, mss * 3000) : rand(Math.min(65001, room + 1, mss * 3000));
      const spec: FrameSpec = {
        ip, l4: 'tcp', payload, vlanTags, ipv4OptionBytes, ipv6Extensions, tcpOptionBytes,
        tcpFlags: rand(256), seq: (rand(0x10000) * 0x10000 + rand(0x10000)) >>> 0, ipId: rand(0x10000),
        trailingPad: rand(4) === 0 ? rand(64) : 0, checksum: 'pseudo', seed: i + 1,
      };
      const { frame } = buildFrame(spec);
      const { frames } = segmentAll(k.instance, frame, ip === 4 ? TCPV4 : TCPV6, mss);
      checkAgainstReference(frame, frames, mss);
    }
  });

  it('tso_segment_public_api', () => {
    const v4 = buildFrame({ ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12 }).frame;
    const segments = k.segment(v4, { gsoType: 'tcpv4', mss: 64 });
    checkAgainstReference(v4, segments, 64);
    const v6 = buildFrame({ ip: 6, l4: 'tcp', payload: 9000, vlanTags: 2 }).frame;
    checkAgainstReference(v6, k.segment(v6, { gsoType: 'tcpv6', mss: 1440 }), 1440);
    const udp = buildFrame({ ip: 4, l4: 'udp', payload: 100 }).frame;
    expect(() => k.segment(udp, { gsoType: 'tcpv4', mss: 1448 })).toThrow(PacketDropError);
    try { k.segment(udp, { gsoType: 'tcpv4', mss: 1448 }); } catch (error) {
      expect((error as PacketDropError).code).toBe('NETBACK_DROP_GSO_NOT_TCP');
    }
    expect(() => k.segment(v4, { gsoType: 'tcpv4', mss: 0 })).toThrow(/NETBACK_DROP_GSO_BAD_SIZE/);
  });

  it('tso_segment_segmenter_in_place', () => {
    const segmenter = new Segmenter(k.instance);
    expect(segmenter.headroom).toBe(16);
    const { frame } = buildFrame({ ip: 6, l4: 'tcp', payload: 65000, vlanTags: 1, tcpOptionBytes: 12 });
    const at = k.instance.constant('TX_BUF_OFFSET') + 64;
    k.instance.bytes.set(frame, at);
    const batches: number[] = [];
    const frames: Uint8Array[] = [];
    const total = segmenter.segment(at, frame.length, 'tcpv6', 64, (batch) => {
      batches.push(batch.length);
      for (const s of batch) frames.push(k.instance.read(s.address, s.length));
    });
    expect(total).toBe(1016);
    expect(batches).toEqual([512, 504]);
    checkAgainstReference(frame, frames, 64);
    const udp = buildFrame({ ip: 4, l4: 'udp', payload: 100 }).frame;
    k.instance.bytes.set(udp, at);
    expect(() => segmenter.segment(at, udp.length, 'tcpv4', 1448, () => { throw new Error('no batch expected'); })).toThrow(PacketDropError);
  });

  it('tso_segment_debug_build', async () => {
    const debug = await instantiateKernels(await compileKernels(await readKernels('debug')));
    const cases: [FrameSpec, number][] = [
      [{ ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12, tcpFlags: FIN | PSH | ACK | CWR }, 1448],
      [{ ip: 4, l4: 'tcp', payload: 20000, vlanTags: 2, ipv4OptionBytes: 8 }, 64],
      [{ ip: 6, l4: 'tcp', payload: 3000, ipv6Extensions: ['hop', 'auth'], trailingPad: 5 }, 1],
      [{ ip: 6, l4: 'tcp', payload: 0 }, 1448],
    ];
    for (const [spec, mss] of cases) {
      const { frame } = buildFrame({ ...spec, checksum: 'pseudo' });
      const { frames } = segmentAll(debug, frame, spec.ip === 4 ? TCPV4 : TCPV6, mss);
      checkAgainstReference(frame, frames, mss);
    }
    const udp = buildFrame({ ip: 4, l4: 'udp', payload: 100 }).frame;
    expect(call(debug, udp, TCPV4, 1448).status).toBe(debug.constant('STATUS_DROP_GSO_NOT_TCP'));
  });

  it('bench_tso_counts_segments', () => {
    const { frame } = buildFrame({ ip: 4, l4: 'tcp', payload: 65000, tcpOptionBytes: 12 });
    const scratch = k.instance.constant('SCRATCH_OFFSET');
    k.instance.bytes.set(frame, scratch);
    expect(k.instance.fn('bench_tso')(scratch, frame.length, TCPV4, 1448, 3)).toBe(3 * 45);
    expect(k.instance.fn('bench_tso')(scratch, frame.length, TCPV6, 1448, 3) | 0).toBe(status('STATUS_DROP_GSO_NOT_TCP'));
  });
});
