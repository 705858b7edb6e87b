// The RX counterexamples the long fuzz run found, replayed as fixed cases.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runRxProgram, type RxProgram } from './rx-fuzz.js';
import { FuzzWorld } from './world.js';

let world: FuzzWorld;
beforeAll(async () => { world = await FuzzWorld.create(); });
afterAll(async () => { await world.close(); });

it('fuzz_rx_replay_over_posted_ring_with_segmented_gso', async () => {
  // the guest posts 256 buffers on top of those it posted at connect (512 outstanding) and the
  // host sends 33 GSO frames it must segment (mss 8): more than a ring of responses in one pass
  const program = JSON.parse(`{"features":{"gsoTcpv4":false,"gsoTcpv6":false,"noCsumOffload":false,"sg":true},"steps":[{"kind":"post","count":256,"grant":0,"id":"seq","publish":"all"},{"kind":"frame","vnet":{"flags":0,"gsoType":1,"hdrLen":0,"gsoSize":8,"csumStart":"auto","csumOffset":"auto"},"frame":{"kind":"built","ip":4,"l4":"tcp","payload":57,"vlan":0,"ext":[],"fragment":false,"cut":0,"mutate":[]},"copies":33},{"kind":"frame","vnet":{"flags":2,"gsoType":129,"hdrLen":32462,"gsoSize":13556,"csumStart":"auto","csumOffset":"auto"},"frame":{"kind":"built","ip":6,"l4":"tcp","payload":1322,"vlan":1,"ext":[],"fragment":true,"cut":0,"mutate":[[109,41],[65,212]]},"copies":35}]}`) as RxProgram;
  const outcome = await runRxProgram(world, program);
  expect(['ok', 'drop']).toContain(outcome.kind);
  await world.assertVictimsFlow(21);
});
