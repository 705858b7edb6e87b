// Pure-TypeScript RFC 1071 checksums, the comparison point for the Wasm kernels in `bench`:
// 32-bit little-endian loads through a Uint32Array, two 16-bit lanes summed in small integers
// (folded before they can leave V8's int range), no allocation per call. Written for speed, not
// as a test reference (test/reference/checksum.ts is the plain one).
// see: RFC 1071 §2 (byte-order independence, deferred carries)

/** Words summed per chunk: 8192 × 2 lanes × 0xffff stays below 2^30. */
const CHUNK_WORDS = 8192;

/**
 * The 16-bit ones'-complement sum (big-endian word order, not inverted, folded) of
 * bytes[start, end) plus `initial` (a folded 16-bit sum). `words` must view the same buffer as
 * `bytes` from offset 0 (a Uint32Array over bytes.buffer at a 4-aligned byteOffset).
 */
export function onesSum(bytes: Uint8Array, words: Uint32Array, start: number, end: number, initial = 0): number {
  let le = 0; // sum of little-endian 16-bit words
  let at = start;
  if ((at & 1) !== 0) {
    // Odd start: sum the region shifted by one byte and swap back (RFC 1071 byte-order property).
    let be = 0;
    for (; at + 1 < end; at += 2) be += (bytes[at]! << 8) | bytes[at + 1]!;
    if (at < end) be += bytes[at]! << 8;
    return add16(initial, fold(be));
  }
  if ((at & 2) !== 0 && at + 2 <= end) {
    le += bytes[at]! | (bytes[at + 1]! << 8);
    at += 2;
  }
  let w = at >>> 2;
  const lastWord = (end >>> 2);
  while (w < lastWord) {
    const stop = Math.min(lastWord, w + CHUNK_WORDS);
    let lo = 0;
    let hi = 0;
    for (; w + 4 <= stop; w += 4) {
      const a = words[w]!, b = words[w + 1]!, c = words[w + 2]!, d = words[w + 3]!;
      lo += (a & 0xffff) + (b & 0xffff) + (c & 0xffff) + (d & 0xffff);
      hi += (a >>> 16) + (b >>> 16) + (c >>> 16) + (d >>> 16);
    }
    for (; w < stop; w++) {
      const a = words[w]!;
      lo += a & 0xffff;
      hi += a >>> 16;
    }
    le = fold(le + fold(lo) + fold(hi));
  }
  at = Math.max(at, w << 2);
  for (; at + 1 < end; at += 2) le += bytes[at]! | (bytes[at + 1]! << 8);
  if (at < end) le += bytes[at]!;
  const folded = fold(le);
  return add16(initial, ((folded & 0xff) << 8) | (folded >>> 8));
}

export function fold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function add16(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/** The value to store in a checksum field: ~sum. */
export function internetChecksum(bytes: Uint8Array, words: Uint32Array, start: number, end: number): number {
  return ~onesSum(bytes, words, start, end) & 0xffff;
}

/**
 * Completes a csum_blank TCP/UDP checksum in place: the field holds the pseudo-header sum, the
 * result is ~sum over the L4 segment. Returns 0, or -1 for a frame it cannot parse (not IPv4/IPv6
 * TCP/UDP, or truncated). see: skb_checksum_help
 */
export function completeChecksum(bytes: Uint8Array, words: Uint32Array, start: number, length: number): number {
  const end = start + length;
  if (length < 14 + 20) return -1;
  const type = (bytes[start + 12]! << 8) | bytes[start + 13]!;
  const l3 = start + 14;
  let l4: number, l4End: number, protocol: number;
  if (type === 0x0800) {
    const ihl = (bytes[l3]! & 0xf) * 4;
    if (ihl < 20) return -1;
    l4 = l3 + ihl;
    l4End = l3 + ((bytes[l3 + 2]! << 8) | bytes[l3 + 3]!);
    protocol = bytes[l3 + 9]!;
  } else if (type === 0x86dd) {
    if (length < 14 + 40) return -1;
    l4 = l3 + 40;
    l4End = l4 + ((bytes[l3 + 4]! << 8) | bytes[l3 + 5]!);
    protocol = bytes[l3 + 6]!;
  } else {
    return -1;
  }
  const field = protocol === 6 ? 16 : protocol === 17 ? 6 : -1;
  if (field < 0 || l4End > end || l4 + field + 2 > l4End) return -1;
  let value = ~onesSum(bytes, words, l4, l4End) & 0xffff;
  if (protocol === 17 && value === 0) value = 0xffff;
  bytes[l4 + field] = value >>> 8;
  bytes[l4 + field + 1] = value & 0xff;
  return 0;
}
