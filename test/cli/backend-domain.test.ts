import { describe, expect, it } from 'vitest';
import { backendDomainOf } from '../../src/cli/backend-domain.js';
import { XenStoreError } from '../../src/xen/errors.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';

/** A store holding what the toolstack wrote for driver domain 5, seen through 5's own connection. */
async function driverDomain(domid: string | undefined) {
  const xs = new SimXenStore();
  if (domid !== undefined) await xs.write('/local/domain/5/domid', domid);
  await xs.write('/local/domain/0/domid', '0');
  return xs.connection(5);
}

describe('backendDomainOf', () => {
  it('backendDomainOf_dom0_by_capabilities_without_reading_xenstore', async () => {
    const reads: string[] = [];
    const xs = { read: async (path: string) => { reads.push(path); return '5'; } };
    expect(await backendDomainOf(xs, 'control_d\n')).toBe(0);
    expect(reads).toEqual([]);
  });

  it('backendDomainOf_driver_domain_reads_its_own_domid', async () => {
    // xenfs mounted in a domU: the capabilities file is there and empty; not mounted: no file
    for (const caps of ['', undefined]) expect(await backendDomainOf(await driverDomain('5'), caps)).toBe(5);
  });

  it('backendDomainOf_unknown_without_a_usable_domid_node', async () => {
    expect(await backendDomainOf(await driverDomain(undefined), '')).toBeUndefined();
    // Number('') is 0: an empty node must not make a driver domain take dom0's backends
    for (const garbled of ['', ' 5', '5x', '-1', '0x5', '1e3']) {
      expect(await backendDomainOf(await driverDomain(garbled), ''), garbled).toBeUndefined();
    }
  });

  it('backendDomainOf_xenstore_refusal_is_unknown_other_errors_propagate', async () => {
    const refusing = { read: async () => { throw new XenStoreError('EACCES', 'read', 'domid'); } };
    expect(await backendDomainOf(refusing, '')).toBeUndefined();
    const broken = { read: async () => { throw new Error('connection lost'); } };
    await expect(backendDomainOf(broken, '')).rejects.toThrow('connection lost');
  });
});
