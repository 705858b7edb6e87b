// Counters of the simulated netfront, named after Linux's netdev stats and xen-netfront's
// ethtool keys where one exists, and the context the TX and RX halves share with the device.
// see: xen-netfront.c xennet_get_stats64, xennet_stats (rx_gso_checksum_fixup)

import type { GrantingTable } from './frontend-handles.js';

export const NETFRONT_COUNTERS = [
  { name: 'tx_packets', field: 'txPackets', description: 'frames placed on the TX ring' },
  { name: 'tx_bytes', field: 'txBytes', description: 'bytes of those frames' },
  { name: 'tx_dropped', field: 'txDropped', description: 'frames the frontend dropped before the ring (too big, broken, no carrier, no SG, needs GSO)' },
  { name: 'tx_linearized', field: 'txLinearized', description: 'frames linearized because they needed more than 18 slots' },
  { name: 'tx_bounced', field: 'txBounced', description: 'frames copied to a fresh page (head too close to a page end, or untrusted backend)' },
  { name: 'tx_queue_stopped', field: 'txQueueStopped', description: 'times a TX queue stopped at 237 outstanding slots' },
  { name: 'tx_queue_woken', field: 'txQueueWoken', description: 'times a stopped TX queue restarted' },
  { name: 'tx_notify', field: 'txNotify', description: 'TX kicks sent (req_event asked for one)' },
  { name: 'tx_rsp_okay', field: 'txRspOkay', description: 'TX responses NETIF_RSP_OKAY' },
  { name: 'tx_rsp_error', field: 'txRspError', description: 'TX responses NETIF_RSP_ERROR' },
  { name: 'tx_rsp_dropped', field: 'txRspDropped', description: 'TX responses NETIF_RSP_DROPPED' },
  { name: 'tx_rsp_other', field: 'txRspOther', description: 'TX responses with any other non-NULL status' },
  { name: 'tx_rsp_null', field: 'txRspNull', description: 'TX NULL responses (extra slots), skipped' },
  { name: 'tx_spurious', field: 'txSpurious', description: 'events on a split TX port that found no response' },
  { name: 'rx_packets', field: 'rxPackets', description: 'frames delivered' },
  { name: 'rx_bytes', field: 'rxBytes', description: 'bytes of those frames' },
  { name: 'rx_errors', field: 'rxErrors', description: 'packets dropped for a bad response, extra, GSO or checksum setup' },
  { name: 'rx_gso_checksum_fixup', field: 'rxGsoChecksumFixup', description: 'GSO frames without csum_blank forced to checksum-partial' },
  { name: 'rx_refill_deferred', field: 'rxRefillDeferred', description: 'refills postponed (< 19 requests) to the 100 ms timer' },
  { name: 'rx_posted', field: 'rxPosted', description: 'RX requests posted with a fresh buffer' },
  { name: 'rx_recycled', field: 'rxRecycled', description: 'RX buffers re-posted unrevoked (extras, error slots)' },
  { name: 'rx_notify', field: 'rxNotify', description: 'RX kicks sent after posting' },
  { name: 'rx_spurious', field: 'rxSpurious', description: 'events on a split RX port that found no new response' },
  { name: 'spurious', field: 'spurious', description: 'events on a single (shared) port that found no work in either direction' },
] as const;

export type NetfrontCounterName = (typeof NETFRONT_COUNTERS)[number]['name'];
export type NetfrontStats = Record<NetfrontCounterName, number>;

export function emptyStats(): NetfrontStats {
  const stats = {} as Record<string, number>;
  for (const c of NETFRONT_COUNTERS) stats[c.name] = 0;
  return stats as NetfrontStats;
}

/** Checksum state of a frame, as skb->ip_summed says it (CHECKSUM_PARTIAL / _UNNECESSARY / _NONE). */
export type NetfrontChecksum = 'partial' | 'validated' | 'none';
export type NetfrontGsoType = 'tcpv4' | 'tcpv6';
export interface NetfrontGso {
  type: NetfrontGsoType;
  /** The MSS. */
  size: number;
}

/** What the TX and RX halves of a queue share with their device. */
export interface NetfrontContext {
  readonly domid: number;
  readonly backendDomid: number;
  readonly grants: GrantingTable;
  readonly stats: NetfrontStats;
  readonly broken: boolean;
  readonly carrier: boolean;
  /** Linux sets info->broken and prints "Disabled for further use"; permanent until reconnect. */
  markBroken(queue: number, reason: string): void;
}
