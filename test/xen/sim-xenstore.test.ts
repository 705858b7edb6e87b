import { describe, expect, it } from 'vitest';
import { XenStoreError } from '../../src/xen/errors.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SimXenStore', () => {
  it('xenstore_write_creates_parents_and_rm_removes_subtrees', async () => {
    const xs = new SimXenStore();
    await xs.write('/local/domain/0/backend/vif/1/0/state', '1');
    expect(await xs.directory('/local/domain/0/backend/vif/1')).toEqual(['0']);
    expect(await xs.read('/local/domain/0/backend/vif')).toBe('');
    await xs.rm('/local/domain/0/backend/vif/1');
    expect(await xs.read('/local/domain/0/backend/vif/1/0/state')).toBeUndefined();
    expect(await xs.directory('/local/domain/0/backend/vif')).toEqual([]);
    await xs.rm('/local/domain/0/nothing/here'); // not an error, as in xenstored
  });

  it('xenstore_invalid_paths_are_typed_errors', async () => {
    const xs = new SimXenStore();
    for (const bad of ['relative/path', '/a//b', '/a/', `/${'x'.repeat(4000)}`]) {
      await expect(xs.read(bad)).rejects.toBeInstanceOf(XenStoreError);
    }
    await expect(xs.write('/a', 'v'.repeat(5000))).rejects.toMatchObject({ errno: 'E2BIG', code: 'NETBACK_XENSTORE_E2BIG' });
  });

  it('xenstore_watch_fires_once_on_register_then_on_changes_below', async () => {
    const xs = new SimXenStore();
    const events: string[] = [];
    const watch = await xs.watch('/be/vif', 'tok', (path, token) => events.push(`${token}:${path}`));
    await settle();
    expect(events).toEqual(['tok:/be/vif']);
    await xs.write('/be/vif/1/0/state', '2');
    await xs.write('/be/other', 'x'); // outside the watched path
    await xs.write('/be/vifx', 'x');  // a sibling sharing the prefix is outside too
    await settle();
    expect(events).toEqual(['tok:/be/vif', 'tok:/be/vif/1/0/state']);
    await watch.close();
    await xs.write('/be/vif/1/0/state', '4');
    await settle();
    expect(events).toHaveLength(2);
  });

  it('xenstore_rm_of_an_ancestor_fires_watches_below_it', async () => {
    const xs = new SimXenStore();
    await xs.write('/fe/device/vif/0/state', '4');
    const events: string[] = [];
    await xs.watch('/fe/device/vif/0/state', 't', (path) => events.push(path));
    await settle();
    await xs.rm('/fe/device');
    await settle();
    expect(events).toEqual(['/fe/device/vif/0/state', '/fe/device/vif/0/state']);
  });

  it('xenstore_transaction_commits_atomically', async () => {
    const xs = new SimXenStore();
    const events: string[] = [];
    await xs.watch('/be', 't', (path) => events.push(path));
    await settle();
    events.length = 0;
    await xs.transaction(async (tx) => {
      await xs.write('/be/feature-sg', '1', tx);
      await xs.write('/be/feature-gso-tcpv4', '1', tx);
      expect(await xs.read('/be/feature-sg', tx)).toBe('1');
      expect(await xs.read('/be/feature-sg')).toBeUndefined(); // not visible outside before commit
    });
    await settle();
    expect(await xs.read('/be/feature-gso-tcpv4')).toBe('1');
    expect(events).toEqual(['/be/feature-sg', '/be/feature-gso-tcpv4']);
  });

  it('xenstore_transaction_conflict_is_eagain_and_retried', async () => {
    const xs = new SimXenStore();
    await xs.write('/counter', '0');
    let runs = 0;
    await xs.transaction(async (tx) => {
      runs++;
      const value = Number(await xs.read('/counter', tx));
      if (runs === 1) await xs.write('/counter', '10'); // another writer gets in between
      await xs.write('/counter', String(value + 1), tx);
    });
    expect(runs).toBe(2);
    expect(xs.conflicts).toBe(1);
    expect(await xs.read('/counter')).toBe('11');
  });

  it('xenstore_transaction_gives_up_after_attempts', async () => {
    const xs = new SimXenStore();
    await expect(xs.transaction(async (tx) => {
      await xs.read('/hot', tx);
      await xs.write('/hot', 'other');
    }, 3)).rejects.toMatchObject({ errno: 'EAGAIN' });
    expect(xs.conflicts).toBe(3);
  });

  it('xenstore_transaction_sees_a_node_created_meanwhile_as_conflict', async () => {
    const xs = new SimXenStore();
    let runs = 0;
    const children = await xs.transaction(async (tx) => {
      runs++;
      const names = await xs.directory('/dir', tx);
      if (runs === 1) await xs.write('/dir/new', '1');
      return names;
    });
    expect(runs).toBe(2);
    expect(children).toEqual(['new']);
  });
  it('xenstore_domain_connection_resolves_relative_paths_below_its_domain', async () => {
    const xs = new SimXenStore();
    const dd = xs.connection(5);
    await xs.write('/local/domain/5/domid', '5');
    expect(await dd.read('domid')).toBe('5');
    expect(await dd.read('/local/domain/5/domid')).toBe('5'); // absolute paths are left alone
    await dd.write('data/netback-state', 'ready');
    expect(await xs.read('/local/domain/5/data/netback-state')).toBe('ready');
    expect(await dd.directory('data')).toEqual(['netback-state']);
    await dd.rm('data');
    expect(await xs.read('/local/domain/5/data')).toBeUndefined();
    expect(await xs.connection(6).read('domid')).toBeUndefined(); // another domain's connection, another directory
    await expect(dd.read('bad//path')).rejects.toBeInstanceOf(XenStoreError);
  });

  it('xenstore_domain_connection_watch_reports_paths_as_registered', async () => {
    const xs = new SimXenStore();
    const dd = xs.connection(5);
    const events: string[] = [];
    await dd.watch('backend/vif', 'rel', (path, token) => events.push(`${token}:${path}`));
    await dd.watch('/local/domain/5/backend/vif', 'abs', (path, token) => events.push(`${token}:${path}`));
    await settle();
    await xs.write('/local/domain/5/backend/vif/7/0/state', '2');
    await xs.write('/local/domain/0/backend/vif/7/0/state', '2'); // dom0's backends: not this domain's
    await settle();
    expect(events).toEqual(['rel:backend/vif', 'abs:/local/domain/5/backend/vif', 'rel:backend/vif/7/0/state', 'abs:/local/domain/5/backend/vif/7/0/state']);
    await dd.close(); // the connection's watches go with it; the store stays
    await xs.write('/local/domain/5/backend/vif/7/0/state', '4');
    await settle();
    expect(events).toHaveLength(4);
    expect(await xs.read('/local/domain/5/backend/vif/7/0/state')).toBe('4');
  });
});
