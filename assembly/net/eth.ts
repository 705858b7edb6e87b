// Ethernet II with up to two VLAN tags (802.1Q, 802.1ad QinQ).

export const ETH_HLEN: u32 = 14;
export const ETH_P_IP: u32 = 0x0800;
export const ETH_P_IPV6: u32 = 0x86DD;
export const ETH_P_8021Q: u32 = 0x8100;
export const ETH_P_8021AD: u32 = 0x88A8;
export const VLAN_HLEN: u32 = 4;
const MAX_VLAN_TAGS: u32 = 2;

// @ts-ignore: decorator
@inline export function loadBe16(address: usize): u32 {
  return <u32>bswap<u16>(load<u16>(address));
}

// @ts-ignore: decorator
@inline export function storeBe16(address: usize, value: u32): void {
  store<u16>(address, bswap<u16>(<u16>value));
}

// @ts-ignore: decorator
@inline export function loadBe32(address: usize): u32 {
  return bswap<u32>(load<u32>(address));
}

// @ts-ignore: decorator
@inline export function storeBe32(address: usize, value: u32): void {
  store<u32>(address, bswap<u32>(value));
}

// Returns the offset of the L3 header (the EtherType is at offset - 2), or 0 if the frame is too
// short for its Ethernet and VLAN headers or has more tags than we walk.
export function ethL3Offset(frame: usize, len: u32): u32 {
  let offset = ETH_HLEN;
  if (len < offset) return 0;
  for (let tags: u32 = 0; tags <= MAX_VLAN_TAGS; tags++) {
    const type = loadBe16(frame + <usize>offset - 2);
    if (type != ETH_P_8021Q && type != ETH_P_8021AD) return offset;
    if (len < offset + VLAN_HLEN) return 0;
    offset += VLAN_HLEN;
  }
  return 0;
}
