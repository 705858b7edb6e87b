// The Toeplitz hash of netif.h's control-ring hashing: key and input are bit shift registers
// (MSB of byte 0 left-most); for every set input bit, the left-most 32 key bits at that position
// are XORed into the result. see: netif.h xen_netif_toeplitz_hash
//
// The reference keeps a 64-bit window of the key and XORs the whole window per set bit, keeping
// the upper 32 bits at the end. Here the window's upper 32 bits are computed directly per bit
// from a 40-bit slice of the key (branch-free), which gives the same value: the lower 32 bits of
// the reference's XOR never reach its result.

import { QUEUE_STATE_OFFSET } from '../layout';
import { inPacketRegion } from '../region';
import { STATUS_BAD_ARGUMENT, STATUS_OK } from '../status';

// Key length limit (Linux netback's XEN_NETBK_MAX_HASH_KEY_SIZE) and the longest hashed input
// (IPv6 addresses + TCP ports). see: common.h, netif.h XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP
export const TOEPLITZ_KEY_MAX: u32 = 40;
export const TOEPLITZ_INPUT_MAX: u32 = 36;

// @ts-ignore: decorator
@inline function keyByte(key: usize, keyLen: u32, i: u32): u64 {
  return i < keyLen ? <u64>load<u8>(key + <usize>i) : 0;
}

// The key window for input byte i: key bits [8*i, 8*i + 40), MSB-aligned in the low 40 bits.
// Both forms of the hash walk the key with it, a byte at a time.
// @ts-ignore: decorator
@inline function firstKeyWindow(key: usize, keyLen: u32): u64 {
  let window: u64 = 0;
  for (let k: u32 = 0; k < 5; k++) window = (window << 8) | keyByte(key, keyLen, k);
  return window;
}

// The window for input byte i + 1, from byte i's.
// @ts-ignore: decorator
@inline function nextKeyWindow(window: u64, key: usize, keyLen: u32, i: u32): u64 {
  return ((window << 8) & 0xFFFFFFFFFF) | keyByte(key, keyLen, i + 5);
}

// The hash of `input` under `key`: lengths beyond the limits are clamped, never trusted. Both
// stay inside a packet buffer or the scratch (the exported forms check that first).
function toeplitzHash(key: usize, keyLen: u32, input: usize, inputLen: u32): u32 {
  let window = firstKeyWindow(key, keyLen);
  let hash: u32 = 0;
  for (let i: u32 = 0; i < inputLen; i++) {
    const byte = <u32>load<u8>(input + <usize>i);
    for (let bit: u32 = 0; bit < 8; bit++) {
      // key bits [8i + bit, 8i + bit + 32): shift the 40-bit window right by 8 - bit.
      const slice = <u32>(window >> (8 - bit));
      const mask = 0 - ((byte >> (7 - bit)) & 1);
      hash ^= slice & mask;
    }
    window = nextKeyWindow(window, key, keyLen, i);
  }
  return hash;
}

// Where the embedding API's hash goes (every bit pattern is a valid hash, so the value cannot
// share the return with a status): toeplitz_hash_value reads it.
export const QS_TOEPLITZ_HASH: u32 = 0x600;

// @ts-ignore: decorator
@inline function argumentsInRegion(key: usize, keyLen: u32, input: usize, inputLen: u32): bool {
  return inPacketRegion(key, <usize>keyLen) && inPacketRegion(input, <usize>inputLen);
}

// The embedding API's hash: STATUS_OK with the hash kept for toeplitz_hash_value, or
// STATUS_BAD_ARGUMENT when key or input (lengths clamped to the limits) is not inside a packet
// buffer or the scratch. see: netif.h xen_netif_toeplitz_hash
export function toeplitz_hash(key: usize, keyLen: u32, input: usize, inputLen: u32): i32 {
  if (keyLen > TOEPLITZ_KEY_MAX) keyLen = TOEPLITZ_KEY_MAX;
  if (inputLen > TOEPLITZ_INPUT_MAX) inputLen = TOEPLITZ_INPUT_MAX;
  if (!argumentsInRegion(key, keyLen, input, inputLen)) return STATUS_BAD_ARGUMENT;
  store<u32>(<usize>QUEUE_STATE_OFFSET + <usize>QS_TOEPLITZ_HASH, toeplitzHash(key, keyLen, input, inputLen));
  return STATUS_OK;
}

// The hash of the last toeplitz_hash that returned STATUS_OK.
export function toeplitz_hash_value(): u32 {
  return load<u32>(<usize>QUEUE_STATE_OFFSET + <usize>QS_TOEPLITZ_HASH);
}

// For a fixed key the hash is linear in the input bits, so the part one input byte contributes
// depends only on its position and value: a table of TOEPLITZ_INPUT_MAX × 256 u32 (built once per
// key) turns the 8 shift-and-mask steps per input byte into one load. It needs 36 × 1 KiB at
// `table`. Each entry is the entry of the value without its lowest set bit, XOR that bit's slice.
export const TOEPLITZ_TABLE_ROW: u32 = 256 * 4;

export function toeplitzTableBuild(key: usize, keyLen: u32, table: usize): void {
  if (keyLen > TOEPLITZ_KEY_MAX) keyLen = TOEPLITZ_KEY_MAX;
  let window = firstKeyWindow(key, keyLen);
  for (let i: u32 = 0; i < TOEPLITZ_INPUT_MAX; i++) {
    const row = table + <usize>(i * TOEPLITZ_TABLE_ROW);
    store<u32>(row, 0);
    for (let value: u32 = 1; value < 256; value++) {
      // input bit p (0 = least significant) of this byte is key bits [8i + 7 - p, +32): see toeplitz_hash
      const p = ctz(value);
      const slice = <u32>(window >> (p + 1));
      store<u32>(row + <usize>(value << 2), load<u32>(row + <usize>((value & (value - 1)) << 2)) ^ slice);
    }
    window = nextKeyWindow(window, key, keyLen, i);
  }
}

// The hash of `input` under the key `table` was built from; the same value as toeplitz_hash.
export function toeplitzTableHash(table: usize, input: usize, inputLen: u32): u32 {
  if (inputLen > TOEPLITZ_INPUT_MAX) inputLen = TOEPLITZ_INPUT_MAX;
  let hash: u32 = 0;
  for (let i: u32 = 0; i < inputLen; i++) {
    hash ^= load<u32>(table + <usize>(i * TOEPLITZ_TABLE_ROW) + (<usize>load<u8>(input + <usize>i) << 2));
  }
  return hash;
}

// Benchmark: the hash `iterations` times over the same input.
export function bench_toeplitz(key: usize, keyLen: u32, input: usize, inputLen: u32, iterations: u32): u32 {
  if (keyLen > TOEPLITZ_KEY_MAX) keyLen = TOEPLITZ_KEY_MAX;
  if (inputLen > TOEPLITZ_INPUT_MAX) inputLen = TOEPLITZ_INPUT_MAX;
  if (!argumentsInRegion(key, keyLen, input, inputLen)) return <u32>STATUS_BAD_ARGUMENT;
  let acc: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) acc ^= toeplitzHash(key, keyLen, input, inputLen) + i;
  return acc;
}
