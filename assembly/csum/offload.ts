// TCP/UDP checksum offload over one Ethernet frame in place: Linux's checksum_setup (find where
// the checksum starts and lives, optionally rewrite the pseudo-header sum), completion of a
// csum_blank frame, and a full fill. Frames come from the guest or the TAP, so everything is
// located by parseHeaders, which bounds every offset by the frame and the IP length; the L4 sum
// covers [HDR_L4, HDR_L4_END), never Ethernet padding.
// see: netback.c checksum_setup; skbuff.c skb_checksum_setup, skb_checksum_setup_ip

import { csumFinish, csumPartial, fold16 } from './inet';
import { countAdd } from '../count';
import { COUNTER_RX_GSO_CHECKSUM_FIXUP, COUNTER_TX_DROP_CSUM_SETUP } from '../counters';
import { QUEUE_STATE_OFFSET } from '../layout';
import { HDR_CSUM_OFFSET, HDR_L4, HDR_L4_END, HDR_L4_PROTO, HDR_PSEUDO_SUM, parseHeaders } from '../net/headers';
import { inPacketRegion } from '../region';
import { STATUS_BAD_ARGUMENT, STATUS_OK } from '../status';

// Private scratch, QUEUE_STATE + 0x400..0x4FF (netif/ring.ts): the HeaderInfo of the last parse
// and the result of the last csum_setup. Names avoid the *_OFFSET suffix, which the host reserves
// for page-aligned layout regions.
export const QS_OFFLOAD_INFO: u32 = 0x400;       // 16-byte HeaderInfo (net/headers.ts)
export const QS_CSUM_START: u32 = 0x410;         // u16 csum_start of the last csum_setup (frame offset)
export const QS_CSUM_FIELD: u32 = 0x412;         // u16 csum_offset of the last csum_setup (16 TCP, 6 UDP)
export const QS_VNET_OUT: u32 = 0x420;           // 16 bytes a host may use as vnet_to_netif's `out`

const IPPROTO_UDP: u32 = 17;

// @ts-ignore: decorator
@inline export function offloadInfo(): usize {
  return <usize>QUEUE_STATE_OFFSET + <usize>QS_OFFLOAD_INFO;
}

// Stores the complemented sum of [L4, L4_END) + `init` into the checksum field. The field is
// summed as found. UDP sends 0 as 0xFFFF (0 means "no checksum" for UDP over IPv4 and is
// illegal over IPv6). see: RFC 768; RFC 8200 §8.1; skbuff.c skb_checksum_help
export function storeL4Checksum(frame: usize, info: usize, init: u32): void {
  const l4 = <u32>load<u16>(info + HDR_L4);
  const end = <u32>load<u16>(info + HDR_L4_END);
  assert(l4 < end);
  let value = csumFinish(csumPartial(frame + <usize>l4, end - l4, init));
  if (value == 0 && <u32>load<u8>(info + HDR_L4_PROTO) == IPPROTO_UDP) value = 0xFFFF;
  store<u16>(frame + <usize>l4 + <usize>load<u16>(info + HDR_CSUM_OFFSET), value);
}

// The csum_blank completion: the field holds the pseudo-header sum, so the sum of the L4 bytes
// as they are is the whole checksum. Returns STATUS_OK or the parse drop.
export function completeChecksum(frame: usize, len: u32): i32 {
  const info = offloadInfo();
  const status = parseHeaders(frame, len, info);
  if (status < 0) return status;
  storeL4Checksum(frame, info, 0);
  return STATUS_OK;
}

// Linux's checksum_setup on a CHECKSUM_PARTIAL packet: parse (IPv4/IPv6, TCP/UDP, no fragments),
// record csum_start/csum_offset, and with `recompute` write the pseudo-header sum into the field
// (the GSO-without-csum_blank fix-up, counted as Linux counts it: before the parse can fail).
// A failure is a drop counted as tx_drop_csum_setup. The pseudo sum uses the IP length; Linux
// uses skb->len - off, which differs only for padded frames, and GSO frames are never padded.
// see: netback.c checksum_setup; skbuff.c skb_checksum_setup_ipv4, skb_checksum_setup_ipv6
export function checksumSetup(frame: usize, len: u32, recompute: bool): i32 {
  if (recompute) countAdd(COUNTER_RX_GSO_CHECKSUM_FIXUP, 1);
  const info = offloadInfo();
  const status = parseHeaders(frame, len, info);
  if (status < 0) {
    countAdd(COUNTER_TX_DROP_CSUM_SETUP, 1);
    return status;
  }
  const state = <usize>QUEUE_STATE_OFFSET;
  const l4 = load<u16>(info + HDR_L4);
  const field = load<u16>(info + HDR_CSUM_OFFSET);
  store<u16>(state + QS_CSUM_START, l4);
  store<u16>(state + QS_CSUM_FIELD, field);
  if (recompute) {
    // ~csum_tcpudp_magic(): the folded, uncomplemented pseudo-header sum
    store<u16>(frame + <usize>l4 + <usize>field, <u16>fold16(load<u32>(info + HDR_PSEUDO_SUM)));
  }
  return STATUS_OK;
}

// Exported: completes a csum_blank frame in place (see completeChecksum).
export function csum_complete(frame: usize, len: u32): i32 {
  if (!inPacketRegion(frame, <usize>len)) return STATUS_BAD_ARGUMENT;
  return completeChecksum(frame, len);
}

// Exported: the full TCP/UDP checksum from the headers, whatever the field held.
export function csum_fill(frame: usize, len: u32): i32 {
  if (!inPacketRegion(frame, <usize>len)) return STATUS_BAD_ARGUMENT;
  const info = offloadInfo();
  const status = parseHeaders(frame, len, info);
  if (status < 0) return status;
  store<u16>(frame + <usize>load<u16>(info + HDR_L4) + <usize>load<u16>(info + HDR_CSUM_OFFSET), 0);
  storeL4Checksum(frame, info, load<u32>(info + HDR_PSEUDO_SUM));
  return STATUS_OK;
}

// Exported: checksum_setup (see checksumSetup); the result is read with csum_setup_start and
// csum_setup_offset, or at QUEUE_STATE + QS_CSUM_START / QS_CSUM_FIELD.
export function csum_setup(frame: usize, len: u32, recomputePseudo: u32): i32 {
  if (!inPacketRegion(frame, <usize>len) || recomputePseudo > 1) return STATUS_BAD_ARGUMENT;
  return checksumSetup(frame, len, recomputePseudo != 0);
}

export function csum_setup_start(): i32 {
  return <i32>load<u16>(<usize>QUEUE_STATE_OFFSET + QS_CSUM_START);
}

export function csum_setup_offset(): i32 {
  return <i32>load<u16>(<usize>QUEUE_STATE_OFFSET + QS_CSUM_FIELD);
}

// Benchmark loop: parse + complete, then put the pseudo-header sum back so every iteration does
// the same work. Returns the sum of the stored checksums (so nothing is optimised away), or the
// status of a frame that does not complete.
export function bench_csum_complete(frame: usize, len: u32, iterations: u32): u32 {
  if (!inPacketRegion(frame, <usize>len)) return <u32>STATUS_BAD_ARGUMENT;
  const info = offloadInfo();
  let status = parseHeaders(frame, len, info);
  if (status < 0) return <u32>status;
  const field = frame + <usize>load<u16>(info + HDR_L4) + <usize>load<u16>(info + HDR_CSUM_OFFSET);
  const pseudo = load<u16>(field);
  let acc: u32 = 0;
  for (let i: u32 = 0; i < iterations; i++) {
    status = completeChecksum(frame, len);
    acc += <u32>load<u16>(field) + <u32>status;
    store<u16>(field, pseudo);
  }
  return acc;
}
