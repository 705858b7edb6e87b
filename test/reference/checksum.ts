// Plain, obviously-correct RFC 1071 arithmetic for tests only: big-endian 16-bit words summed
// as JavaScript numbers, folded at the end. Slow on purpose; it shares no code with the kernels.

/** Ones'-complement sum of big-endian words, folded to 16 bits (not complemented). */
export function onesSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The RFC 1071 checksum to store, as a big-endian number. */
export function internetChecksum(bytes: Uint8Array): number {
  return ~onesSum(bytes) & 0xffff;
}

/** The pseudo-header bytes for a TCP/UDP checksum: addresses, protocol, L4 length. */
export function pseudoHeader(ipVersion: 4 | 6, source: Uint8Array, destination: Uint8Array, protocol: number, l4Length: number): Uint8Array {
  if (ipVersion === 4) {
    return new Uint8Array([...source, ...destination, 0, protocol, l4Length >> 8, l4Length & 0xff]);
  }
  const header = new Uint8Array(40);
  header.set(source, 0);
  header.set(destination, 16);
  new DataView(header.buffer).setUint32(32, l4Length);
  header[39] = protocol;
  return header;
}

/** Full TCP/UDP checksum of an L4 segment whose checksum field is taken as zero. */
export function l4Checksum(pseudo: Uint8Array, segment: Uint8Array, checksumOffset: number): number {
  const copy = segment.slice();
  copy[checksumOffset] = 0;
  copy[checksumOffset + 1] = 0;
  const value = ~onesSum(copy, onesSum(pseudo)) & 0xffff;
  return value;
}
