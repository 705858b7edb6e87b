// Ethernet frames for the simulated guests' traffic and the benchmarks: IPv4/IPv6 with TCP, UDP
// or ICMP, addressed between guests, the L4 checksum complete or holding only the pseudo-header
// sum (what a guest hands over with NETTXF_csum_blank). Shipped code's own builder: the test
// references in test/reference stay independent of it.

export type L4Kind = 'tcp' | 'udp' | 'icmp';

export interface FrameOptions {
  ip: 4 | 6;
  l4: L4Kind;
  /** Payload bytes, or a length to fill with deterministic pseudo-random bytes. */
  payload: Uint8Array | number;
  dstMac?: ArrayLike<number>;
  srcMac?: ArrayLike<number>;
  /** The last byte of 10.0.0.x (IPv4) or fd00::x (IPv6). */
  srcHost?: number;
  dstHost?: number;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** TCP flags (default PSH|ACK). */
  tcpFlags?: number;
  /** TCP option bytes (NOPs), a multiple of 4: 12 is what Linux sends with timestamps. */
  tcpOptionBytes?: number;
  /** ICMP echo type (8 request, 0 reply; 128/129 for ICMPv6) and identifier/sequence. */
  icmpType?: number;
  icmpId?: number;
  /** 'full': a valid L4 checksum; 'pseudo': only the pseudo-header sum (checksum offload). */
  checksum?: 'full' | 'pseudo';
  seed?: number;
}

export const ETH_HLEN = 14;
const PROTOCOL = { tcp: 6, udp: 17, icmp: 1 } as const;

export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 16;
  }
  return out;
}

/** The 32-bit running ones'-complement sum of big-endian 16-bit words (RFC 1071), unfolded. */
export function sum16(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The guest's MAC, Xen's OUI: 00:16:3e:00:<domid>:<devid>. */
export function guestMac(domid: number, devid = 0): number[] {
  return [0x00, 0x16, 0x3e, (domid >> 8) & 0xff, domid & 0xff, devid & 0xff];
}

export function ipv4Address(host: number): number[] {
  return [10, 0, (host >> 8) & 0xff, host & 0xff];
}

export function ipv6Address(host: number): number[] {
  return [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (host >> 8) & 0xff, host & 0xff];
}

export function buildFrame(options: FrameOptions): Uint8Array {
  const payload = typeof options.payload === 'number' ? pseudoRandomBytes(options.payload, options.seed) : options.payload;
  const l4Header = options.l4 === 'tcp' ? 20 + (options.tcpOptionBytes ?? 0) : 8;
  const l3Header = options.ip === 4 ? 20 : 40;
  const l3 = ETH_HLEN;
  const l4 = l3 + l3Header;
  const l4Length = l4Header + payload.length;
  const frame = new Uint8Array(l4 + l4Length);
  const view = new DataView(frame.buffer);
  frame.set(options.dstMac ?? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  frame.set(options.srcMac ?? guestMac(options.srcHost ?? 1), 6);
  view.setUint16(12, options.ip === 4 ? 0x0800 : 0x86dd);
  const protocol = options.l4 === 'icmp' && options.ip === 6 ? 58 : PROTOCOL[options.l4];
  const src = options.ip === 4 ? ipv4Address(options.srcHost ?? 1) : ipv6Address(options.srcHost ?? 1);
  const dst = options.ip === 4 ? ipv4Address(options.dstHost ?? 2) : ipv6Address(options.dstHost ?? 2);
  if (options.ip === 4) {
    frame[l3] = 0x45;
    view.setUint16(l3 + 2, l3Header + l4Length);
    view.setUint16(l3 + 4, (options.seq ?? 0) & 0xffff);
    frame[l3 + 6] = 0x40; // DF
    frame[l3 + 8] = 64;
    frame[l3 + 9] = protocol;
    frame.set(src, l3 + 12);
    frame.set(dst, l3 + 16);
    view.setUint16(l3 + 10, ~fold(sum16(frame, l3, l4)) & 0xffff);
  } else {
    frame[l3] = 0x60;
    view.setUint16(l3 + 4, l4Length);
    frame[l3 + 6] = protocol;
    frame[l3 + 7] = 64;
    frame.set(src, l3 + 8);
    frame.set(dst, l3 + 24);
  }
  let checksumAt: number;
  if (options.l4 === 'tcp') {
    view.setUint16(l4, options.srcPort ?? 40000);
    view.setUint16(l4 + 2, options.dstPort ?? 5001);
    view.setUint32(l4 + 4, (options.seq ?? 0) >>> 0);
    view.setUint32(l4 + 8, (options.ack ?? 0) >>> 0);
    frame[l4 + 12] = (l4Header / 4) << 4;
    frame[l4 + 13] = options.tcpFlags ?? 0x18;
    view.setUint16(l4 + 14, 0xffff);
    frame.fill(1, l4 + 20, l4 + l4Header); // NOPs
    checksumAt = l4 + 16;
  } else if (options.l4 === 'udp') {
    view.setUint16(l4, options.srcPort ?? 40000);
    view.setUint16(l4 + 2, options.dstPort ?? 7);
    view.setUint16(l4 + 4, l4Length);
    checksumAt = l4 + 6;
  } else {
    frame[l4] = options.icmpType ?? (options.ip === 4 ? 8 : 128);
    view.setUint16(l4 + 4, options.icmpId ?? 1);
    view.setUint16(l4 + 6, (options.seq ?? 0) & 0xffff);
    checksumAt = l4 + 2;
  }
  frame.set(payload, l4 + l4Header);
  // ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 do.
  let pseudo = 0;
  if (!(options.l4 === 'icmp' && options.ip === 4)) {
    pseudo = sum16(Uint8Array.from(src), 0, src.length, sum16(Uint8Array.from(dst), 0, dst.length)) + protocol + l4Length;
  }
  if ((options.checksum ?? 'full') === 'pseudo' && options.l4 !== 'icmp') {
    view.setUint16(checksumAt, fold(pseudo));
  } else {
    let value = ~fold(sum16(frame, l4, frame.length, pseudo)) & 0xffff;
    if (options.l4 === 'udp' && value === 0) value = 0xffff;
    view.setUint16(checksumAt, value);
  }
  return frame;
}

/** What the traffic generator reads back from a received frame (no VLANs, no IPv6 extensions). */
export interface FrameSummary {
  dstMac: Uint8Array;
  ip: 4 | 6;
  protocol: number;
  srcHost: number;
  dstHost: number;
  /** Offset of the L4 header. */
  l4: number;
  /** Bytes after the L4 header (TCP: after its options). */
  payloadLength: number;
}

export function summarizeFrame(frame: Uint8Array): FrameSummary | undefined {
  if (frame.length < ETH_HLEN + 20) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = view.getUint16(12);
  let ip: 4 | 6, protocol: number, srcHost: number, dstHost: number, l4: number, end: number;
  if (type === 0x0800) {
    ip = 4;
    protocol = frame[ETH_HLEN + 9]!;
    srcHost = view.getUint16(ETH_HLEN + 14);
    dstHost = view.getUint16(ETH_HLEN + 18);
    l4 = ETH_HLEN + (frame[ETH_HLEN]! & 0xf) * 4;
    end = ETH_HLEN + view.getUint16(ETH_HLEN + 2);
  } else if (type === 0x86dd && frame.length >= ETH_HLEN + 40) {
    ip = 6;
    protocol = frame[ETH_HLEN + 6]!;
    srcHost = view.getUint16(ETH_HLEN + 22);
    dstHost = view.getUint16(ETH_HLEN + 38);
    l4 = ETH_HLEN + 40;
    end = l4 + view.getUint16(ETH_HLEN + 4);
  } else {
    return undefined;
  }
  if (end > frame.length || l4 + 8 > end) return undefined;
  const l4Header = protocol === 6 ? (frame[l4 + 12]! >> 4) * 4 : 8;
  return { dstMac: frame.subarray(0, 6), ip, protocol, srcHost, dstHost, l4, payloadLength: Math.max(0, end - l4 - l4Header) };
}
