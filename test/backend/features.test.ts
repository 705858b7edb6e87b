import { describe, expect, it } from 'vitest';
import { FeatureOptionError, advertiseFeatures, defaultMaxQueues, featureAdvertisement } from '../../src/backend/features.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';
import type { XenStore, XenStoreTransaction } from '../../src/xen/types.js';

// netif-protocol.md §4.2 (from xenbus.c netback_probe), copied by hand.
const IN_TRANSACTION = [
  ['feature-sg', '1'],
  ['feature-gso-tcpv4', '1'],
  ['feature-gso-tcpv6', '1'],
  ['feature-ipv6-csum-offload', '1'],
  ['feature-rx-copy', '1'],
  ['feature-xdp-headroom', '1'],
  ['feature-rx-flip', '0'],
  ['feature-multicast-control', '1'],
  ['feature-dynamic-multicast-control', '1'],
];

const BE = '/local/domain/0/backend/vif/3/0';

/** The store with its write replaced, every other call passed through. */
function delegate(xs: SimXenStore, write: XenStore['write']): XenStore {
  return {
    read: (p, tx) => xs.read(p, tx), write, rm: (p, tx) => xs.rm(p, tx), directory: (p, tx) => xs.directory(p, tx),
    watch: (p, t, h) => xs.watch(p, t, h), transaction: (body, n) => xs.transaction(body, n),
    domainPath: (d) => xs.domainPath(d), close: () => xs.close(),
  };
}

describe('features', () => {
  it('featureAdvertisement_defaults_match_linux', () => {
    const ad = featureAdvertisement({ maxQueues: 4 });
    expect(ad.inTransaction).toEqual(IN_TRANSACTION);
    expect(ad.outside).toEqual([
      ['feature-split-event-channels', '1'],
      ['multi-queue-max-queues', '4'],
      ['feature-ctrl-ring', '1'],
    ]);
  });

  it('featureAdvertisement_options', () => {
    const ad = featureAdvertisement({ maxQueues: 1, splitEventChannels: false, xdpHeadroom: false });
    expect(new Map(ad.inTransaction).get('feature-xdp-headroom')).toBe('0');
    expect(new Map(ad.outside).get('feature-split-event-channels')).toBe('0');
    expect(new Map(ad.outside).get('multi-queue-max-queues')).toBe('1');
  });

  it('featureAdvertisement_bad_max_queues', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 70000]) {
      expect(() => featureAdvertisement({ maxQueues: bad }), String(bad)).toThrow(FeatureOptionError);
    }
  });

  it('defaultMaxQueues_is_min_8_cpus', () => {
    expect(defaultMaxQueues(2)).toBe(2);
    expect(defaultMaxQueues(64)).toBe(8);
    expect(defaultMaxQueues(1)).toBe(1);
  });

  it('advertiseFeatures_transaction_split', async () => {
    const xs = new SimXenStore();
    const seen: { key: string; inTx: boolean }[] = [];
    const spy = delegate(xs, async (path: string, value: string, tx?: XenStoreTransaction) => {
      seen.push({ key: path.slice(BE.length + 1), inTx: tx !== undefined });
      return xs.write(path, value, tx);
    });
    await advertiseFeatures(spy, BE, { maxQueues: 2 });
    expect(seen.filter((s) => s.inTx).map((s) => s.key)).toEqual(IN_TRANSACTION.map(([k]) => k));
    expect(seen.filter((s) => !s.inTx).map((s) => s.key)).toEqual(['feature-split-event-channels', 'multi-queue-max-queues', 'feature-ctrl-ring']);
    const dump = xs.dump(BE);
    for (const [key, value] of IN_TRANSACTION) expect(dump.get(`${BE}/${key}`), key).toBe(value);
    expect(dump.get(`${BE}/multi-queue-max-queues`)).toBe('2');
  });

  it('advertiseFeatures_retries_on_eagain', async () => {
    const xs = new SimXenStore();
    let interfered = false;
    const spy = delegate(xs, async (path: string, value: string, tx?: XenStoreTransaction) => {
      if (tx !== undefined && !interfered) {
        interfered = true;
        await xs.write(path, 'someone else'); // touches a node the transaction writes → EAGAIN
      }
      return xs.write(path, value, tx);
    });
    await advertiseFeatures(spy, BE, { maxQueues: 1 });
    expect(xs.conflicts).toBe(1);
    expect(await xs.read(`${BE}/feature-sg`)).toBe('1');
  });
});
