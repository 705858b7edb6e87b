// The TS view of virtio_net_hdr: no TAP or root needed.

import { describe, expect, test } from 'vitest';
import { readVnetHeader, VNET_HDR_SIZE, writeVnetHeader } from '../../src/backend/vnet-header.js';

describe('vnet header', () => {
  // Bytes by hand from include/uapi/linux/virtio_net.h: u8 flags, u8 gso_type, then four
  // little-endian u16 (hdr_len, gso_size, csum_start, csum_offset).
  const header = { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 };
  const bytes = [0x01, 0x01, 0x36, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00];

  test('vnet_header_write_layout', () => {
    const out = new Uint8Array(VNET_HDR_SIZE + 3).fill(0xee);
    writeVnetHeader(out, 2, header);
    expect(Array.from(out.subarray(2, 12))).toEqual(bytes);
    expect(out[1]).toBe(0xee);
    expect(out[12]).toBe(0xee);
  });

  test('vnet_header_read_layout', () => {
    expect(readVnetHeader(Uint8Array.from([0, ...bytes]), 1)).toEqual(header);
  });

  test('vnet_header_bounds', () => {
    expect(() => readVnetHeader(new Uint8Array(9))).toThrow(RangeError);
    expect(() => writeVnetHeader(new Uint8Array(12), 3, header)).toThrow(RangeError);
  });
});
