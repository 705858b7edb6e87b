// IPv6 header and extension-header walk. see: RFC 8200; skbuff.c skb_checksum_setup_ipv6

import { csumAdd } from '../csum/inet';
import { loadBe16 } from './eth';

export const IPV6_HLEN: u32 = 40;
export const IPV6_PAYLOAD_LEN: u32 = 4;
export const IPV6_NEXTHDR: u32 = 6;
export const IPV6_SADDR: u32 = 8;

export const NEXTHDR_HOP: u32 = 0;
export const NEXTHDR_TCP: u32 = 6;
export const NEXTHDR_UDP: u32 = 17;
export const NEXTHDR_ROUTING: u32 = 43;
export const NEXTHDR_FRAGMENT: u32 = 44;
export const NEXTHDR_AUTH: u32 = 51;
export const NEXTHDR_DEST: u32 = 60;

// Linux parses extension headers only within the first 256 bytes of the IPv6 packet; a longer
// chain (or a loop of options headers) is refused rather than walked. see: skbuff.c MAX_IPV6_HDR_LEN
export const MAX_IPV6_HDR_LEN: u32 = 256;

// Partial sum (memory order) of the IPv6 pseudo-header: saddr, daddr, L4 length, next header.
// see: RFC 8200 §8.1
export function ipv6PseudoSum(ip: usize, nextHeader: u32, l4Length: u32): u32 {
  let wide: u64 = 0;
  for (let i: u32 = 0; i < 32; i += 8) {
    const word = load<u64>(ip + IPV6_SADDR + <usize>i);
    wide += (word & 0xFFFFFFFF) + (word >> 32);
  }
  let sum = <u32>(wide & 0xFFFFFFFF);
  sum = csumAdd(sum, <u32>(wide >> 32));
  sum = csumAdd(sum, bswap<u32>(l4Length));
  return csumAdd(sum, bswap<u16>(<u16>nextHeader));
}

// @ts-ignore: decorator
@inline export function ipv6PayloadLength(ip: usize): u32 {
  return loadBe16(ip + IPV6_PAYLOAD_LEN);
}
