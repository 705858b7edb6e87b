// Shared by the TAP suites: whether real TAP tests can run here, a per-test network namespace
// (src/sim/netns.ts), and small frame builders.

import { ip, linkJson, Netns, withTimeout } from '../../src/sim/netns.js';
import { tapUnavailableReason, type TapDevice } from '../../src/tap/tap.js';
import { onesSum, internetChecksum } from '../reference/checksum.js';

/**
 * Skipping is never silent: the reason is printed, and WNB_REQUIRE_TAP=1 (set by CI) turns a
 * skip into a failure so a machine that should run these cannot pass without them.
 */
export function announceSkip(suite: string): boolean {
  const reason = tapUnavailableReason();
  if (reason === undefined) return false;
  if (process.env.WNB_REQUIRE_TAP === '1') throw new Error(`${suite}: cannot run (${reason}) but WNB_REQUIRE_TAP=1`);
  console.warn(`SKIPPED ${suite}: ${reason}`);
  return true;
}

export { ip, linkJson, NsProcess, uniqueName, withTimeout } from '../../src/sim/netns.js';

export async function rxStats(name: string, netns: string): Promise<{ packets: number; bytes: number }> {
  const link = await linkJson(name, netns, '-s');
  const rx = (link?.stats64 as { rx: { packets: number; bytes: number } } | undefined)?.rx;
  if (rx === undefined) throw new Error(`no stats for ${name}`);
  return { packets: rx.packets, bytes: rx.bytes };
}

/** A network namespace of this test file's own, removed by destroy(). */
export class TestNetns extends Netns {
  constructor() {
    super('wnb-test-');
  }
}

// The addressing both TAP suites give the host side: 198.18.0.1/24 (RFC 2544 benchmark range)
// on the TAP in the test's namespace, and a permanent neighbour entry that points the "guest"
// behind the TAP (this test, writing frames into it) at a locally administered MAC.
export const TAP_HOST_ADDRESS = '198.18.0.1';
export const TAP_PEER_ADDRESS = '198.18.0.4';
export const TAP_PEER_MAC_TEXT = '02:00:5e:10:00:04';

/** Moves the TAP into the namespace, addresses it as above and sets it up; returns the host side's MAC. */
export async function placeTapHostSide(name: string, ns: Netns): Promise<Uint8Array> {
  await ip('link', 'set', 'dev', name, 'netns', ns.name);
  await ip('-n', ns.name, 'addr', 'add', `${TAP_HOST_ADDRESS}/24`, 'dev', name);
  await ip('-n', ns.name, 'link', 'set', 'dev', name, 'up');
  await ip('-n', ns.name, 'neigh', 'replace', TAP_PEER_ADDRESS, 'lladdr', TAP_PEER_MAC_TEXT, 'dev', name, 'nud', 'permanent');
  return parseMac(String((await linkJson(name, ns.name))?.address));
}

/**
 * Waits (through onReadable, i.e. uv_poll) for a frame the predicate accepts; frames it rejects
 * are dropped. Returns the bytes read (virtio_net_hdr + frame), copied.
 */
export function nextFrame(tap: TapDevice, accept: (frame: Uint8Array) => boolean, timeoutMs = 5_000, what = 'a frame'): Promise<Uint8Array> {
  const buffer = new Uint8Array(65536 + 10);
  const found = new Promise<Uint8Array>((resolve) => {
    tap.onReadable(() => {
      for (;;) {
        const n = tap.readInto(buffer, 0, buffer.length);
        if (n === 0) return;
        const frame = buffer.slice(0, n);
        if (accept(frame)) {
          tap.onReadable(null);
          resolve(frame);
          return;
        }
      }
    });
  });
  return withTimeout(found, timeoutMs, what).finally(() => {
    if (!tap.closed) tap.onReadable(null);
  });
}

// ---------------------------------------------------------------------------------------------
// frames (Ethernet, ARP, IPv4, ICMP, TCP), written from RFC 826 / 791 / 792 / 9293 by hand

export const ETH_ARP = 0x0806;
export const ETH_IPV4 = 0x0800;

export function parseMac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function ipv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + payload.length);
  frame.set(dst, 0);
  frame.set(src, 6);
  frame[12] = type >> 8;
  frame[13] = type & 0xff;
  frame.set(payload, 14);
  return frame;
}

export function arp(op: 1 | 2, senderMac: Uint8Array, senderIp: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array): Uint8Array {
  const body = new Uint8Array(28);
  body.set([0, 1, 0x08, 0x00, 6, 4, 0, op], 0);
  body.set(senderMac, 8);
  body.set(senderIp, 14);
  body.set(targetMac, 18);
  body.set(targetIp, 24);
  return body;
}

export function ipv4Packet(src: Uint8Array, dst: Uint8Array, protocol: number, l4: Uint8Array, id = 1): Uint8Array {
  const total = 20 + l4.length;
  const packet = new Uint8Array(total);
  packet.set([0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, 0x40, 0, 64, protocol, 0, 0], 0);
  packet.set(src, 12);
  packet.set(dst, 16);
  const sum = internetChecksum(packet.subarray(0, 20));
  packet[10] = sum >> 8;
  packet[11] = sum & 0xff;
  packet.set(l4, 20);
  return packet;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const msg = new Uint8Array(8 + payload.length);
  msg.set([type, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff], 0);
  msg.set(payload, 8);
  const sum = internetChecksum(msg);
  msg[2] = sum >> 8;
  msg[3] = sum & 0xff;
  return msg;
}

export interface TcpSpec {
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options?: Uint8Array;
  payload?: Uint8Array;
  /** 'full': a complete checksum; 'pseudo': only the pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  checksum: 'full' | 'pseudo';
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export function tcpSegment(spec: TcpSpec): Uint8Array {
  const options = spec.options ?? new Uint8Array(0);
  const payload = spec.payload ?? new Uint8Array(0);
  const headerLength = 20 + options.length;
  const seg = new Uint8Array(headerLength + payload.length);
  const v = new DataView(seg.buffer);
  v.setUint16(0, spec.sport);
  v.setUint16(2, spec.dport);
  v.setUint32(4, spec.seq >>> 0);
  v.setUint32(8, spec.ack >>> 0);
  seg[12] = (headerLength / 4) << 4;
  seg[13] = spec.flags;
  v.setUint16(14, spec.window);
  seg.set(options, 20);
  seg.set(payload, headerLength);
  const pseudo = new Uint8Array([...spec.src, ...spec.dst, 0, 6, seg.length >> 8, seg.length & 0xff]);
  const value = spec.checksum === 'full' ? ~onesSum(seg, onesSum(pseudo)) & 0xffff : onesSum(pseudo);
  v.setUint16(16, value);
  return seg;
}

/** header (10 bytes) + frame, ready to write to the TAP. */
export function withVnet(header: Uint8Array, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.length + frame.length);
  out.set(header, 0);
  out.set(frame, header.length);
  return out;
}
