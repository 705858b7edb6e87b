// Plain bit-by-bit Toeplitz hash, written for tests only from the definition in netif.h: Buffer[]
// and Key[] are shift registers (MSB of byte 0 left-most); for every bit of Buffer, if it is 1,
// Value ^= the left-most 32 bits of Key; then both shift left by one. Key bits past its length
// are 0. see: xen/include/public/io/netif.h "Toeplitz hash"

function keyBit(key: Uint8Array, bit: number): number {
  const byte = bit >> 3;
  if (byte >= key.length) return 0;
  return (key[byte]! >> (7 - (bit & 7))) & 1;
}

export function toeplitzReference(key: Uint8Array, input: Uint8Array): number {
  let value = 0;
  for (let bit = 0; bit < input.length * 8; bit++) {
    if (((input[bit >> 3]! >> (7 - (bit & 7))) & 1) === 0) continue;
    let window = 0;
    for (let j = 0; j < 32; j++) window = ((window << 1) | keyBit(key, bit + j)) >>> 0;
    value = (value ^ window) >>> 0;
  }
  return value;
}
