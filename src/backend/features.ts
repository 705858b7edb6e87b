// The feature keys a backend advertises in its own directory, exactly as Linux netback does at
// probe: the mandatory ones in one transaction (retried on EAGAIN), the optional ones after it,
// each on its own. see: xenbus.c netback_probe

import { NetbackError } from '../errors.js';
import type { XenStore } from '../xen/types.js';

/** see: netback.c MAX_QUEUES_DEFAULT (xenvif_max_queues = min(8, online CPUs)) */
export const MAX_QUEUES_DEFAULT = 8;

export interface FeatureOptions {
  /** `feature-split-event-channels` (module parameter separate_tx_rx_irq, default on). */
  splitEventChannels?: boolean;
  /** `multi-queue-max-queues` (module parameter max_queues); default min(8, CPUs). */
  maxQueues?: number;
  /** `feature-xdp-headroom` (module parameter provides_xdp_headroom, default on). */
  xdpHeadroom?: boolean;
}

export interface ResolvedFeatureOptions {
  splitEventChannels: boolean;
  maxQueues: number;
  xdpHeadroom: boolean;
}

export class FeatureOptionError extends NetbackError {}

/** min(8, CPUs), where CPUs is navigator.hardwareConcurrency when the host has it, else 1. */
export function defaultMaxQueues(cpus?: number): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const n = cpus ?? nav?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_QUEUES_DEFAULT, Number.isInteger(n) ? n : 1));
}

export function resolveFeatureOptions(options: FeatureOptions = {}): ResolvedFeatureOptions {
  const maxQueues = options.maxQueues ?? defaultMaxQueues();
  // A queue count is written as "%u" and sizes per-queue resources; 0 would advertise nothing usable.
  if (!Number.isInteger(maxQueues) || maxQueues < 1 || maxQueues > 0xffff) {
    throw new FeatureOptionError('NETBACK_BAD_MAX_QUEUES', `max queues must be an integer in 1..65535, got ${maxQueues}`);
  }
  return {
    splitEventChannels: options.splitEventChannels ?? true,
    maxQueues,
    xdpHeadroom: options.xdpHeadroom ?? true,
  };
}

export type FeatureKey = readonly [key: string, value: string];

export interface FeatureAdvertisement {
  /** Written together in one transaction, in this order. */
  inTransaction: FeatureKey[];
  /** Written afterwards, one by one, outside any transaction; a failure is only logged (optional features). */
  outside: FeatureKey[];
}

/** The keys and values Linux netback writes at probe. see: xenbus.c netback_probe */
export function featureAdvertisement(options: FeatureOptions = {}): FeatureAdvertisement {
  const o = resolveFeatureOptions(options);
  return {
    inTransaction: [
      ['feature-sg', '1'],
      ['feature-gso-tcpv4', '1'],
      ['feature-gso-tcpv6', '1'],
      ['feature-ipv6-csum-offload', '1'],
      ['feature-rx-copy', '1'],
      ['feature-xdp-headroom', o.xdpHeadroom ? '1' : '0'],
      ['feature-rx-flip', '0'],
      ['feature-multicast-control', '1'],
      ['feature-dynamic-multicast-control', '1'],
    ],
    outside: [
      ['feature-split-event-channels', o.splitEventChannels ? '1' : '0'],
      ['multi-queue-max-queues', String(o.maxQueues)],
      ['feature-ctrl-ring', '1'],
    ],
  };
}

/**
 * Writes the advertisement under `backendPath`. A failing transaction is a typed XenStoreError
 * (the caller reports it as xenbus_dev_fatal does); failing optional keys are returned, not thrown.
 */
export async function advertiseFeatures(xs: XenStore, backendPath: string, options: FeatureOptions = {}): Promise<string[]> {
  const ad = featureAdvertisement(options);
  await xs.transaction(async (tx) => {
    for (const [key, value] of ad.inTransaction) await xs.write(`${backendPath}/${key}`, value, tx);
  });
  const failed: string[] = [];
  for (const [key, value] of ad.outside) {
    try {
      await xs.write(`${backendPath}/${key}`, value);
    } catch (err) {
      if (!(err instanceof NetbackError)) throw err;
      failed.push(key);
    }
  }
  return failed;
}
