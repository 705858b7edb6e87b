// The pure parts of the guest-stack adapter (src/sim/guest-tap.ts): where a frame's L4 checksum
// lies (the virtio_net_hdr csum_start/csum_offset/hdr_len it writes into the guest TAP), and the
// offloads a Linux guest's netdev would have. The TAP plumbing itself runs in tap-e2e.test.ts.
import { describe, expect, it } from 'vitest';
import { findL4, netfrontTapOffloads } from '../../src/sim/guest-tap.js';
import { LINUX_NETFRONT_FEATURES } from '../../src/xen/sim/netfront.js';
import { buildFrame, type FrameSpec } from '../reference/frames.js';

describe('findL4', () => {
  const cases: Array<[string, FrameSpec]> = [
    ['tcp4', { ip: 4, l4: 'tcp', payload: 100 }],
    ['tcp4_options_ipopts', { ip: 4, l4: 'tcp', payload: 10, tcpOptionBytes: 12, ipv4OptionBytes: 8 }],
    ['udp4_vlan', { ip: 4, l4: 'udp', payload: 30, vlanTags: 1 }],
    ['tcp6', { ip: 6, l4: 'tcp', payload: 1, tcpOptionBytes: 20 }],
    ['udp6_ext', { ip: 6, l4: 'udp', payload: 64, ipv6Extensions: ['hop', 'routing', 'dest'] }],
    ['tcp6_auth', { ip: 6, l4: 'tcp', payload: 64, ipv6Extensions: ['auth'] }],
  ];
  for (const [name, spec] of cases) {
    it(`findL4_${name}`, () => {
      const built = buildFrame(spec);
      const found = findL4(built.frame);
      expect(found).toEqual({
        protocol: built.l4Protocol,
        start: built.l4,
        offset: built.checksumOffset,
        headerLength: spec.l4 === 'tcp' ? built.payloadOffset : 0,
      });
    });
  }

  it('findL4_none_for_fragments_other_protocols_and_short_frames', () => {
    expect(findL4(buildFrame({ ip: 4, l4: 'udp', payload: 100, fragment: true }).frame)).toBeUndefined();
    expect(findL4(buildFrame({ ip: 6, l4: 'udp', payload: 100, ipv6Extensions: ['fragment'], fragment: true }).frame)).toBeUndefined();
    expect(findL4(buildFrame({ ip: 4, l4: 1, payload: 20 }).frame)).toBeUndefined(); // ICMP
    expect(findL4(buildFrame({ ip: 6, l4: 58, payload: 20 }).frame)).toBeUndefined(); // ICMPv6
    const tcp = buildFrame({ ip: 4, l4: 'tcp', payload: 0 }).frame;
    expect(findL4(tcp.subarray(0, tcp.length - 1))).toBeUndefined(); // TCP header cut short
    expect(findL4(new Uint8Array(13))).toBeUndefined();
    const arp = new Uint8Array(42);
    arp[12] = 0x08; arp[13] = 0x06;
    expect(findL4(arp)).toBeUndefined();
  });
});

describe('netfrontTapOffloads', () => {
  it('netfrontTapOffloads_linux_defaults_everything', () => {
    expect(netfrontTapOffloads(LINUX_NETFRONT_FEATURES)).toEqual({ csum: true, tso4: true, tso6: true });
  });
  it('netfrontTapOffloads_no_csum_means_no_tso', () => {
    // see: net/core/dev.c netdev_fix_features: TSO needs checksum offload (and SG)
    expect(netfrontTapOffloads({ ...LINUX_NETFRONT_FEATURES, noCsumOffload: true })).toEqual({ csum: false, tso4: false, tso6: false });
    expect(netfrontTapOffloads({ ...LINUX_NETFRONT_FEATURES, sg: false })).toEqual({ csum: true, tso4: false, tso6: false });
    expect(netfrontTapOffloads({ ...LINUX_NETFRONT_FEATURES, gsoTcpv6: false })).toEqual({ csum: true, tso4: true, tso6: false });
  });
});
