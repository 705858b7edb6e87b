// A plain TCP segmentation (TSO) for tests only: builds each segment from scratch with array
// slices and the slow checksum arithmetic of checksum.ts. Shares nothing with the kernel.
// Semantics follow Linux: see tcp_offload.c tcp_gso_segment, af_inet.c inet_gso_segment,
// ip6_offload.c ipv6_gso_segment.

import { internetChecksum, l4Checksum, pseudoHeader } from './checksum.js';
import { parseFrame } from './frames.js';

const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

export interface ReferenceSegment {
  frame: Uint8Array;
  /** Offset of this segment's payload inside the original TCP payload. */
  payloadOffset: number;
}

/** The TCP payload of a well-formed frame (padding excluded). */
export function tcpPayload(frame: Uint8Array): Uint8Array {
  const parsed = parseFrame(frame);
  const tcpHeaderLength = (frame[parsed.l4 + 12]! >> 4) * 4;
  return frame.slice(parsed.l4 + tcpHeaderLength, parsed.l4End);
}

/** Segments a well-formed TCP frame at `mss` payload bytes per segment. */
export function referenceSegment(frame: Uint8Array, mss: number): ReferenceSegment[] {
  if (!(mss > 0)) throw new Error('mss must be positive');
  const parsed = parseFrame(frame);
  if (parsed.protocol !== 6) throw new Error('not TCP');
  const tcpHeaderLength = (frame[parsed.l4 + 12]! >> 4) * 4;
  const headerEnd = parsed.l4 + tcpHeaderLength;
  const headers = frame.slice(0, headerEnd);
  const payload = frame.slice(headerEnd, parsed.l4End);
  const inView = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const seq0 = inView.getUint32(parsed.l4 + 4);
  const flags0 = frame[parsed.l4 + 13]!;
  const id0 = parsed.ip === 4 ? inView.getUint16(parsed.l3 + 4) : 0;

  const count = Math.max(1, Math.ceil(payload.length / mss));
  const out: ReferenceSegment[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * mss;
    const chunk = payload.slice(start, Math.min(start + mss, payload.length));
    const isLast = i === count - 1;
    const seg = new Uint8Array(headers.length + chunk.length);
    seg.set(headers, 0);
    seg.set(chunk, headers.length);
    const view = new DataView(seg.buffer);
    const ipLengthField = seg.length - parsed.l3;
    if (parsed.ip === 4) {
      view.setUint16(parsed.l3 + 2, ipLengthField);
      view.setUint16(parsed.l3 + 4, (id0 + i) % 0x10000);
      view.setUint16(parsed.l3 + 10, 0);
      view.setUint16(parsed.l3 + 10, internetChecksum(seg.subarray(parsed.l3, parsed.l4)));
    } else {
      view.setUint16(parsed.l3 + 4, ipLengthField - 40);
    }
    view.setUint32(parsed.l4 + 4, (seq0 + start) % 0x100000000);
    let flags = flags0;
    if (!isLast) flags &= ~(FIN | PSH);
    if (i > 0) flags &= ~CWR;
    seg[parsed.l4 + 13] = flags;
    const pseudo = pseudoHeader(parsed.ip, parsed.source, parsed.destination, 6, seg.length - parsed.l4);
    view.setUint16(parsed.l4 + 16, l4Checksum(pseudo, seg.subarray(parsed.l4), 16));
    out.push({ frame: seg, payloadOffset: start });
  }
  return out;
}
