// Fills a guest-TX ring page (in a kernel instance's memory or in a plain buffer) with a whole
// ring of requests for the TX-parsing benchmarks, as Linux netfront lays them out: 256 one-slot
// 64-byte packets, or 14 packets of 64 KiB with a GSO extra and 17 data slots each. The grant
// references are placeholders: the benchmarks mark every copy done without executing it.

const ENTRIES = 64;
const SLOT = 12;
const MORE_DATA = 0x4;
const EXTRA_INFO = 0x8;
const CSUM_BLANK_VALIDATED = 0x3;

export type TxRingShape = '64B' | '64KiB_gso';

/** Writes the shape's requests at index 0; returns the slots written. */
export function fillTxRing(ring: Uint8Array, shape: TxRingShape): number {
  const view = new DataView(ring.buffer, ring.byteOffset, 4096);
  ring.fill(0, 0, 4096);
  let index = 0;
  let id = 0;
  const request = (gref: number, offset: number, flags: number, size: number) => {
    const p = ENTRIES + (index & 255) * SLOT;
    view.setUint32(p, gref, true);
    view.setUint16(p + 4, offset, true);
    view.setUint16(p + 6, flags, true);
    view.setUint16(p + 8, id, true);
    view.setUint16(p + 10, size, true);
    id = (id + 1) & 0xff;
    index++;
  };
  if (shape === '64B') {
    for (let i = 0; i < 256; i++) request(1000 + i, 0, 0, 64);
  } else {
    const followers = [...Array.from({ length: 15 }, () => 4096), 65535 - 1024 - 15 * 4096];
    for (let i = 0; i < 14; i++) {
      request(2000 + i * 32, 0, CSUM_BLANK_VALIDATED | MORE_DATA | EXTRA_INFO, 65535);
      const extra = ENTRIES + (index & 255) * SLOT;
      ring[extra] = 1; // XEN_NETIF_EXTRA_TYPE_GSO
      view.setUint16(extra + 2, 1448, true);
      ring[extra + 4] = 1; // XEN_NETIF_GSO_TYPE_TCPV4
      index++;
      followers.forEach((size, f) => request(2000 + i * 32 + 1 + f, 0, f < followers.length - 1 ? MORE_DATA : 0, size));
    }
  }
  view.setUint32(0, index, true); // req_prod
  view.setUint32(4, 1, true); // req_event
  view.setUint32(8, 0, true); // rsp_prod
  view.setUint32(12, 1, true); // rsp_event
  return index;
}
