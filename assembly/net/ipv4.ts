// IPv4 header facts used by checksum setup and segmentation. see: RFC 791

import { csumAdd, fold16 } from '../csum/inet';
import { loadBe16 } from './eth';

export const IPV4_HLEN_MIN: u32 = 20;
export const IPV4_TOT_LEN: u32 = 2;
export const IPV4_ID: u32 = 4;
export const IPV4_FRAG_OFF: u32 = 6;
export const IPV4_PROTOCOL: u32 = 9;
export const IPV4_CHECK: u32 = 10;
export const IPV4_SADDR: u32 = 12;
export const IP_MF: u32 = 0x2000;
export const IP_OFFSET: u32 = 0x1FFF;

// @ts-ignore: decorator
@inline export function ipv4HeaderLength(ip: usize): u32 {
  return (<u32>load<u8>(ip) & 0xF) << 2;
}

// @ts-ignore: decorator
@inline export function ipv4IsFragment(ip: usize): bool {
  return (loadBe16(ip + IPV4_FRAG_OFF) & (IP_MF | IP_OFFSET)) != 0;
}

// Partial sum (memory order) of the IPv4 pseudo-header: saddr, daddr, protocol, L4 length.
// see: RFC 793 §3.1, RFC 768
export function ipv4PseudoSum(ip: usize, protocol: u32, l4Length: u32): u32 {
  const addresses = <u64>load<u32>(ip + IPV4_SADDR) + <u64>load<u32>(ip + IPV4_SADDR + 4);
  let sum = <u32>(addresses & 0xFFFFFFFF);
  sum = csumAdd(sum, <u32>(addresses >> 32));
  // protocol and length are big-endian 16-bit words; in memory order their bytes swap
  sum = csumAdd(sum, bswap<u16>(<u16>protocol));
  return csumAdd(sum, bswap<u16>(<u16>l4Length));
}

// Rewrites the header checksum of an IPv4 header of `headerLength` bytes.
export function ipv4SetHeaderChecksum(ip: usize, headerLength: u32): void {
  store<u16>(ip + IPV4_CHECK, 0);
  let sum: u32 = 0;
  for (let i: u32 = 0; i < headerLength; i += 2) sum += <u32>load<u16>(ip + <usize>i);
  store<u16>(ip + IPV4_CHECK, <u16>(~fold16(sum) & 0xFFFF));
}
