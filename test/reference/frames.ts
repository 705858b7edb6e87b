// Builds Ethernet frames for tests: VLAN tags, IPv4 with options, IPv6 with extension headers,
// TCP (with options) or UDP, and the checksum field left zero, complete, or holding only the
// pseudo-header sum (what a guest sends with NETTXF_csum_blank). Independent of the kernels.

import { l4Checksum, onesSum, pseudoHeader, internetChecksum } from './checksum.js';

export type Ipv6ExtensionHeader = 'hop' | 'dest' | 'routing' | 'auth' | 'fragment';
export type ChecksumFill = 'zero' | 'full' | 'pseudo';

export interface FrameSpec {
  ip: 4 | 6;
  /** 'tcp', 'udp', or a raw protocol number for other L4 protocols. */
  l4: 'tcp' | 'udp' | number;
  /** Payload bytes, or a length to fill with deterministic pseudo-random bytes. */
  payload: Uint8Array | number;
  vlanTags?: number;
  ipv4OptionBytes?: number;
  ipv6Extensions?: Ipv6ExtensionHeader[];
  /** For 'fragment' extension headers and IPv4: make it a real fragment (MF set). */
  fragment?: boolean;
  tcpOptionBytes?: number;
  tcpFlags?: number;
  seq?: number;
  ipId?: number;
  checksum?: ChecksumFill;
  /** Extra bytes after the IP packet (Ethernet padding). */
  trailingPad?: number;
  seed?: number;
}

export interface BuiltFrame {
  frame: Uint8Array;
  l3: number;
  l4: number;
  payloadOffset: number;
  l4Protocol: number;
  /** Offset of the checksum field inside the L4 header (16 TCP, 6 UDP), or -1. */
  checksumOffset: number;
}

export const SOURCE_V4 = [192, 0, 2, 1];
export const DEST_V4 = [198, 51, 100, 7];
export const SOURCE_V6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
export const DEST_V6 = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 16;
  }
  return out;
}

const PROTOCOL_NUMBER = { tcp: 6, udp: 17 } as const;
const EXT_NUMBER: Record<Ipv6ExtensionHeader, number> = { hop: 0, routing: 43, fragment: 44, auth: 51, dest: 60 };

export function buildFrame(spec: FrameSpec): BuiltFrame {
  const payload = typeof spec.payload === 'number' ? pseudoRandomBytes(spec.payload, spec.seed) : spec.payload;
  const l4Protocol = typeof spec.l4 === 'number' ? spec.l4 : PROTOCOL_NUMBER[spec.l4];
  const tags = spec.vlanTags ?? 0;
  const bytes: number[] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
  for (let t = 0; t < tags; t++) bytes.push(t === 0 && tags === 2 ? 0x88 : 0x81, t === 0 && tags === 2 ? 0xa8 : 0x00, 0x00, 10 + t);
  bytes.push(...(spec.ip === 4 ? [0x08, 0x00] : [0x86, 0xdd]));
  const l3 = bytes.length;

  const l4Header: number[] = [];
  if (spec.l4 === 'tcp') {
    const optionBytes = spec.tcpOptionBytes ?? 0;
    const seq = (spec.seq ?? 0x10000000) >>> 0;
    l4Header.push(0x9c, 0x40, 0x14, 0x51, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff, 0, 0, 0x20, 0);
    l4Header.push(((20 + optionBytes) / 4) << 4, spec.tcpFlags ?? 0x18, 0xff, 0xff, 0, 0, 0, 0);
    for (let i = 0; i < optionBytes; i++) l4Header.push(i === optionBytes - 1 ? 0 : 1); // NOPs then EOL
  } else if (spec.l4 === 'udp') {
    const length = 8 + payload.length;
    l4Header.push(0x30, 0x39, 0x00, 0x35, length >> 8, length & 0xff, 0, 0);
  }
  const l4Length = l4Header.length + payload.length;

  let l4: number;
  if (spec.ip === 4) {
    const options = spec.ipv4OptionBytes ?? 0;
    const headerLength = 20 + options;
    const total = headerLength + l4Length;
    const id = spec.ipId ?? 0x1234;
    const ip = [0x40 | (headerLength / 4), 0, total >> 8, total & 0xff, id >> 8, id & 0xff, spec.fragment ? 0x20 : 0x40, 0, 64, l4Protocol, 0, 0, ...SOURCE_V4, ...DEST_V4];
    for (let i = 0; i < options; i++) ip.push(1);
    const headerChecksum = internetChecksum(Uint8Array.from(ip));
    ip[10] = headerChecksum >> 8;
    ip[11] = headerChecksum & 0xff;
    bytes.push(...ip);
    l4 = bytes.length;
  } else {
    const extensions = spec.ipv6Extensions ?? [];
    const extBytes: number[] = [];
    extensions.forEach((kind, i) => {
      const next = i + 1 < extensions.length ? EXT_NUMBER[extensions[i + 1]!] : l4Protocol;
      if (kind === 'fragment') extBytes.push(next, 0, 0, spec.fragment ? 1 : 0, 0, 0, 0, 42);
      else if (kind === 'auth') extBytes.push(next, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0); // (2+2)*4 = 16 bytes
      else extBytes.push(next, 0, 1, 4, 0, 0, 0, 0); // 8 bytes: PadN option
    });
    const first = extensions.length ? EXT_NUMBER[extensions[0]!] : l4Protocol;
    const payloadLength = extBytes.length + l4Length;
    bytes.push(0x60, 0, 0, 0, payloadLength >> 8, payloadLength & 0xff, first, 64, ...SOURCE_V6, ...DEST_V6, ...extBytes);
    l4 = bytes.length;
  }
  const frame = new Uint8Array(bytes.length + l4Length + (spec.trailingPad ?? 0));
  frame.set(bytes, 0);
  frame.set(l4Header, l4);
  frame.set(payload, l4 + l4Header.length);

  const checksumOffset = spec.l4 === 'tcp' ? 16 : spec.l4 === 'udp' ? 6 : -1;
  const fill = spec.checksum ?? 'zero';
  if (checksumOffset >= 0 && fill !== 'zero') {
    const pseudo = spec.ip === 4
      ? pseudoHeader(4, Uint8Array.from(SOURCE_V4), Uint8Array.from(DEST_V4), l4Protocol, l4Length)
      : pseudoHeader(6, Uint8Array.from(SOURCE_V6), Uint8Array.from(DEST_V6), l4Protocol, l4Length);
    let value = fill === 'full'
      ? l4Checksum(pseudo, frame.subarray(l4, l4 + l4Length), checksumOffset)
      : onesSum(pseudo);
    if (fill === 'full' && spec.l4 === 'udp' && value === 0) value = 0xffff;
    frame[l4 + checksumOffset] = value >> 8;
    frame[l4 + checksumOffset + 1] = value & 0xff;
  }
  return { frame, l3, l4, payloadOffset: l4 + l4Header.length, l4Protocol, checksumOffset };
}

export interface ParsedFrame {
  ip: 4 | 6;
  l3: number;
  l4: number;
  /** End of the IP packet (padding excluded). */
  l4End: number;
  protocol: number;
  source: Uint8Array;
  destination: Uint8Array;
}

/** An independent, unhardened parse of a well-formed frame (tests only). */
export function parseFrame(frame: Uint8Array): ParsedFrame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let l3 = 14;
  let type = view.getUint16(12);
  while (type === 0x8100 || type === 0x88a8) {
    type = view.getUint16(l3 + 2);
    l3 += 4;
  }
  if (type === 0x0800) {
    const l4 = l3 + (frame[l3]! & 0xf) * 4;
    return { ip: 4, l3, l4, l4End: l3 + view.getUint16(l3 + 2), protocol: frame[l3 + 9]!, source: frame.slice(l3 + 12, l3 + 16), destination: frame.slice(l3 + 16, l3 + 20) };
  }
  if (type !== 0x86dd) throw new Error(`not IP: ethertype ${type.toString(16)}`);
  let next = frame[l3 + 6]!;
  let offset = l3 + 40;
  while (next !== 6 && next !== 17) {
    const length = next === 51 ? (frame[offset + 1]! + 2) * 4 : next === 44 ? 8 : (frame[offset + 1]! + 1) * 8;
    next = frame[offset]!;
    offset += length;
  }
  return { ip: 6, l3, l4: offset, l4End: l3 + 40 + view.getUint16(l3 + 4), protocol: next, source: frame.slice(l3 + 8, l3 + 24), destination: frame.slice(l3 + 24, l3 + 40) };
}

/** Whether the TCP/UDP checksum of a frame verifies (pseudo-header + segment sums to 0xffff). */
export function l4ChecksumValid(frame: Uint8Array): boolean {
  const parsed = parseFrame(frame);
  const pseudo = pseudoHeader(parsed.ip, parsed.source, parsed.destination, parsed.protocol, parsed.l4End - parsed.l4);
  return onesSum(frame.subarray(parsed.l4, parsed.l4End), onesSum(pseudo)) === 0xffff;
}

/** Whether an IPv4 frame's header checksum verifies (true for IPv6, which has none). */
export function ipv4HeaderChecksumValid(frame: Uint8Array): boolean {
  const parsed = parseFrame(frame);
  if (parsed.ip === 6) return true;
  return onesSum(frame.subarray(parsed.l3, parsed.l4)) === 0xffff;
}
