// The virtio_net_hdr a TAP with IFF_VNET_HDR puts in front of every frame, mapped both ways to
// the netif flags and GSO extra. Guest TX → TAP follows what Linux netback does with the skb
// before the stack sees it (checksum_setup, xenvif_set_skb_gso) and what virtio_net_hdr_from_skb
// would write for that skb; TAP → guest RX follows what rx.c tells netfront for an skb, limited by
// the features netfront advertised (interface.c xenvif_fix_features), doing in Wasm the work the
// Linux stack would have done before handing the skb to netback (netif-protocol.md §6.3).
// The header is little-endian: the TAP's vnet header on x86 without TUNSETVNETBE.
// see: include/uapi/linux/virtio_net.h; include/linux/virtio_net.h; netif-protocol.md §6.1, §6.3

import {
  QS_VNET_OUT, checksumSetup, offloadInfo, storeL4Checksum,
} from './csum/offload';
import { fold16 } from './csum/inet';
import { inPacketRegion, inRegion } from './region';
import { countAdd } from './count';
import { COUNTER_RX_SW_CSUM, COUNTER_TX_DROP_GSO_MISMATCH, COUNTER_TX_SW_CSUM } from './counters';
import { QUEUE_STATE_OFFSET, RX_PKT_DESC_OFFSET, RX_PKT_DESC_SIZE, TX_PKT_DESC_OFFSET, TX_PKT_DESC_SIZE } from './layout';
import {
  HDR_CSUM_OFFSET, HDR_IP_VERSION, HDR_L4, HDR_L4_HLEN, HDR_L4_PROTO, HDR_PSEUDO_SUM, parseHeaders,
} from './net/headers';
import {
  NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED,
  XEN_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
} from './netif/defs';
import {
  STATUS_BAD_ARGUMENT, STATUS_DROP_CSUM_START_MISMATCH, STATUS_DROP_GSO_BAD_SIZE, STATUS_DROP_GSO_NOT_TCP,
  STATUS_DROP_GSO_TYPE_MISMATCH, STATUS_DROP_GSO_UNSUPPORTED, STATUS_OK,
} from './status';

// struct virtio_net_hdr (10 bytes): flags u8 @0, gso_type u8 @1, hdr_len u16 @2, gso_size u16 @4,
// csum_start u16 @6, csum_offset u16 @8. see: include/uapi/linux/virtio_net.h
export const VNETH_FLAGS: u32 = 0;
export const VNETH_GSO_TYPE: u32 = 1;
export const VNETH_HDR_LEN: u32 = 2;
export const VNETH_GSO_SIZE: u32 = 4;
export const VNETH_CSUM_START: u32 = 6;
export const VNETH_CSUM_OFF: u32 = 8;
export const VNETH_SIZE: u32 = 10;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
export const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
export const VIRTIO_NET_HDR_GSO_UDP: u8 = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4: u8 = 5;
export const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

// vnet_from_netif `options`: the TAP did not accept checksum offload (TUNSETOFFLOAD without
// TUN_F_CSUM), so a csum_blank frame is completed here and marked DATA_VALID.
export const VNET_OPT_NO_TAP_CSUM: u32 = 0x1;

// vnet_to_netif `frontendFeatures`, derived by the host from the frontend's xenstore keys
// (netif-protocol.md §4.4): CSUM_V4 unless feature-no-csum-offload, CSUM_V6 if
// feature-ipv6-csum-offload, GSO_V4/GSO_V6 from feature-gso-tcpv4/-tcpv6, SG from feature-sg.
export const FRONTEND_CSUM_V4: u32 = 0x1;
export const FRONTEND_CSUM_V6: u32 = 0x2;
export const FRONTEND_GSO_V4: u32 = 0x4;
export const FRONTEND_GSO_V6: u32 = 0x8;
export const FRONTEND_SG: u32 = 0x10;
const FRONTEND_ALL: u32 = 0x1F;

// vnet_to_netif result (16 bytes at `out`):
export const VNET_OUT_FLAGS: u32 = 0;      // u16 NETRXF_* for the first RX slot (csum_blank, data_validated)
export const VNET_OUT_GSO_TYPE: u32 = 2;   // u8 XEN_NETIF_GSO_TYPE_* of a GSO frame, 0 if none
export const VNET_OUT_SEGMENT: u32 = 3;    // u8 1: segment first (tso_segment with GSO type/size), no GSO extra
export const VNET_OUT_GSO_SIZE: u32 = 4;   // u16 MSS of a GSO frame (GSO extra size, or tso_segment mss)
export const VNET_OUT_L4: u32 = 6;         // u16 TCP/UDP header offset when parsed (csum_start), else 0
export const VNET_OUT_HDR_LEN: u32 = 8;    // u16 L4 offset + L4 header length when parsed, else 0
export const VNET_OUT_SW_CSUM: u32 = 10;   // u8 1: the checksum was completed in Wasm
export const VNET_OUT_SIZE: u32 = 16;

// @ts-ignore: decorator
@inline function disjoint(a: usize, aLen: usize, b: usize, bLen: usize): bool {
  return a + aLen <= b || b + bLen <= a;
}

// Guest TX → TAP: writes the virtio_net_hdr for a frame the guest sent with `netifTxFlags` and an
// optional GSO extra (`gsoType` XEN_NETIF_GSO_TYPE_*, already validated by the TX builder).
// Only packets Linux would make CHECKSUM_PARTIAL are parsed, so ARP and other non-IP frames with
// no checksum flag pass untouched. see: netback.c xenvif_tx_submit, checksum_setup;
// virtio_net.h virtio_net_hdr_from_skb
export function vnet_from_netif(frame: usize, len: u32, netifTxFlags: u32, gsoType: u32, gsoSize: u32, hdr: usize, options: u32): i32 {
  if (!inPacketRegion(frame, <usize>len) || !inPacketRegion(hdr, <usize>VNETH_SIZE) ||
      !disjoint(frame, <usize>len, hdr, <usize>VNETH_SIZE)) return STATUS_BAD_ARGUMENT;
  if (gsoType > <u32>XEN_NETIF_GSO_TYPE_TCPV6 || (gsoType != 0 && (gsoSize == 0 || gsoSize > 0xFFFF))) return STATUS_BAD_ARGUMENT;
  if ((options & ~VNET_OPT_NO_TAP_CSUM) != 0 || netifTxFlags > 0xFFFF) return STATUS_BAD_ARGUMENT;

  // memset(hdr, 0): no stale bytes reach the TAP
  store<u64>(hdr, 0);
  store<u16>(hdr, 0, 8);

  const csumBlank = (netifTxFlags & <u32>NETTXF_CSUM_BLANK) != 0;
  if (gsoType == <u32>XEN_NETIF_GSO_TYPE_NONE && !csumBlank) {
    if ((netifTxFlags & <u32>NETTXF_DATA_VALIDATED) != 0) store<u8>(hdr + VNETH_FLAGS, VIRTIO_NET_HDR_F_DATA_VALID);
    return STATUS_OK;
  }
  // csum_blank, or GSO (forced partial, with the pseudo sum recomputed if csum_blank was missing)
  const status = checksumSetup(frame, len, gsoType != 0 && !csumBlank);
  if (status < 0) return status;
  const info = offloadInfo();
  const l4 = <u32>load<u16>(info + HDR_L4);
  const field = <u32>load<u16>(info + HDR_CSUM_OFFSET);

  if (gsoType != 0) {
    // see: tcp_offload.c tcp4_gso_segment: a TCPV4 skb that is not IPv4 TCP fails segmentation
    if (<u32>load<u8>(info + HDR_L4_PROTO) != 6) {
      countAdd(COUNTER_TX_DROP_GSO_MISMATCH, 1);
      return STATUS_DROP_GSO_NOT_TCP;
    }
    const version = <u32>load<u8>(info + HDR_IP_VERSION);
    if ((gsoType == <u32>XEN_NETIF_GSO_TYPE_TCPV4) != (version == 4)) {
      countAdd(COUNTER_TX_DROP_GSO_MISMATCH, 1);
      return STATUS_DROP_GSO_TYPE_MISMATCH;
    }
    store<u8>(hdr + VNETH_FLAGS, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    store<u8>(hdr + VNETH_GSO_TYPE, version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
    store<u16>(hdr + VNETH_HDR_LEN, <u16>(l4 + <u32>load<u16>(info + HDR_L4_HLEN)));
    store<u16>(hdr + VNETH_GSO_SIZE, <u16>gsoSize);
    store<u16>(hdr + VNETH_CSUM_START, <u16>l4);
    store<u16>(hdr + VNETH_CSUM_OFF, <u16>field);
    return STATUS_OK;
  }
  if ((options & VNET_OPT_NO_TAP_CSUM) != 0) {
    storeL4Checksum(frame, info, 0);
    countAdd(COUNTER_TX_SW_CSUM, 1);
    store<u8>(hdr + VNETH_FLAGS, VIRTIO_NET_HDR_F_DATA_VALID);
    return STATUS_OK;
  }
  store<u8>(hdr + VNETH_FLAGS, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  store<u16>(hdr + VNETH_CSUM_START, <u16>l4);
  store<u16>(hdr + VNETH_CSUM_OFF, <u16>field);
  return STATUS_OK;
}

// The `out` struct may sit in a packet buffer, a packet descriptor table, or the offload scratch.
function outAllowed(out: usize): bool {
  return inPacketRegion(out, <usize>VNET_OUT_SIZE) ||
    inRegion(out, <usize>VNET_OUT_SIZE, <usize>TX_PKT_DESC_OFFSET, <usize>TX_PKT_DESC_SIZE) ||
    inRegion(out, <usize>VNET_OUT_SIZE, <usize>RX_PKT_DESC_OFFSET, <usize>RX_PKT_DESC_SIZE) ||
    inRegion(out, <usize>VNET_OUT_SIZE, <usize>QUEUE_STATE_OFFSET + <usize>QS_VNET_OUT, <usize>VNET_OUT_SIZE);
}

// TAP → guest RX: reads the virtio_net_hdr at `hdr` and writes to `out` what the frontend gets.
// A header that disagrees with the frame is a drop, never a write at the offset it names.
// see: rx.c xenvif_rx_next_skb, xenvif_rx_complete (flags); interface.c xenvif_fix_features;
// dev.c netdev_fix_features (TSO needs SG and checksum offload); virtio_net.h __virtio_net_hdr_to_skb
export function vnet_to_netif(hdr: usize, frame: usize, len: u32, frontendFeatures: u32, out: usize): i32 {
  if (!inPacketRegion(frame, <usize>len) || !inPacketRegion(hdr, <usize>VNETH_SIZE) || !outAllowed(out) ||
      !disjoint(frame, <usize>len, out, <usize>VNET_OUT_SIZE) || (frontendFeatures & ~FRONTEND_ALL) != 0) {
    return STATUS_BAD_ARGUMENT;
  }
  // the header is read once into locals
  const flags = <u32>load<u8>(hdr + VNETH_FLAGS);
  const gsoRaw = <u32>load<u8>(hdr + VNETH_GSO_TYPE);
  const gsoSize = <u32>load<u16>(hdr + VNETH_GSO_SIZE);
  const csumStart = <u32>load<u16>(hdr + VNETH_CSUM_START);
  const csumOff = <u32>load<u16>(hdr + VNETH_CSUM_OFF);
  store<u64>(out, 0);
  store<u64>(out, 0, 8);

  // ECN is dropped as Linux's skb → netif mapping drops it: netif has no ECN GSO bit.
  // see: rx.c xenvif_gso_type
  const gso = gsoRaw & ~<u32>VIRTIO_NET_HDR_GSO_ECN;
  if (gso != <u32>VIRTIO_NET_HDR_GSO_NONE) {
    if (gso != <u32>VIRTIO_NET_HDR_GSO_TCPV4 && gso != <u32>VIRTIO_NET_HDR_GSO_TCPV6) return STATUS_DROP_GSO_UNSUPPORTED;
    if (gsoSize == 0) return STATUS_DROP_GSO_BAD_SIZE;
  }
  const needsCsum = (flags & <u32>VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
  if (!needsCsum && gso == 0) {
    if ((flags & <u32>VIRTIO_NET_HDR_F_DATA_VALID) != 0) store<u16>(out + VNET_OUT_FLAGS, NETRXF_DATA_VALIDATED);
    return STATUS_OK;
  }

  const info = offloadInfo();
  const status = parseHeaders(frame, len, info);
  if (status < 0) return status;
  const l4 = <u32>load<u16>(info + HDR_L4);
  const field = <u32>load<u16>(info + HDR_CSUM_OFFSET);
  const version = <u32>load<u8>(info + HDR_IP_VERSION);
  if (needsCsum && (csumStart != l4 || csumOff != field)) return STATUS_DROP_CSUM_START_MISMATCH;
  store<u16>(out + VNET_OUT_L4, <u16>l4);
  store<u16>(out + VNET_OUT_HDR_LEN, <u16>(l4 + <u32>load<u16>(info + HDR_L4_HLEN)));

  if (gso != 0) {
    if (<u32>load<u8>(info + HDR_L4_PROTO) != 6) return STATUS_DROP_GSO_NOT_TCP;
    if ((gso == <u32>VIRTIO_NET_HDR_GSO_TCPV4) != (version == 4)) return STATUS_DROP_GSO_TYPE_MISMATCH;
    // a GSO frame must carry the pseudo sum in its field; fix one that came without NEEDS_CSUM
    // see: netback.c checksum_setup (the same repair on the other direction)
    if (!needsCsum) store<u16>(frame + <usize>l4 + <usize>field, <u16>fold16(load<u32>(info + HDR_PSEUDO_SUM)));
    store<u8>(out + VNET_OUT_GSO_TYPE, version == 4 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6);
    store<u16>(out + VNET_OUT_GSO_SIZE, <u16>gsoSize);
    const gsoFeature = version == 4 ? FRONTEND_GSO_V4 : FRONTEND_GSO_V6;
    const csumFeature = version == 4 ? FRONTEND_CSUM_V4 : FRONTEND_CSUM_V6;
    const needed = gsoFeature | csumFeature | FRONTEND_SG;
    if ((frontendFeatures & needed) == needed) {
      store<u16>(out + VNET_OUT_FLAGS, NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED);
    } else {
      // tso_segment writes complete checksums into every segment
      store<u8>(out + VNET_OUT_SEGMENT, 1);
      store<u16>(out + VNET_OUT_FLAGS, NETRXF_DATA_VALIDATED);
    }
    return STATUS_OK;
  }

  const csumFeature = version == 4 ? FRONTEND_CSUM_V4 : FRONTEND_CSUM_V6;
  if ((frontendFeatures & csumFeature) != 0) {
    // the field keeps the pseudo sum: netfront's csum_blank contract
    store<u16>(out + VNET_OUT_FLAGS, NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED);
    return STATUS_OK;
  }
  storeL4Checksum(frame, info, 0);
  countAdd(COUNTER_RX_SW_CSUM, 1);
  store<u8>(out + VNET_OUT_SW_CSUM, 1);
  store<u16>(out + VNET_OUT_FLAGS, NETRXF_DATA_VALIDATED);
  return STATUS_OK;
}
