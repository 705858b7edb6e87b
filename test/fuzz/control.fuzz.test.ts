// Bounded fuzzing of the control surfaces a guest or toolstack writes: control-ring requests
// (any type, id, data, grant, producer jumps) followed by frames the hash steers, and xenstore
// values (frontend feature keys, ring refs, event channels, queue counts; backend mac, rate, mtu)
// with garbage, at connect and live (watch storms). Oracle: every control response answers a
// published request with its id and type and a defined status; a config error closes that vif
// with a typed error; nothing untyped escapes; victims untouched and still passing traffic.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CTRL_TYPE } from '../../src/xen/sim/ctrl-frontend.js';
import { buildFrame } from '../reference/frames.js';
import { dropCount, fuzzBudget, FuzzWorld, HOSTILE_MAC, reportTally, Tally, type Outcome } from './world.js';

const budget = fuzzBudget(25);
let world: FuzzWorld;
const ctrlTally = new Tally();
const xsTally = new Tally();
// the debug kernels (assertions kept); the ring properties alternate release and debug
beforeAll(async () => { world = await FuzzWorld.create({ build: 'debug' }); });
afterAll(async () => {
  await world.close();
  await reportTally('fuzz_ctrl', ctrlTally);
  await reportTally('fuzz_xenstore', xsTally);
});

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 40, 64, 128, 4096, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF), fc.integer({ min: 0, max: 0xFFFFFFFF }));
const ctrlStepArb = fc.oneof(
  { weight: 8, arbitrary: fc.record({
    kind: fc.constant('request' as const),
    type: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 11 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xFFFF }) }),
    id: fc.integer({ min: 0, max: 0xFFFF }),
    data: fc.tuple(u32, u32, u32),
    /** for key/mapping requests: data[0] becomes a granted page (0), a bogus ref (1) or stays as drawn (2) */
    page: fc.constantFrom(0, 0, 1, 2),
    contents: fc.array(fc.integer({ min: 0, max: 0xFFFFFFFF }), { minLength: 1, maxLength: 16 }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prod' as const), delta: fc.oneof(fc.integer({ min: -200, max: 200 }), fc.constantFrom(129, 0x7FFFFFFF)) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('frames' as const), ip: fc.constantFrom(4 as const, 6 as const), l4: fc.constantFrom('tcp' as const, 'udp' as const), count: fc.integer({ min: 1, max: 8 }) }) },
);

async function runCtrl(steps: fc.Arbitrary<unknown> extends never ? never : Array<typeof ctrlStepArb extends fc.Arbitrary<infer T> ? T : never>, queues: number): Promise<Outcome> {
  const guest = await world.newHostile({ ctrlRing: true, queues });
  const ctrl = guest.ctrl!;
  const path = world.hostileDataPath();
  const dropsBefore = dropCount(path);
  world.snapshotVictims({ keepChecked: true });
  const ring = ctrl.ring;
  const start = ring.rspProd;
  let prod = ring.reqProd;
  let maxPublished = 0;
  const requests = new Map<number, { id: number; type: number }>();
  // a published slot never written holds what the page held (a response echoes it)
  for (let pos = 0; pos < 128; pos++) requests.set(pos, { id: ring.view().getUint16(64 + pos * 16, true), type: ring.view().getUint16(64 + pos * 16 + 2, true) });
  let seen = start;
  const check = () => {
    const rsp = ring.rspProd;
    // Linux answers every request a frontend publishes, even more than a ring's worth (see:
    // netback.c xenvif_ctrl_action has no overflow check): only never beyond req_prod
    expect((rsp - seen) >>> 0, 'control rsp_prod moved back').toBeLessThan(0x80000000);
    expect((rsp - start) >>> 0, 'a control response for a request never published').toBeLessThanOrEqual(maxPublished);
    const view = ring.view();
    for (let i = seen; i !== rsp; i = (i + 1) >>> 0) {
      const at = 64 + (i & 127) * 16;
      const req = requests.get(i & 127);
      expect(view.getUint16(at, true), 'control response id').toBe(req!.id);
      expect(view.getUint16(at + 2, true), 'control response type').toBe(req!.type);
      expect([0, 1, 2, 3], 'control response status').toContain(view.getUint32(at + 4, true));
    }
    seen = rsp;
  };
  for (const step of steps) {
    if (step.kind === 'request') {
      let data = step.data;
      if (step.type === CTRL_TYPE.SET_HASH_KEY || step.type === CTRL_TYPE.SET_HASH_MAPPING) {
        const bytes = new Uint8Array(step.contents.length * 4);
        step.contents.forEach((v, i) => new DataView(bytes.buffer).setUint32(i * 4, v, true));
        if (step.page === 0) data = [world.sideGrant(world.host.backendDomid, true, bytes), data[1], data[2]];
        else if (step.page === 1) data = [0x7FFFFF00, data[1], data[2]];
      }
      const view = ring.view();
      const at = 64 + (prod & 127) * 16;
      view.setUint16(at, step.id, true);
      view.setUint16(at + 2, step.type, true);
      data.forEach((d, i) => view.setUint32(at + 4 + i * 4, d >>> 0, true));
      requests.set(prod & 127, { id: step.id, type: step.type });
      prod = (prod + 1) >>> 0;
      ring.reqProd = prod;
    } else if (step.kind === 'prod') {
      prod = (prod + step.delta) >>> 0;
      ring.reqProd = prod;
    } else {
      for (let i = 0; i < step.count; i++) {
        const frame = buildFrame({ ip: step.ip, l4: step.l4, payload: 40 + i * 7, checksum: 'full', seed: i + 1 }).frame;
        const bytes = new Uint8Array(10 + frame.length);
        bytes.set(frame, 10);
        bytes.set(HOSTILE_MAC, 10);
        world.injectToHostile(bytes);
      }
    }
    const offset = (prod - start) >>> 0;
    if (offset < 0x80000000 && offset > maxPublished) maxPublished = offset;
    ctrl.port.notify();
    await world.settle(3);
    check();
    if (path.disabled !== undefined) break;
  }
  world.clock.advance(5); // a bounded serve may have left the rest for a timer
  await world.settle();
  check();
  world.assertVictimsUntouched();
  return world.outcome(dropsBefore);
}

const FRONT_KEYS = [
  'multi-queue-num-queues', 'tx-ring-ref', 'rx-ring-ref', 'event-channel', 'event-channel-tx', 'event-channel-rx',
  'request-rx-copy', 'feature-sg', 'feature-gso-tcpv4', 'feature-gso-tcpv6', 'feature-rx-notify', 'feature-no-csum-offload',
  'feature-ipv6-csum-offload', 'feature-multicast-control', 'request-multicast-control', 'ctrl-ring-ref', 'event-channel-ctrl',
  'xdp-headroom', 'feature-rx-flip', 'queue-0/tx-ring-ref', 'queue-1/rx-ring-ref',
] as const;
const garbage = fc.oneof(
  fc.constantFrom('', '0', '1', '2', '3', '4', '8', '9', '-1', '01', '0x10', ' 1', '1 ', '1\n', 'NaN', '1e3', '4294967295', '4294967296',
    '99999999999999999999', '\u0000', 'é', '65535', '65536', '7fff', '32768', '1,2', 'yes'),
  fc.string({ maxLength: 12 }),
  fc.integer().map(String),
);
function rarely<T>(arb: fc.Arbitrary<T>, _options: unknown): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}
const xsArb = fc.record({
  frontend: fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom(...FRONT_KEYS), garbage, { maxKeys: 2 })),
  mac: rarely(fc.oneof(fc.constantFrom('00:16:3e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:16:3e:00:00', 'zz:zz:zz:zz:zz:zz', '00-16-3e-00-00-01'), fc.string({ maxLength: 20 })), { nil: undefined }),
  rate: rarely(fc.oneof(fc.constantFrom('10000000,50000', '0,0', '1,1', '4294967295,4294967295', '-1,5', '1,', ',1', '18446744073709551616,1'), fc.string({ maxLength: 20 })), { nil: undefined }),
  mtu: rarely(garbage, { nil: undefined }),
  live: fc.array(fc.record({
    where: fc.constantFrom('rate', 'request-multicast-control', 'state', 'hotplug-status', 'mtu'),
    value: fc.oneof(garbage, fc.constantFrom('1', '4', '5', '6', 'connected', 'error')),
    repeat: fc.integer({ min: 1, max: 40 }),
  }), { maxLength: 4 }),
});

describe('fuzz: control ring and xenstore', () => {
  it('fuzz_ctrl_ring_requests_typed_oracle', async () => {
    await fc.assert(fc.asyncProperty(fc.array(ctrlStepArb, { minLength: 1, maxLength: 14 }), fc.integer({ min: 1, max: 4 }), async (steps, queues) => {
      ctrlTally.add(await runCtrl(steps, queues));
    }), budget.params);
    await world.assertVictimsFlow(7);
  }, budget.timeout);

  it('fuzz_xenstore_values_typed_oracle', async () => {
    await fc.assert(fc.asyncProperty(xsArb, async (spec) => {
      if (process.env.FUZZ_TRACE) console.log('xs case', JSON.stringify(spec));
      let guest;
      // a refused connect rejects addGuest (the harness's wait, not a backend throw)
      await world.bounded(world.newHostile({
        frontendKeys: spec.frontend,
        nic: { ...(spec.mac !== undefined && { mac: spec.mac }), ...(spec.rate !== undefined && { rate: spec.rate }), ...(spec.mtu !== undefined && { mtu: spec.mtu as unknown as number }) },
        queues: 2,
      }).then((g) => { guest = g; }), 'connect', { tolerateRejection: true });
      expect(world.stuck, 'a connect that neither finished nor failed').toEqual([]);
      world.snapshotVictims({ keepChecked: true });
      const domid = world.pendingHostileDomid();
      const backend = `/local/domain/0/backend/vif/${domid}/0`;
      const frontend = `/local/domain/${domid}/device/vif/0`;
      for (const change of spec.live) {
        for (let i = 0; i < change.repeat; i++) {
          const at = change.where === 'rate' || change.where === 'hotplug-status' || change.where === 'mtu' ? backend : frontend;
          await world.host.xs.write(`${at}/${change.where}`, i % 2 === 0 ? change.value : `${change.value}${i}`);
        }
        await world.settle(3);
      }
      await world.settle();
      expect(await world.bounded(world.host.watcher.whenIdle(), 'backend idle'), 'the backend settles').toBe(true);
      // a config error is logged typed (never NETBACK_INTERNAL: an untyped throw in a vif step)
      expect(world.errorCodes.filter((c) => c === 'NETBACK_INTERNAL'), `untyped vif errors: ${world.errorLogs.join(' | ')}`).toEqual([]);
      expect(world.escapes.untyped).toEqual([]);
      const state = await world.host.xs.read(`${backend}/state`);
      let outcome: Outcome;
      if (guest !== undefined && state === '4') outcome = world.outcome(0);
      else {
        const error = await world.host.xs.read(`/local/domain/0/error/backend/vif/${domid}/0/error`);
        const frontendState = await world.host.xs.read(`${frontend}/state`);
        // a connect that did not complete is refused with an error node, or the frontend itself
        // walked away (Closing/Closed); never left without a word
        expect(error !== undefined || frontendState === '5' || frontendState === '6', `connect neither completed nor refused: backend state ${state}, frontend state ${frontendState}, no error node`).toBe(true);
        outcome = { kind: 'rejected', code: error === undefined ? `frontend-closed-${frontendState}` : `errno-${error.split(' ')[0]}` };
      }
      xsTally.add(outcome);
      world.assertVictimsUntouched();
    }), budget.params);
    await world.assertVictimsFlow(8);
  }, budget.timeout);
});
