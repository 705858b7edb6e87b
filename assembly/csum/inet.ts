// The RFC 1071 Internet checksum over linear memory. Sums are kept in memory (little-endian load)
// order: the ones'-complement sum commutes with byte swapping (RFC 1071 §2(B)), so a folded sum
// can be stored with store<u16> as is, and only the public value is swapped to big-endian.

import { inPacketRegion } from '../region';
import { STATUS_BAD_ARGUMENT } from '../status';

// @ts-ignore: decorator
@inline function addCarry64(sum: u64, value: u64): u64 {
  const r = sum + value;
  return r + <u64>(r < value);
}

// Folds a 64-bit accumulator to a 32-bit partial sum (never 0 unless all inputs were 0).
// @ts-ignore: decorator
@inline export function fold64(sum: u64): u32 {
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  sum = (sum & 0xFFFFFFFF) + (sum >> 32);
  return <u32>sum;
}

// Folds a 32-bit partial sum to 16 bits (end-around carry), not complemented.
// @ts-ignore: decorator
@inline export function fold16(sum: u32): u32 {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return sum;
}

// Adds two partial sums with end-around carry.
// @ts-ignore: decorator
@inline export function csumAdd(a: u32, b: u32): u32 {
  const r = a + b;
  return r + <u32>(r < b);
}

// The checksum field value (complemented, memory order) for a partial sum.
// @ts-ignore: decorator
@inline export function csumFinish(sum: u32): u16 {
  return <u16>(~fold16(sum) & 0xFFFF);
}

// A partial sum that started at an odd byte offset of the checksummed stream must be byte-swapped
// before it is added to a sum of the even-aligned stream. see: RFC 1071 §2(B)
// @ts-ignore: decorator
@inline export function csumSwapOdd(sum: u32): u32 {
  const s = fold16(sum);
  return ((s & 0xFF) << 8) | (s >> 8);
}

// Sums 0..63 trailing bytes; an odd last byte is the high byte of a big-endian word, which is the
// low byte of the little-endian word at an even offset. Every add keeps its carry: after a word
// near all ones the accumulator can sit within 2^32 of 2^64, and a plain add would drop the 2^64
// (one unit of the ones'-complement sum) for the last 1-7 bytes (found by kernel_hash, libFuzzer).
function sumTail(p: usize, len: u32, acc: u64): u64 {
  while (len >= 8) { acc = addCarry64(acc, load<u64>(p)); p += 8; len -= 8; }
  if (len >= 4) { acc = addCarry64(acc, <u64>load<u32>(p)); p += 4; len -= 4; }
  if (len >= 2) { acc = addCarry64(acc, <u64>load<u16>(p)); p += 2; len -= 2; }
  if (len) acc = addCarry64(acc, <u64>load<u8>(p));
  return acc;
}

// Sums 16-byte vectors with pmaddwd: `i32x4.dot_i16x8_s(v ^ 0x8000, 1)` adds word pairs as signed
// values biased by -32768 each, one instruction where the unsigned pairwise add takes three on
// x64. The bias is exact and known (32768 per word), so it is added back in 64-bit arithmetic.
// A lane gains at most 2 × 32768 in magnitude per vector: 64 KiB chunks keep it inside i32.
// see: RFC 1071 §2(B) (sums may be taken in any order and any word size)
// @ts-ignore: decorator
@inline function sumVectors(p: usize, len: u32, acc: u64): u64 {
  const bias = i16x8.splat(-32768);
  const ones = i16x8.splat(1);
  while (len >= 64) {
    const chunk = len < 65536 ? len & ~63 : 65536;
    const end = p + <usize>chunk;
    let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    while (p < end) {
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.xor(v128.load(p), bias), ones));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.xor(v128.load(p, 16), bias), ones));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.xor(v128.load(p, 32), bias), ones));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.xor(v128.load(p, 48), bias), ones));
      p += 64;
    }
    acc = addCarry64(acc, unbias(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), chunk));
    len -= chunk;
  }
  return acc;
}

// The exact unsigned sum of `bytes` bytes whose biased pair sums are in `lanes`.
// @ts-ignore: decorator
@inline function unbias(lanes: v128, bytes: u32): u64 {
  const wide = i64x2.add(i64x2.extend_low_i32x4_s(lanes), i64x2.extend_high_i32x4_s(lanes));
  return <u64>(i64x2.extract_lane(wide, 0) + i64x2.extract_lane(wide, 1) + (<i64>(bytes >> 1) << 15));
}

export function csumPartial(p: usize, len: u32, init: u32): u32 {
  const vectorBytes = len & ~63;
  const acc = sumVectors(p, vectorBytes, <u64>init);
  return fold64(sumTail(p + <usize>vectorBytes, len - vectorBytes, acc));
}

// Copies len bytes from src to dst and returns the partial sum of them, in one pass.
export function csumCopy(dst: usize, src: usize, len: u32, init: u32): u32 {
  let acc: u64 = <u64>init;
  const bias = i16x8.splat(-32768);
  const ones = i16x8.splat(1);
  while (len >= 64) {
    const chunk = len < 65536 ? len & ~63 : 65536;
    const end = src + <usize>chunk;
    let a0 = i32x4.splat(0), a1 = a0;
    while (src < end) {
      const v0 = v128.load(src), v1 = v128.load(src, 16), v2 = v128.load(src, 32), v3 = v128.load(src, 48);
      v128.store(dst, v0); v128.store(dst, v1, 16); v128.store(dst, v2, 32); v128.store(dst, v3, 48);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(v128.xor(v0, bias), ones), i32x4.dot_i16x8_s(v128.xor(v2, bias), ones)));
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(v128.xor(v1, bias), ones), i32x4.dot_i16x8_s(v128.xor(v3, bias), ones)));
      src += 64;
      dst += 64;
    }
    acc = addCarry64(acc, unbias(i32x4.add(a0, a1), chunk));
    len -= chunk;
  }
  memory.copy(dst, src, <usize>len);
  return fold64(sumTail(src, len, acc));
}

// Exported for the embedding API and benchmarks: the RFC 1071 checksum of [p, p+len) as the
// big-endian 16-bit value to store (complemented), or STATUS_BAD_ARGUMENT when [p, p+len) is not
// inside a packet buffer (a read past the memory would trap).
export function inet_checksum(p: usize, len: u32): i32 {
  if (!inPacketRegion(p, <usize>len)) return STATUS_BAD_ARGUMENT;
  const folded = csumFinish(csumPartial(p, len, 0));
  return <i32>bswap<u16>(folded);
}

// Benchmark loop kept inside Wasm so the JS↔Wasm call is not what is measured.
export function bench_inet_checksum(p: usize, len: u32, iterations: u32): u32 {
  if (!inPacketRegion(p, <usize>len)) return <u32>STATUS_BAD_ARGUMENT;
  let acc: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) acc += csumPartial(p, len, acc & 1);
  return acc;
}
