// Microsoft's RSS verification data, for the Toeplitz tests (kernel, control ring, engine): see
// "Verifying the RSS Hash Calculation" (Windows hardware docs,
// learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation): the
// documented 40-byte secret key and, per row, destination/source address:port with the expected
// IP-only / IP-with-TCP hashes. The hashed input is source address, destination address, source
// port, destination port (the RSS hashing functions page, and netif.h's
// XEN_NETIF_CTRL_HASH_TYPE_* buffer layouts, which use the same order).

export const MS_RSS_KEY = Uint8Array.from(Buffer.from('6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa', 'hex'));

export type RssRow = [dst: string, dport: number, src: string, sport: number, ipOnly: number, ipTcp: number];

export const RSS_IPV4: RssRow[] = [
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

export const RSS_IPV6: RssRow[] = [
  ['3ffe:2501:200:3::1', 1766, '3ffe:2501:200:1fff::7', 2794, 0x2cc18cd5, 0x40207d3d],
  ['ff02::1', 4739, '3ffe:501:8::260:97ff:fe40:efab', 14230, 0x0f0c461c, 0xdde51bbf],
  ['fe80::200:f8ff:fe21:67cf', 38024, '3ffe:1900:4545:3:200:f8ff:fe21:67cf', 44251, 0x4b61e985, 0x02d1feef],
];

export function ipv4Bytes(s: string): number[] {
  return s.split('.').map(Number);
}

export function ipv6Bytes(s: string): number[] {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`${s} is not an IPv6 address of 8 groups`);
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

/** A 16-bit value in network byte order. */
export const be16 = (value: number): number[] => [value >> 8, value & 0xff];
