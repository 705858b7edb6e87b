import { beforeAll, describe, expect, it } from 'vitest';
import { loadKernels, type Kernels } from '../../src/index.js';
import { buildFrame, type FrameSpec } from '../reference/frames.js';

// HeaderInfo field offsets, as documented in assembly/net/headers.ts.
interface HeaderInfo { status: number; l3: number; l4: number; l4End: number; l4HeaderLength: number; ipVersion: number; protocol: number; checksumOffset: number }

let k: Kernels;
beforeAll(async () => { k = await loadKernels(); });

function parse(frame: Uint8Array): HeaderInfo {
  const scratch = k.instance.constant('SCRATCH_OFFSET');
  const info = scratch + 0x10000 + 0x8000;
  k.instance.write(scratch, frame, scratch, 0x10000 + 0x8000);
  const status = k.instance.fn('parse_headers')(scratch, frame.length, info);
  const v = k.instance.view;
  return {
    status, l3: v.getUint16(info, true), l4: v.getUint16(info + 2, true), l4End: v.getUint16(info + 4, true),
    l4HeaderLength: v.getUint16(info + 6, true), ipVersion: v.getUint8(info + 8), protocol: v.getUint8(info + 9),
    checksumOffset: v.getUint16(info + 10, true),
  };
}

const status = (name: string) => k.instance.constant(name);

describe('parse_headers', () => {
  const good: [string, FrameSpec][] = [
    ['tcp4', { ip: 4, l4: 'tcp', payload: 100 }],
    ['udp4_vlan', { ip: 4, l4: 'udp', payload: 33, vlanTags: 1 }],
    ['tcp4_qinq_options', { ip: 4, l4: 'tcp', payload: 10, vlanTags: 2, ipv4OptionBytes: 8, tcpOptionBytes: 12 }],
    ['tcp6', { ip: 6, l4: 'tcp', payload: 1000 }],
    ['udp6_exthdrs', { ip: 6, l4: 'udp', payload: 5, ipv6Extensions: ['hop', 'routing', 'dest', 'auth', 'fragment'] }],
    ['tcp4_padded', { ip: 4, l4: 'tcp', payload: 2, trailingPad: 6 }],
  ];
  for (const [name, spec] of good) {
    it(`parse_headers_${name}`, () => {
      const built = buildFrame(spec);
      const info = parse(built.frame);
      expect(info.status).toBe(0);
      expect(info).toMatchObject({
        l3: built.l3, l4: built.l4, ipVersion: spec.ip, protocol: built.l4Protocol,
        l4HeaderLength: built.payloadOffset - built.l4, l4End: built.frame.length - (spec.trailingPad ?? 0),
        checksumOffset: built.checksumOffset,
      });
    });
  }

  it('parse_headers_addresses_outside_the_packet_buffers_are_a_bad_argument', () => {
    const inst = k.instance;
    const frame = buildFrame({ ip: 4, l4: 'tcp', payload: 100 }).frame;
    const scratch = inst.constant('SCRATCH_OFFSET');
    inst.write(scratch, frame, scratch, frame.length);
    const fn = inst.fn('parse_headers');
    const bad = status('STATUS_BAD_ARGUMENT');
    const ring = inst.constant('TX_RING_OFFSET');
    const before = inst.bytes.slice(ring, ring + 4096);
    expect(fn(scratch, frame.length, ring + 64)).toBe(bad); // the HeaderInfo over a guest's ring page
    expect(Buffer.compare(before, inst.bytes.subarray(ring, ring + 4096))).toBe(0);
    expect(fn(scratch, frame.length, scratch + 8)).toBe(bad); // over the frame itself
    expect(fn(scratch, frame.length, inst.bytes.length - 8)).toBe(bad);
    expect(fn(0xFFFFFFF0, 64, scratch + 0x8000)).toBe(bad);
    expect(fn(scratch, frame.length, scratch + frame.length)).toBe(0);
  });

  it('parse_headers_invalid', () => {
    const tcp4 = buildFrame({ ip: 4, l4: 'tcp', payload: 100 }).frame;
    expect(parse(tcp4.subarray(0, 13)).status).toBe(status('STATUS_DROP_TRUNCATED'));
    const arp = tcp4.slice(); arp[12] = 0x08; arp[13] = 0x06;
    expect(parse(arp).status).toBe(status('STATUS_DROP_NOT_IP'));
    expect(parse(buildFrame({ ip: 4, l4: 1, payload: 40 }).frame).status).toBe(status('STATUS_DROP_NOT_TCP_UDP'));
    expect(parse(buildFrame({ ip: 4, l4: 'udp', payload: 40, fragment: true }).frame).status).toBe(status('STATUS_DROP_IP_FRAGMENT'));
    expect(parse(buildFrame({ ip: 6, l4: 'udp', payload: 40, ipv6Extensions: ['fragment'], fragment: true }).frame).status).toBe(status('STATUS_DROP_IP_FRAGMENT'));
    // a lying IPv4 total length (longer than the frame) and an IHL below 5
    const lying = tcp4.slice(); lying[16] = 0x05; lying[17] = 0xdc;
    expect(parse(lying).status).toBe(status('STATUS_DROP_TRUNCATED'));
    const ihl = tcp4.slice(); ihl[14] = 0x44;
    expect(parse(ihl).status).toBe(status('STATUS_DROP_BAD_HEADER'));
    // TCP data offset below 5, and a TCP header cut by the IP length
    const doff = tcp4.slice(); doff[14 + 20 + 12] = 0x40;
    expect(parse(doff).status).toBe(status('STATUS_DROP_BAD_HEADER'));
    expect(parse(tcp4.subarray(0, 14 + 20 + 10)).status).toBe(status('STATUS_DROP_TRUNCATED'));
    // an IPv6 chain of destination-options headers longer than Linux walks
    const loop = buildFrame({ ip: 6, l4: 'udp', payload: 8, ipv6Extensions: Array(40).fill('dest') }).frame;
    expect(parse(loop).status).toBe(status('STATUS_DROP_EXT_HEADER_LIMIT'));
    // an IPv6 extension header whose length runs past the payload
    const cut = buildFrame({ ip: 6, l4: 'udp', payload: 0, ipv6Extensions: ['hop'] }).frame;
    cut[14 + 40 + 1] = 200;
    expect(parse(cut).status).toBe(status('STATUS_DROP_TRUNCATED'));
  });
});
