// Pure-TypeScript TSO for `bench`: a GSO TCP frame (IPv4 or IPv6, csum_blank) cut into MSS-sized
// frames in an output buffer, each with its headers copied and fixed (lengths, IPv4 id and header
// checksum, sequence numbers, FIN/PSH only on the last) and a full TCP checksum. Payload copies
// are TypedArray.set (memcpy); each segment's payload starts 4-aligned so the sum runs on
// 32-bit words. see: net/ipv4/tcp_offload.c tcp_gso_segment, skb_segment

import { onesSum } from './checksum.js';

export interface TsoScratch {
  bytes: Uint8Array;
  words: Uint32Array;
  /** Where each segment of the last call starts in `bytes`, and its length. */
  offsets: Uint32Array;
  lengths: Uint32Array;
}

const MAX_SEGMENTS = 256;

export function tsoScratch(size: number): TsoScratch {
  const buffer = new ArrayBuffer((size + 3) & ~3);
  return { bytes: new Uint8Array(buffer), words: new Uint32Array(buffer), offsets: new Uint32Array(MAX_SEGMENTS), lengths: new Uint32Array(MAX_SEGMENTS) };
}

/**
 * Segments frame[start, start+length) into `out`; returns the segment count, or -1 for a frame
 * that is not a plain IPv4/IPv6 TCP frame or does not fit.
 */
export function segmentTcp(frame: Uint8Array, start: number, length: number, mss: number, out: TsoScratch): number {
  const type = (frame[start + 12]! << 8) | frame[start + 13]!;
  const l3 = 14;
  const v4 = type === 0x0800;
  if (!v4 && type !== 0x86dd) return -1;
  const ipLen = v4 ? (frame[start + l3]! & 0xf) * 4 : 40;
  const protocol = v4 ? frame[start + l3 + 9]! : frame[start + l3 + 6]!;
  if (protocol !== 6 || mss === 0) return -1;
  const l4 = l3 + ipLen;
  const tcpLen = (frame[start + l4 + 12]! >>> 4) * 4;
  const headers = l4 + tcpLen;
  if (headers > length) return -1;
  const payload = length - headers;
  const segments = Math.ceil(payload / mss);
  const bytes = out.bytes;
  // Each segment at a 4-aligned payload position: pad = distance that aligns headers.
  const pad = (4 - (headers & 3)) & 3;
  const stride = (pad + headers + mss + 3) & ~3;
  if (segments * stride > bytes.length || segments > MAX_SEGMENTS) return -1;
  const seq0 = ((frame[start + l4 + 4]! << 24) | (frame[start + l4 + 5]! << 16) | (frame[start + l4 + 6]! << 8) | frame[start + l4 + 7]!) >>> 0;
  const id0 = v4 ? (frame[start + l3 + 4]! << 8) | frame[start + l3 + 5]! : 0;
  const flags = frame[start + l4 + 13]!;
  // The pseudo-header's address part, summed once (protocol and length are added per segment).
  const addrStart = start + l3 + (v4 ? 12 : 8);
  const addrLen = v4 ? 8 : 32;
  let addrSum = 0;
  for (let i = 0; i < addrLen; i += 2) addrSum += (frame[addrStart + i]! << 8) | frame[addrStart + i + 1]!;
  for (let s = 0; s < segments; s++) {
    const at = s * stride + pad;
    const size = Math.min(mss, payload - s * mss);
    bytes.set(frame.subarray(start, start + headers), at);
    bytes.set(frame.subarray(start + headers + s * mss, start + headers + s * mss + size), at + headers);
    const last = s === segments - 1;
    const segLen = tcpLen + size;
    if (v4) {
      const total = ipLen + segLen;
      bytes[at + l3 + 2] = total >>> 8; bytes[at + l3 + 3] = total & 0xff;
      const id = (id0 + s) & 0xffff;
      bytes[at + l3 + 4] = id >>> 8; bytes[at + l3 + 5] = id & 0xff;
      bytes[at + l3 + 10] = 0; bytes[at + l3 + 11] = 0;
      let h = 0;
      for (let i = 0; i < ipLen; i += 2) h += (bytes[at + l3 + i]! << 8) | bytes[at + l3 + i + 1]!;
      h = (h & 0xffff) + (h >>> 16); h = (h & 0xffff) + (h >>> 16);
      const c = ~h & 0xffff;
      bytes[at + l3 + 10] = c >>> 8; bytes[at + l3 + 11] = c & 0xff;
    } else {
      bytes[at + l3 + 4] = segLen >>> 8; bytes[at + l3 + 5] = segLen & 0xff;
    }
    const seq = (seq0 + s * mss) >>> 0;
    const t = at + l4;
    bytes[t + 4] = seq >>> 24; bytes[t + 5] = (seq >>> 16) & 0xff; bytes[t + 6] = (seq >>> 8) & 0xff; bytes[t + 7] = seq & 0xff;
    // FIN and PSH only on the last segment, CWR only on the first. see: tcp_offload.c tcp_gso_segment
    bytes[t + 13] = (last ? flags : flags & ~0x09) & (s === 0 ? 0xff : ~0x80);
    bytes[t + 16] = 0; bytes[t + 17] = 0;
    let sum = addrSum + 6 + segLen;
    for (let i = 0; i < tcpLen; i += 2) sum += (bytes[t + i]! << 8) | bytes[t + i + 1]!;
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
    sum = (sum & 0xffff) + (sum >>> 16);
    const total = onesSum(bytes, out.words, at + headers, at + headers + size, sum);
    const c = ~total & 0xffff;
    bytes[t + 16] = c >>> 8; bytes[t + 17] = c & 0xff;
    out.offsets[s] = at;
    out.lengths[s] = headers + size;
  }
  return segments;
}
