// The daemon's sweep of TAPs an earlier process left, over a simulated xenstore: which are kept
// for adoption and which removed. (The TAP side, marking and removal, is test/tap/persistent.test.ts.)
import { describe, expect, it } from 'vitest';
import { sweepLeftoverTaps } from '../../src/cli/leftover-taps.js';
import { SimXenStore } from '../../src/xen/sim/xenstore.js';
import type { XenStore } from '../../src/xen/types.js';

const BE = '/local/domain/0/backend/vif';

function rig(owned: Array<{ name: string; owner: string }>, xs: XenStore = new SimXenStore()) {
  const removed: string[] = [];
  const logged: string[] = [];
  const options = {
    xs,
    owned: () => owned.filter((t) => !removed.includes(t.name)),
    remove: (name: string) => {
      if (name === 'busy0') throw new Error('EBUSY');
      removed.push(name);
    },
    log: (_level: string, msg: string) => { logged.push(msg); },
  };
  return { options, removed, logged, xs };
}

describe('sweep of leftover TAPs', () => {
  it('leftover_taps_of_live_vifs_are_kept_the_others_removed', async () => {
    const r = rig([{ name: 'vif1.0', owner: `${BE}/1/0` }, { name: 'vif2.0', owner: `${BE}/2/0` }, { name: 'busy0', owner: `${BE}/9/0` }]);
    await r.xs.write(`${BE}/1/0/state`, '4');
    expect(await sweepLeftoverTaps(r.options)).toEqual(['vif2.0']);
    expect(r.removed).toEqual(['vif2.0']);
    expect(r.logged.some((m) => m.includes('could not remove busy0'))).toBe(true);
  });

  it('leftover_taps_second_pass_removes_only_unheld_taps_of_gone_vifs', async () => {
    const r = rig([{ name: 'vif1.0', owner: `${BE}/1/0` }, { name: 'vif3.0', owner: `${BE}/3/0` }, { name: 'vif4.0', owner: `${BE}/4/0` }]);
    await r.xs.write(`${BE}/4/0/state`, '2'); // exists, not probed yet: kept for its probe
    // vif1.0's directory went away after the first pass, but a vif still holds its TAP: untouched
    expect(await sweepLeftoverTaps(r.options, (name) => name === 'vif1.0')).toEqual(['vif3.0']);
  });

  it('leftover_taps_kept_when_xenstore_cannot_tell', async () => {
    const failing = { read: async () => { throw new Error('EACCES'); } } as unknown as XenStore;
    const r = rig([{ name: 'vif1.0', owner: `${BE}/1/0` }], failing);
    expect(await sweepLeftoverTaps(r.options)).toEqual([]);
    expect(r.logged[0]).toMatch(/keeping vif1.0: cannot tell/);
  });
});
