// One parse of an Ethernet frame down to its TCP/UDP header, shared by checksum setup,
// segmentation and flow hashing. The frame is guest- or TAP-controlled: every field is checked
// against the frame length before it is read, and the IP length fields are trusted only after
// they are shown to fit. see: skbuff.c skb_checksum_setup_ip, skb_checksum_setup_ipv6

import { inPacketRegion } from '../region';
import {
  STATUS_BAD_ARGUMENT, STATUS_DROP_BAD_HEADER, STATUS_DROP_EXT_HEADER_LIMIT, STATUS_DROP_IP_FRAGMENT, STATUS_DROP_NOT_IP,
  STATUS_DROP_NOT_TCP_UDP, STATUS_DROP_TOO_BIG, STATUS_DROP_TRUNCATED, STATUS_OK,
} from '../status';
import { ETH_P_IP, ETH_P_IPV6, ethL3Offset, loadBe16 } from './eth';
import { IPV4_HLEN_MIN, IPV4_PROTOCOL, IPV4_TOT_LEN, ipv4HeaderLength, ipv4IsFragment, ipv4PseudoSum } from './ipv4';
import {
  IPV6_HLEN, IPV6_NEXTHDR, MAX_IPV6_HDR_LEN, NEXTHDR_AUTH, NEXTHDR_DEST, NEXTHDR_FRAGMENT, NEXTHDR_HOP,
  NEXTHDR_ROUTING, NEXTHDR_TCP, NEXTHDR_UDP, ipv6PayloadLength, ipv6PseudoSum,
} from './ipv6';
import { TCP_CHECK, TCP_HLEN_MIN, tcpHeaderLength } from './tcp';
import { UDP_CHECK, UDP_HLEN } from './udp';

// HeaderInfo, 16 bytes at a caller-chosen address.
export const HDR_L3: u32 = 0;          // u16 offset of the IP header
export const HDR_L4: u32 = 2;          // u16 offset of the TCP/UDP header
export const HDR_L4_END: u32 = 4;      // u16 end of the IP payload (frame padding excluded)
export const HDR_L4_HLEN: u32 = 6;     // u16 TCP header length (data offset × 4) or 8 for UDP
export const HDR_IP_VERSION: u32 = 8;  // u8 4 or 6
export const HDR_L4_PROTO: u32 = 9;    // u8 6 (TCP) or 17 (UDP)
export const HDR_CSUM_OFFSET: u32 = 10; // u16 offset of the checksum field inside the L4 header
export const HDR_PSEUDO_SUM: u32 = 12; // u32 pseudo-header partial sum (memory order)
export const HDR_INFO_SIZE: u32 = 16;

const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;

// Walks the IPv6 extension headers Linux walks; returns the L4 offset, or a negative status.
// see: skbuff.c skb_checksum_setup_ipv6
function ipv6L4Offset(frame: usize, l3: u32, end: u32, info: usize): i32 {
  let nextHeader = <u32>load<u8>(frame + <usize>l3 + IPV6_NEXTHDR);
  let offset = l3 + IPV6_HLEN;
  for (;;) {
    if (nextHeader == NEXTHDR_TCP || nextHeader == NEXTHDR_UDP) break;
    if (nextHeader != NEXTHDR_HOP && nextHeader != NEXTHDR_DEST && nextHeader != NEXTHDR_ROUTING &&
        nextHeader != NEXTHDR_AUTH && nextHeader != NEXTHDR_FRAGMENT) {
      return STATUS_DROP_NOT_TCP_UDP;
    }
    if (offset + 8 > end) return STATUS_DROP_TRUNCATED;
    if (offset - l3 + 8 > MAX_IPV6_HDR_LEN) return STATUS_DROP_EXT_HEADER_LIMIT;
    const header = frame + <usize>offset;
    let length: u32;
    if (nextHeader == NEXTHDR_FRAGMENT) {
      // see: RFC 8200 §4.5: offset (bits 3..15) or M flag (bit 0) set means a real fragment
      if ((loadBe16(header + 2) & 0xFFF9) != 0) return STATUS_DROP_IP_FRAGMENT;
      length = 8;
    } else if (nextHeader == NEXTHDR_AUTH) {
      length = (<u32>load<u8>(header, 1) + 2) << 2;
    } else {
      length = (<u32>load<u8>(header, 1) + 1) << 3;
    }
    nextHeader = <u32>load<u8>(header);
    offset += length;
    if (offset > end) return STATUS_DROP_TRUNCATED;
  }
  store<u8>(info + HDR_L4_PROTO, <u8>nextHeader);
  return <i32>offset;
}

export function parseHeaders(frame: usize, len: u32, info: usize): i32 {
  if (len > 0xFFFF + 64) return STATUS_DROP_BAD_HEADER;
  const l3 = ethL3Offset(frame, len);
  if (l3 == 0) return STATUS_DROP_TRUNCATED;
  const etherType = loadBe16(frame + <usize>l3 - 2);
  const ip = frame + <usize>l3;
  let l4: u32;
  let end: u32;
  if (etherType == ETH_P_IP) {
    if (l3 + IPV4_HLEN_MIN > len) return STATUS_DROP_TRUNCATED;
    const headerLength = ipv4HeaderLength(ip);
    if ((<u32>load<u8>(ip) >> 4) != 4 || headerLength < IPV4_HLEN_MIN) return STATUS_DROP_BAD_HEADER;
    const totalLength = loadBe16(ip + IPV4_TOT_LEN);
    if (totalLength < headerLength) return STATUS_DROP_BAD_HEADER;
    if (l3 + totalLength > len) return STATUS_DROP_TRUNCATED;
    if (ipv4IsFragment(ip)) return STATUS_DROP_IP_FRAGMENT;
    const protocol = <u32>load<u8>(ip + IPV4_PROTOCOL);
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return STATUS_DROP_NOT_TCP_UDP;
    store<u8>(info + HDR_IP_VERSION, 4);
    store<u8>(info + HDR_L4_PROTO, <u8>protocol);
    l4 = l3 + headerLength;
    end = l3 + totalLength;
  } else if (etherType == ETH_P_IPV6) {
    if (l3 + IPV6_HLEN > len) return STATUS_DROP_TRUNCATED;
    if ((<u32>load<u8>(ip) >> 4) != 6) return STATUS_DROP_BAD_HEADER;
    const payloadLength = ipv6PayloadLength(ip);
    if (payloadLength == 0) return STATUS_DROP_BAD_HEADER; // jumbograms are not walked
    end = l3 + IPV6_HLEN + payloadLength;
    if (end > len) return STATUS_DROP_TRUNCATED;
    store<u8>(info + HDR_IP_VERSION, 6);
    const offset = ipv6L4Offset(frame, l3, end, info);
    if (offset < 0) return offset;
    l4 = <u32>offset;
  } else {
    return STATUS_DROP_NOT_IP;
  }
  // HeaderInfo keeps offsets in u16: an IP packet ending past 64 KiB (a maximal IPv4/IPv6 packet
  // behind an Ethernet header) would wrap HDR_L4_END, and no netif packet can be that long.
  // see: netif.h XEN_NETIF_MAX_TX_SIZE
  if (end > 0xFFFF) return STATUS_DROP_TOO_BIG;
  const protocol = <u32>load<u8>(info + HDR_L4_PROTO);
  let l4HeaderLength: u32;
  if (protocol == IPPROTO_TCP) {
    if (l4 + TCP_HLEN_MIN > end) return STATUS_DROP_TRUNCATED;
    l4HeaderLength = tcpHeaderLength(frame + <usize>l4);
    if (l4HeaderLength < TCP_HLEN_MIN) return STATUS_DROP_BAD_HEADER;
    if (l4 + l4HeaderLength > end) return STATUS_DROP_TRUNCATED;
    store<u16>(info + HDR_CSUM_OFFSET, <u16>TCP_CHECK);
  } else {
    if (l4 + UDP_HLEN > end) return STATUS_DROP_TRUNCATED;
    l4HeaderLength = UDP_HLEN;
    store<u16>(info + HDR_CSUM_OFFSET, <u16>UDP_CHECK);
  }
  const l4Length = end - l4;
  const pseudo = load<u8>(info + HDR_IP_VERSION) == 4
    ? ipv4PseudoSum(ip, protocol, l4Length)
    : ipv6PseudoSum(ip, protocol, l4Length);
  store<u16>(info + HDR_L3, <u16>l3);
  store<u16>(info + HDR_L4, <u16>l4);
  store<u16>(info + HDR_L4_END, <u16>end);
  store<u16>(info + HDR_L4_HLEN, <u16>l4HeaderLength);
  store<u32>(info + HDR_PSEUDO_SUM, pseudo);
  return STATUS_OK;
}

// Exported for tests and the host: parse into the caller's 16-byte HeaderInfo. The frame must be
// inside a packet buffer and the HeaderInfo too, apart from the frame (STATUS_BAD_ARGUMENT).
export function parse_headers(frame: usize, len: u32, info: usize): i32 {
  if (!inPacketRegion(frame, <usize>len) || !inPacketRegion(info, <usize>HDR_INFO_SIZE) ||
      !(info + <usize>HDR_INFO_SIZE <= frame || frame + <usize>len <= info)) return STATUS_BAD_ARGUMENT;
  return parseHeaders(frame, len, info);
}

