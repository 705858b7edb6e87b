// Every frontend feature-key combination that changes the guest-RX data path (feature-sg,
// feature-gso-tcpv4/-tcpv6, feature-no-csum-offload, feature-ipv6-csum-offload), each receiving a
// GSO TCP frame of both IP versions and a checksum-partial UDP frame of both, sent by a
// full-featured guest across the bridge. Expected outcomes from netif-protocol.md §4.4 / §6.3 and
// Linux's netdev_fix_features: GSO stays one frame only with SG, the GSO type and that IP
// version's checksum offload; otherwise it arrives as segments with full checksums. A partial
// checksum stays partial only with that version's checksum offload; otherwise it is completed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimHost } from '../../src/sim/host.js';
import type { NetfrontFeatures, NetfrontPacket, SendOptions } from '../../src/xen/sim/netfront.js';
import { buildFrame, ipv4HeaderChecksumValid, l4ChecksumValid, parseFrame } from '../reference/frames.js';
import { MAC1, addressed, manualHost } from './helpers.js';

type Combo = Pick<NetfrontFeatures, 'sg' | 'gsoTcpv4' | 'gsoTcpv6' | 'noCsumOffload' | 'ipv6CsumOffload'>;

const combos: Combo[] = [];
for (let bits = 0; bits < 32; bits++) {
  combos.push({
    sg: (bits & 1) !== 0, gsoTcpv4: (bits & 2) !== 0, gsoTcpv6: (bits & 4) !== 0,
    noCsumOffload: (bits & 8) !== 0, ipv6CsumOffload: (bits & 16) !== 0,
  });
}
const name = (c: Combo) => `sg${+c.sg}_gso4${+c.gsoTcpv4}_gso6${+c.gsoTcpv6}_csum4${+!c.noCsumOffload}_csum6${+c.ipv6CsumOffload}`;

let host: SimHost;
let nextDomid = 10;

beforeAll(async () => {
  ({ host } = await manualHost());
  await host.addGuest({ domid: 1 });
});
afterAll(async () => {
  await host.close();
  expect(host.grants.mappedPages()).toBe(0);
});

/** Sends one frame from guest 1 to `domid` and returns what its netfront received. */
async function across(domid: number, frame: Uint8Array, options: SendOptions): Promise<NetfrontPacket[]> {
  const got: NetfrontPacket[] = [];
  const off = host.guests.get(domid)!.netfront.on('receive', (packet) => got.push(packet));
  expect(host.guests.get(1)!.netfront.send(frame, options).kind).toBe('sent');
  await host.settle();
  off();
  return got;
}

function tcpPayload(packet: NetfrontPacket): number[] {
  const parsed = parseFrame(packet.frame);
  const tcpHeader = (packet.frame[parsed.l4 + 12]! >> 4) * 4;
  return [...packet.frame.subarray(parsed.l4 + tcpHeader, parsed.l4End)];
}

describe('feature matrix', () => {
  it.each(combos.map((c) => [name(c), c] as const))('feature_matrix_%s', async (_label, combo) => {
    const domid = nextDomid++;
    await host.addGuest({ domid, features: combo });
    const mac = [0x00, 0x16, 0x3e, 0, domid, 0];
    const csum = { 4: !combo.noCsumOffload, 6: combo.ipv6CsumOffload };
    const gso = { 4: combo.gsoTcpv4, 6: combo.gsoTcpv6 };
    try {
      for (const ip of [4, 6] as const) {
        const mss = ip === 4 ? 1448 : 1428;
        const built = buildFrame({ ip, l4: 'tcp', payload: 20 * mss + 7, checksum: 'pseudo', seed: domid });
        const frame = addressed(built.frame, mac, MAC1);
        const got = await across(domid, frame, { checksum: 'partial', gso: { type: ip === 4 ? 'tcpv4' : 'tcpv6', size: mss } });
        if (combo.sg && gso[ip] && csum[ip]) {
          expect(got).toHaveLength(1);
          expect(got[0]!.gso).toMatchObject({ type: ip === 4 ? 'tcpv4' : 'tcpv6', size: mss });
          expect(got[0]!.checksum).toBe('partial');
          expect([...got[0]!.frame]).toEqual([...frame]);
        } else {
          expect(got).toHaveLength(21);
          for (const packet of got) {
            expect(packet.gso).toBeUndefined();
            expect(packet.checksum).toBe('validated');
            expect(l4ChecksumValid(packet.frame)).toBe(true);
            if (ip === 4) expect(ipv4HeaderChecksumValid(packet.frame)).toBe(true);
          }
          expect(got.flatMap(tcpPayload)).toEqual([...frame.subarray(built.payloadOffset)]);
        }

        const udp = buildFrame({ ip, l4: 'udp', payload: 999, checksum: 'pseudo', seed: domid + ip });
        const udpFrame = addressed(udp.frame, mac, MAC1);
        const [packet, ...rest] = await across(domid, udpFrame, { checksum: 'partial' });
        expect(rest).toHaveLength(0);
        expect(packet).toBeDefined();
        if (csum[ip]) {
          expect(packet!.checksum).toBe('partial');
          expect([...packet!.frame]).toEqual([...udpFrame]);
        } else {
          expect(packet!.checksum).toBe('validated');
          expect(l4ChecksumValid(packet!.frame)).toBe(true);
          const field = udp.l4 + udp.checksumOffset;
          const withoutField = (f: Uint8Array) => [...f.subarray(0, field), ...f.subarray(field + 2)];
          expect(withoutField(packet!.frame)).toEqual(withoutField(udpFrame));
        }
      }
    } finally {
      await host.removeGuest(domid);
    }
  });
});
