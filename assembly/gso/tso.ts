// Software TCP segmentation (TSO) of one Ethernet frame into MSS-sized frames, for every case
// where the sink cannot take a GSO frame (a frontend without feature-gso-tcpv4/6, a TAP with
// offloads off). Each output frame is complete: headers copied, lengths, IPv4 id and header
// checksum, TCP sequence, flags and full checksum rewritten.
// see: tcp_offload.c tcp_gso_segment; af_inet.c inet_gso_segment; ip6_offload.c ipv6_gso_segment
//
// Speed: the payload is copied and summed in one SIMD pass (copyAndSum), the headers are copied
// with SIMD stores, and everything else a segment needs is a handful of word adds on sums
// computed once per frame: the IPv4 header sum without tot_len/id/check, the TCP header sum
// without seq/flags/check, and the pseudo-header sum without its length.

import { csumAdd, csumFinish, fold64 } from '../csum/inet';
import {
  QUEUE_STATE_OFFSET, RX_BUF_OFFSET, RX_BUF_SIZE, SCRATCH_OFFSET, SCRATCH_SIZE, SEG_BUF_OFFSET,
  SEG_BUF_SIZE, SEG_DESC_OFFSET, SEG_DESC_SIZE, SEG_DESC_STRIDE, TX_BUF_OFFSET, TX_BUF_SIZE,
} from '../layout';
import { HDR_IP_VERSION, HDR_L3, HDR_L4, HDR_L4_END, HDR_L4_HLEN, HDR_L4_PROTO, parseHeaders } from '../net/headers';
import { loadBe16, loadBe32, storeBe16 } from '../net/eth';
import { inRegion } from '../region';
import { IPV4_CHECK, IPV4_ID, IPV4_TOT_LEN, ipv4HeaderLength, ipv4PseudoSum } from '../net/ipv4';
import { IPV6_HLEN, IPV6_PAYLOAD_LEN, ipv6PseudoSum } from '../net/ipv6';
import { TCP_CHECK, TCP_DOFF, TCP_FLAGS, TCP_FLAG_CWR, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_SEQ } from '../net/tcp';
import { XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6 } from '../netif/defs';
import {
  STATUS_BAD_ARGUMENT, STATUS_DROP_GSO_BAD_SIZE, STATUS_DROP_GSO_NOT_TCP, STATUS_OK,
} from '../status';

// Private queue state 0x500-0x5FF (see netif/ring.ts for the map of ranges).
export const QS_TSO_INFO: u32 = 0x500;    // HeaderInfo of the frame being segmented (16 bytes)
export const QS_TSO_RESUME: u32 = 0x510;  // u32 TCP payload offset to continue from, 0 when done

// Free bytes in front of every output frame, for the virtio_net_hdr the host writes there; 16
// keeps each frame start 16-byte aligned, so the SIMD stores of the payload copy stay aligned
// relative to the frame.
export const SEG_HEADROOM: u32 = 16;

const SEG_DESC_ADDRESS: u32 = 0;  // u32 address of the frame
const SEG_DESC_LENGTH: u32 = 4;   // u32 frame length
const SEG_DESC_CAPACITY: u32 = SEG_DESC_SIZE / SEG_DESC_STRIDE;

const IPPROTO_TCP: u8 = 6;
// The largest value of the IP length field that covers the segment (IPv4 tot_len, IPv6
// payload_len).
const IP_LENGTH_MAX: u32 = 0xFFFF;

// Sum (memory order) of the 16-bit words of [p, p+len), len even (a header length, a multiple of
// 4), skipping the words at the offsets given: the fields rewritten per segment.
function sumWordsExcept(p: usize, len: u32, skipA: u32, skipB: u32, skipC: u32, skipD: u32): u32 {
  let sum: u32 = 0;
  for (let i: u32 = 0; i < len; i += 2) {
    if (i == skipA || i == skipB || i == skipC || i == skipD) continue;
    sum += <u32>load<u16>(p + <usize>i);
  }
  return sum;
}

// Copies the headers [frame, frame+len) in 16-byte vectors, the last one overlapping the one
// before it, so nothing outside the headers is read or written (len >= 16: the Ethernet, IP and
// TCP headers are at least 54 bytes).
// @ts-ignore: decorator
@inline function copyHeaders(dst: usize, src: usize, len: u32): void {
  const last = <usize>(len - 16);
  for (let i: usize = 0; i < last; i += 16) v128.store(dst + i, v128.load(src + i));
  v128.store(dst + last, v128.load(src + last));
}

// Lane indices 0..15, added to the tail's shift for the swizzle that drops bytes already summed.
const IOTA = i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

// Fused copy + RFC 1071 partial sum of one segment's payload, like csumCopy (csum/inet.ts) but
// with no call out of SIMD code: the last len % 16 bytes are copied as the 16-byte vector that
// ends with them (rewriting up to 15 bytes before dst with the bytes 15 before src: the caller
// writes the headers there afterwards), and summed after a swizzle that moves them to lanes
// 0.. and zeroes the rest. memory.copy and the scalar tail cost a third of the time of a 1448-byte
// segment in V8. The u32 lanes cannot overflow: each gains at most 4 × 0xFFFF per 64 bytes, and
// a segment is at most 64 KiB.
function copyAndSum(dst: usize, src: usize, len: u32, init: u32): u32 {
  let a0 = i32x4.splat(0), a1 = a0;
  const end64 = src + <usize>(len & ~63);
  while (src < end64) {
    const v0 = v128.load(src), v1 = v128.load(src, 16), v2 = v128.load(src, 32), v3 = v128.load(src, 48);
    v128.store(dst, v0); v128.store(dst, v1, 16); v128.store(dst, v2, 32); v128.store(dst, v3, 48);
    a0 = i32x4.add(a0, i32x4.add(i32x4.extadd_pairwise_i16x8_u(v0), i32x4.extadd_pairwise_i16x8_u(v2)));
    a1 = i32x4.add(a1, i32x4.add(i32x4.extadd_pairwise_i16x8_u(v1), i32x4.extadd_pairwise_i16x8_u(v3)));
    src += 64;
    dst += 64;
  }
  const end16 = src + <usize>(len & 48);
  while (src < end16) {
    const v = v128.load(src);
    v128.store(dst, v);
    a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_u(v));
    src += 16;
    dst += 16;
  }
  const rest = len & 15;
  if (rest != 0) {
    const back = <usize>(16 - rest);
    const v = v128.load(src - back);
    v128.store(dst - back, v);
    const tail = i8x16.swizzle(v, i8x16.add(IOTA, i8x16.splat(<i8>back)));
    a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_u(tail));
  }
  const lanes = i32x4.add(a0, a1);
  const wide = i64x2.add(i64x2.extend_low_i32x4_u(lanes), i64x2.extend_high_i32x4_u(lanes));
  return fold64(<u64>init + <u64>i64x2.extract_lane(wide, 0) + <u64>i64x2.extract_lane(wide, 1));
}

// see: tcp_offload.c tcp_gso_segment (seq += mss; fin/psh cleared but on the last; cwr only on
// the first); af_inet.c inet_gso_segment (id++ per segment, tot_len, ip_send_check);
// ip6_offload.c ipv6_gso_segment (payload_len = segment length - IPv6 header, extensions included)
export function tsoSegment(frame: usize, len: u32, gsoType: u32, mss: u32, resumeFrom: u32): i32 {
  const state = <usize>QUEUE_STATE_OFFSET;
  store<u32>(state + QS_TSO_RESUME, 0);
  if (!inRegion(frame, <usize>len, <usize>TX_BUF_OFFSET, <usize>TX_BUF_SIZE) &&
      !inRegion(frame, <usize>len, <usize>RX_BUF_OFFSET, <usize>RX_BUF_SIZE) &&
      !inRegion(frame, <usize>len, <usize>SCRATCH_OFFSET, <usize>SCRATCH_SIZE)) {
    return STATUS_BAD_ARGUMENT;
  }
  const info = state + QS_TSO_INFO;
  const parsed = parseHeaders(frame, len, info);
  if (parsed != STATUS_OK) return parsed;
  if (load<u8>(info + HDR_L4_PROTO) != IPPROTO_TCP) return STATUS_DROP_GSO_NOT_TCP;
  const version = <u32>load<u8>(info + HDR_IP_VERSION);
  if (!(gsoType == XEN_NETIF_GSO_TYPE_TCPV4 && version == 4) &&
      !(gsoType == XEN_NETIF_GSO_TYPE_TCPV6 && version == 6)) {
    return STATUS_DROP_GSO_NOT_TCP;
  }
  const l3 = <u32>load<u16>(info + HDR_L3);
  const l4 = <u32>load<u16>(info + HDR_L4);
  const end = <u32>load<u16>(info + HDR_L4_END);
  const tcpHlen = <u32>load<u16>(info + HDR_L4_HLEN);
  const hdrLen = l4 + tcpHlen;
  const payloadLen = end - hdrLen;
  // the bytes the IP length field counts besides the payload
  const ipOverhead = version == 4 ? hdrLen - l3 : hdrLen - l3 - IPV6_HLEN;
  if (mss == 0 || mss > IP_LENGTH_MAX - ipOverhead) return STATUS_DROP_GSO_BAD_SIZE;
  // the host passes back what tso_resume_offset returned: a segment boundary inside the payload
  if (resumeFrom != 0 && (resumeFrom >= payloadLen || resumeFrom % mss != 0)) return STATUS_BAD_ARGUMENT;

  const ip = frame + <usize>l3;
  const tcp = frame + <usize>l4;
  const seq0 = loadBe32(tcp + TCP_SEQ);
  const flags0 = <u32>load<u8>(tcp + TCP_FLAGS);
  const doffByte = <u32>load<u8>(tcp + TCP_DOFF);
  let ipSum: u32 = 0;
  let ipId0: u32 = 0;
  let pseudo: u32;
  if (version == 4) {
    ipSum = sumWordsExcept(ip, ipv4HeaderLength(ip), IPV4_TOT_LEN, IPV4_ID, IPV4_CHECK, IPV4_CHECK);
    ipId0 = loadBe16(ip + IPV4_ID);
    pseudo = ipv4PseudoSum(ip, IPPROTO_TCP, 0);
  } else {
    pseudo = ipv6PseudoSum(ip, IPPROTO_TCP, 0);
  }
  // TCP_DOFF and TCP_FLAGS share the word at offset 12
  const tcpSum = csumAdd(pseudo, sumWordsExcept(tcp, tcpHlen, TCP_SEQ, TCP_SEQ + 2, TCP_DOFF, TCP_CHECK));

  const bufEnd = SEG_BUF_OFFSET + SEG_BUF_SIZE;
  let offset = resumeFrom;
  let index = resumeFrom / mss;
  let position = SEG_BUF_OFFSET;
  let count: u32 = 0;
  do {
    const remaining = payloadLen - offset;
    const segLen = remaining < mss ? remaining : mss;
    const out = position + SEG_HEADROOM;
    const frameLen = hdrLen + segLen;
    // with frames of at most 64 KiB SEG_DESC fills before SEG_BUF; both are checked regardless
    if (count == SEG_DESC_CAPACITY || out + frameLen > bufEnd) {
      store<u32>(state + QS_TSO_RESUME, offset);
      break;
    }
    assert((out & 15) == 0 && (segLen != 0 || payloadLen == 0));
    const dst = <usize>out;
    const outTcp = dst + <usize>l4;
    const last = segLen == remaining;
    let flags = flags0;
    if (!last) flags &= ~<u32>(TCP_FLAG_FIN | TCP_FLAG_PSH);
    if (index != 0) flags &= ~<u32>TCP_FLAG_CWR;
    const seq = bswap<u32>(seq0 + offset);
    let sum = csumAdd(tcpSum, <u32>bswap<u16>(<u16>(tcpHlen + segLen)));
    sum = csumAdd(sum, seq);
    sum = csumAdd(sum, doffByte | (flags << 8));
    // payload first: its copy may rewrite up to 15 bytes before it, which the header copy below
    // then overwrites. The payload starts tcpHlen (a multiple of 4) after the TCP header: even, so
    // its sum adds without a byte swap.
    sum = copyAndSum(dst + <usize>hdrLen, frame + <usize>(hdrLen + offset), segLen, sum);
    copyHeaders(dst, frame, hdrLen);
    if (version == 4) {
      const outIp = dst + <usize>l3;
      const totLen = ipOverhead + segLen;
      const id = (ipId0 + index) & 0xFFFF;
      storeBe16(outIp + IPV4_TOT_LEN, totLen);
      storeBe16(outIp + IPV4_ID, id);
      let ipCheck = csumAdd(ipSum, <u32>bswap<u16>(<u16>totLen));
      ipCheck = csumAdd(ipCheck, <u32>bswap<u16>(<u16>id));
      store<u16>(outIp + IPV4_CHECK, csumFinish(ipCheck));
    } else {
      storeBe16(dst + <usize>l3 + IPV6_PAYLOAD_LEN, ipOverhead + segLen);
    }
    store<u32>(outTcp + TCP_SEQ, seq);
    store<u8>(outTcp + TCP_FLAGS, <u8>flags);
    store<u16>(outTcp + TCP_CHECK, csumFinish(sum));

    const desc = <usize>(SEG_DESC_OFFSET + count * SEG_DESC_STRIDE);
    store<u32>(desc + SEG_DESC_ADDRESS, out);
    store<u32>(desc + SEG_DESC_LENGTH, frameLen);
    position = (out + frameLen + 15) & ~15;
    offset += segLen;
    index++;
    count++;
  } while (offset < payloadLen);
  return <i32>count;
}

export function tso_segment(frame: usize, len: u32, gsoType: u32, mss: u32, resumeFrom: u32): i32 {
  return tsoSegment(frame, len, gsoType, mss, resumeFrom);
}

// The TCP payload offset tso_segment stopped at because SEG_BUF or SEG_DESC was full, 0 when the
// frame is done; pass it back as resumeFrom once the host has taken the segments out.
export function tso_resume_offset(): u32 {
  return load<u32>(<usize>QUEUE_STATE_OFFSET + QS_TSO_RESUME);
}

// Benchmark loop kept inside Wasm so the JS↔Wasm call is not what is measured. Returns the total
// number of segments written, or the first negative status (as u32).
export function bench_tso(frame: usize, len: u32, gsoType: u32, mss: u32, iterations: u32): u32 {
  let total: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) {
    const count = tsoSegment(frame, len, gsoType, mss, 0);
    if (count < 0) return <u32>count;
    total += <u32>count;
  }
  return total;
}
