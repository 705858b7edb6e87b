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

it('fuzz_rx_replay_producer_jumped_past_2_to_the_31', async () => {
  // the guest moves its RX req_prod 2^31 - 1 ahead of 256 posted buffers, then the host sends 53
  // frames: read unsigned, as Linux's rx.c reads it, that publishes every slot up to there, so the
  // backend answers past the 256 really posted, overwriting only that guest's own ring
  const program = JSON.parse(`{"features":{"gsoTcpv4":false,"gsoTcpv6":false,"noCsumOffload":false,"sg":true},"steps":[{"kind":"prod","delta":2147483647},{"kind":"frame","vnet":{"flags":0,"gsoType":0,"hdrLen":0,"gsoSize":0,"csumStart":0,"csumOffset":6},"frame":{"kind":"built","ip":4,"l4":"tcp","payload":16331,"vlan":0,"ext":[],"fragment":false,"cut":0,"mutate":[]},"copies":21},{"kind":"frame","vnet":{"flags":0,"gsoType":0,"hdrLen":0,"gsoSize":0,"csumStart":"auto","csumOffset":6},"frame":{"kind":"built","ip":4,"l4":"tcp","payload":16331,"vlan":0,"ext":[],"fragment":false,"cut":0,"mutate":[]},"copies":31},{"kind":"frame","vnet":{"flags":0,"gsoType":0,"hdrLen":0,"gsoSize":0,"csumStart":"auto","csumOffset":"auto"},"frame":{"kind":"random","length":0,"seed":1},"copies":1}]}`) as RxProgram;
  const outcome = await runRxProgram(world, program);
  expect(['ok', 'drop']).toContain(outcome.kind);
  await world.assertVictimsFlow(22);
});

it('fuzz_rx_replay_producer_rewound_behind_the_consumer', async () => {
  // a GSO frame segmented at mss 1 takes 129 of the 256 posted buffers; then the guest moves its
  // req_prod back by 128, behind the backend's req_cons but not behind where the case began. Read
  // unsigned, `req_prod - req_cons` is then ~2^32, so the 22 frames after it are answered past
  // the 256 really posted (the oracle counted only rewinds past the start as publishing them)
  const program = JSON.parse(`{"features":{"gsoTcpv4":false,"gsoTcpv6":false,"noCsumOffload":false,"sg":true},"steps":[{"kind":"frame","vnet":{"flags":0,"gsoType":1,"hdrLen":0,"gsoSize":1,"csumStart":0,"csumOffset":6},"frame":{"kind":"built","ip":4,"l4":"tcp","payload":129,"vlan":0,"ext":[],"fragment":false,"cut":0,"mutate":[]},"copies":1},{"kind":"prod","delta":-128},{"kind":"frame","vnet":{"flags":0,"gsoType":0,"hdrLen":0,"gsoSize":0,"csumStart":"auto","csumOffset":"auto"},"frame":{"kind":"built","ip":4,"l4":"tcp","payload":20415,"vlan":3,"ext":[],"fragment":true,"cut":0,"ipLength":0,"mutate":[]},"copies":22},{"kind":"post","count":1,"grant":0,"id":"seq","publish":"all"}]}`) as RxProgram;
  const outcome = await runRxProgram(world, program);
  expect(['ok', 'drop']).toContain(outcome.kind);
  await world.assertVictimsFlow(23);
});
