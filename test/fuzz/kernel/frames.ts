// Frames for the kernel targets, drawn from fuzz input: mostly Ethernet + IPv4/IPv6 (VLAN tags,
// IPv6 extension headers) + TCP/UDP with lengths that usually agree and sometimes lie, or raw
// input bytes. Written straight into kernel memory at `at` (no allocation per case); the payload
// is zero-filled so a case depends on its input only.

import type { FuzzInput } from './input.js';

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86DD;
const ETH_P_8021Q = 0x8100;

const HEAD = new Uint8Array(160);

function be16(m: Uint8Array, at: number, v: number): void {
  m[at] = (v >> 8) & 0xFF;
  m[at + 1] = v & 0xFF;
}

/** Where the last frame's L4 header and checksum field are (for a virtio_net_hdr that agrees with it). */
export const lastFrame = { l4: 0, csumOffset: 0 };

/** Writes a frame at `at` (at most `max` bytes); returns its length. */
export function writeFrame(m: Uint8Array, at: number, max: number, input: FuzzInput): number {
  const shape = input.u8();
  const sizeClass = input.u8();
  let len = sizeClass < 150 ? input.below(160) : sizeClass < 230 ? input.below(2000) : sizeClass < 250 ? input.below(66000) : input.pick([0, 1, 13, 14, 54, 1514, 9014, 65535, 65536, 70000]);
  len = Math.min(len, max);
  if (shape >= 224) {
    // raw bytes from the input, zeros past its end
    input.fill(m, at, len);
    lastFrame.l4 = 34;
    lastFrame.csumOffset = 16;
    return len;
  }
  m.fill(0, at, at + len);
  const head = HEAD;
  head.fill(0);
  const version = shape & 1 ? 6 : 4;
  let p = 12;
  const vlans = input.chance(24) ? 1 + input.below(3) : 0;
  for (let i = 0; i < vlans; i++) { be16(head, p, ETH_P_8021Q); be16(head, p + 2, input.u16()); p += 4; }
  be16(head, p, input.chance(8) ? input.u16() : version === 4 ? ETH_P_IP : ETH_P_IPV6);
  p += 2;
  const l3 = p;
  const proto = input.chance(20) ? input.u8() : input.chance(128) ? 6 : 17;
  let l4: number;
  if (version === 4) {
    const ihl = input.chance(16) ? input.below(16) : 5 + (input.chance(24) ? input.below(11) : 0);
    head[l3] = (input.chance(6) ? input.below(16) : 4) << 4 | ihl;
    const tot = input.chance(20) ? input.u16() : Math.max(0, len - l3);
    be16(head, l3 + 2, tot);
    be16(head, l3 + 4, input.u16());
    be16(head, l3 + 6, input.chance(20) ? input.u16() : 0x4000); // DF, or fragment bits
    head[l3 + 8] = 64;
    head[l3 + 9] = proto;
    for (let i = 12; i < 20; i++) head[l3 + i] = input.u8();
    l4 = l3 + Math.max(20, ihl * 4);
  } else {
    head[l3] = input.chance(6) ? input.u8() : 0x60;
    be16(head, l3 + 4, input.chance(20) ? input.u16() : Math.max(0, len - l3 - 40));
    head[l3 + 7] = 64;
    for (let i = 8; i < 40; i++) head[l3 + i] = input.u8();
    l4 = l3 + 40;
    let next = l3 + 6;
    const exts = input.chance(40) ? input.below(6) : 0;
    for (let i = 0; i < exts && l4 + 8 <= 150; i++) {
      head[next] = input.pick([0, 43, 60, 44, 51, 59]);
      next = l4;
      const extLen = input.chance(200) ? 0 : input.below(3);
      head[l4 + 1] = extLen;
      l4 += Math.min(8 * (extLen + 1), 150 - l4);
    }
    head[next] = proto;
  }
  if (l4 + 20 <= 160) {
    be16(head, l4, input.u16());
    be16(head, l4 + 2, input.u16());
    if (proto === 6) {
      for (let i = 4; i < 12; i++) head[l4 + i] = input.u8();
      head[l4 + 12] = (input.chance(24) ? input.below(16) : 5) << 4;
      head[l4 + 13] = input.u8();
    } else {
      be16(head, l4 + 4, input.chance(20) ? input.u16() : Math.max(0, len - l4));
    }
    be16(head, l4 + (proto === 6 ? 16 : 6), input.u16());
  }
  for (let i = 0; i < 12; i++) head[i] = input.u8();
  // a few bytes of the header region overwritten with input (lengths and flags that lie)
  for (let n = input.chance(40) ? input.below(4) : 0; n > 0; n--) head[input.below(160)] = input.u8();
  m.set(head.subarray(0, Math.min(len, 160)), at);
  lastFrame.l4 = l4;
  lastFrame.csumOffset = proto === 6 ? 16 : 6;
  return len;
}
