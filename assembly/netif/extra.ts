// Guest TX extra-info records (netif-protocol.md §2.5) and the frontend's multicast filter list
// (§8). The records are validated only on the private copies netif/tx.ts made of the ring slots.

import { inRegion } from '../region';
import { LAYOUT_BASE, LAYOUT_END, MCAST_LIST_OFFSET, SCRATCH_OFFSET, SCRATCH_SIZE } from '../layout';
import { STATUS_BAD_ARGUMENT, STATUS_FATAL_GSO_BAD_TYPE, STATUS_FATAL_GSO_SIZE_ZERO, STATUS_OK } from '../status';
import {
  EXTRA_GSO_SIZE, EXTRA_GSO_TYPE, EXTRA_HASH_TYPE, XEN_NETBK_MCAST_MAX, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
  XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
} from './defs';
import { stateLoad, stateStore } from './ring';

// Queue-state field (the guest-TX range 0x100-0x1FF of netif/ring.ts): entries in the list.
export const QS_TX_MCAST_COUNT: u32 = 0x180;

// One list entry: the 6-byte MAC, then 2 zero bytes.
const MCAST_ENTRY: u32 = 8;

// Linux validates with its own header's MAX (6, XDP included), so type 5 passes and is ignored.
// see: netback.c xenvif_get_extras
// @ts-ignore: decorator
@inline export function extraTypeValid(type: u32): bool {
  return type != <u32>XEN_NETIF_EXTRA_TYPE_NONE && type < <u32>XEN_NETIF_EXTRA_TYPE_MAX;
}

// A GSO extra must name a TCP type and a non-zero MSS; anything else disables the vif.
// see: netback.c xenvif_set_skb_gso
export function checkGsoExtra(extra: usize): i32 {
  if (load<u16>(extra + <usize>EXTRA_GSO_SIZE) == 0) return STATUS_FATAL_GSO_SIZE_ZERO;
  const type = load<u8>(extra + <usize>EXTRA_GSO_TYPE);
  if (type != XEN_NETIF_GSO_TYPE_TCPV4 && type != XEN_NETIF_GSO_TYPE_TCPV6) return STATUS_FATAL_GSO_BAD_TYPE;
  return STATUS_OK;
}

// Only the four defined hash types set a packet hash; other values are ignored, not an error.
// see: netback.c xenvif_tx_build_gops (HASH extra)
// @ts-ignore: decorator
@inline export function hashTypeKnown(extra: usize): bool {
  return <u32>load<u8>(extra + <usize>EXTRA_HASH_TYPE) <= <u32>XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
}

// @ts-ignore: decorator
@inline function macEqual(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a + 4) == load<u16>(b + 4);
}

export function mcastReset(): void {
  memory.fill(<usize>MCAST_LIST_OFFSET, 0, <usize>(XEN_NETBK_MCAST_MAX * MCAST_ENTRY));
  stateStore(QS_TX_MCAST_COUNT, 0);
}

// Appends without looking for a duplicate, as Linux does (a DEL then removes one copy).
// see: netback.c xenvif_mcast_add
export function mcastAdd(mac: usize): bool {
  const count = stateLoad(QS_TX_MCAST_COUNT);
  if (count >= XEN_NETBK_MCAST_MAX) return false;
  const entry = <usize>MCAST_LIST_OFFSET + <usize>(count * MCAST_ENTRY);
  store<u32>(entry, load<u32>(mac));
  store<u16>(entry + 4, load<u16>(mac + 4));
  store<u16>(entry + 6, 0);
  stateStore(QS_TX_MCAST_COUNT, count + 1);
  return true;
}

// Index of the first entry equal to `mac`, or -1.
function mcastFind(mac: usize): i32 {
  const count = stateLoad(QS_TX_MCAST_COUNT);
  const limit = count < XEN_NETBK_MCAST_MAX ? count : XEN_NETBK_MCAST_MAX;
  for (let i: u32 = 0; i < limit; i++) {
    if (macEqual(<usize>MCAST_LIST_OFFSET + <usize>(i * MCAST_ENTRY), mac)) return <i32>i;
  }
  return -1;
}

// Removes the first match and keeps the rest in order; an absent address is not an error.
// Returns whether the list changed. see: netback.c xenvif_mcast_del
export function mcastDel(mac: usize): bool {
  const found = mcastFind(mac);
  if (found < 0) return false;
  const count = stateLoad(QS_TX_MCAST_COUNT);
  const entry = <usize>MCAST_LIST_OFFSET + <usize>(<u32>found * MCAST_ENTRY);
  const tail = (count - 1 - <u32>found) * MCAST_ENTRY;
  memory.copy(entry, entry + <usize>MCAST_ENTRY, <usize>tail);
  memory.fill(<usize>MCAST_LIST_OFFSET + <usize>((count - 1) * MCAST_ENTRY), 0, <usize>MCAST_ENTRY);
  stateStore(QS_TX_MCAST_COUNT, count - 1);
  return true;
}

// 1 if the 6-byte MAC at `macAddress` is in the list, else 0 (the RX multicast filter).
// see: netback.c xenvif_mcast_match
export function mcast_contains(macAddress: usize): i32 {
  if (macAddress < <usize>LAYOUT_BASE || macAddress > <usize>LAYOUT_END - 6) return STATUS_BAD_ARGUMENT;
  return mcastFind(macAddress) >= 0 ? 1 : 0;
}

export function mcast_count(): i32 {
  return <i32>stateLoad(QS_TX_MCAST_COUNT);
}

// The whole list as one record (the count as a u32, then every entry slot), so the host can give
// each queue of a vif the same list: Linux keeps one list per vif, edited by the extras of any
// queue, while each queue here has its own instance. see: common.h struct xenvif (fe_mcast_addr)
export const MCAST_RECORD_SIZE: u32 = 4 + XEN_NETBK_MCAST_MAX * MCAST_ENTRY;

// Writes the record at `dst`, inside SCRATCH (the host's side of the boundary); returns its size.
export function mcast_save(dst: usize): i32 {
  if (!inRegion(dst, <usize>MCAST_RECORD_SIZE, <usize>SCRATCH_OFFSET, <usize>SCRATCH_SIZE)) return STATUS_BAD_ARGUMENT;
  store<u32>(dst, stateLoad(QS_TX_MCAST_COUNT));
  memory.copy(dst + 4, <usize>MCAST_LIST_OFFSET, <usize>(XEN_NETBK_MCAST_MAX * MCAST_ENTRY));
  return <i32>MCAST_RECORD_SIZE;
}

// Replaces the list with the record at `src` in SCRATCH (one mcast_save wrote; never a page the
// guest can write); a count over the limit is refused.
export function mcast_load(src: usize): i32 {
  if (!inRegion(src, <usize>MCAST_RECORD_SIZE, <usize>SCRATCH_OFFSET, <usize>SCRATCH_SIZE)) return STATUS_BAD_ARGUMENT;
  const count = load<u32>(src);
  if (count > XEN_NETBK_MCAST_MAX) return STATUS_BAD_ARGUMENT;
  memory.copy(<usize>MCAST_LIST_OFFSET, src + 4, <usize>(XEN_NETBK_MCAST_MAX * MCAST_ENTRY));
  stateStore(QS_TX_MCAST_COUNT, count);
  return STATUS_OK;
}
