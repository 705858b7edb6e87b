// Guest-RX and host-side fuzzing: a hostile frontend posts RX requests as it likes (ids, grants
// that are read-only, bogus or not its own, producer jumps) while frames come from the TAP side
// with virtio_net_hdr metadata that need not match them (GSO on a UDP frame, hdr_len and
// csum_start past the end, ECN bits, garbage types), truncated headers, IP lengths that lie and
// IPv6 extension-header chains far longer than any real one. The frontend's features vary so the
// Wasm segmentation and checksum completion run too. Judged by the RX ring model and the world.

import fc from 'fast-check';
import { expect } from 'vitest';
import { buildFrame, pseudoRandomBytes, type Ipv6ExtensionHeader } from '../reference/frames.js';
import { RxRingModel } from './ring-model.js';
import { dropCount, HOSTILE_MAC, type FuzzWorld, type Outcome } from './world.js';

export interface VnetSpec { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number | 'auto'; csumOffset: number | 'auto' }
export type FrameSpecArb =
  | { kind: 'built'; ip: 4 | 6; l4: 'tcp' | 'udp'; payload: number; vlan: number; ext: Ipv6ExtensionHeader[]; fragment: boolean; cut: number; ipLength: number | undefined; mutate: [number, number][] }
  | { kind: 'extloop'; count: number; payload: number }
  | { kind: 'random'; length: number; seed: number };

export type RxStep =
  | { kind: 'post'; count: number; grant: number; id: number | 'seq'; publish: 'all' | 'none' }
  | { kind: 'prod'; delta: number }
  | { kind: 'frame'; vnet: VnetSpec; frame: FrameSpecArb; copies: number }
  | { kind: 'notify' };

export interface RxProgram {
  features: { gsoTcpv4: boolean; gsoTcpv6: boolean; noCsumOffload: boolean; sg: boolean };
  steps: RxStep[];
}

const vnetArb: fc.Arbitrary<VnetSpec> = fc.record({
  flags: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  gsoType: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 0, 1, 4, 3, 0x81) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  hdrLen: fc.oneof(fc.constantFrom(0, 54, 66, 74), fc.integer({ min: 0, max: 0xFFFF })),
  gsoSize: fc.oneof(fc.constantFrom(0, 1, 8, 536, 1448, 1460, 9000, 0xFFFF), fc.integer({ min: 0, max: 0xFFFF })),
  csumStart: fc.oneof({ weight: 3, arbitrary: fc.constant('auto' as const) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xFFFF }) }),
  csumOffset: fc.oneof({ weight: 3, arbitrary: fc.constant('auto' as const) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom(6, 16, 0, 0xFFFF), fc.integer({ min: 0, max: 0xFFFF })) }),
});

const frameArb: fc.Arbitrary<FrameSpecArb> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    kind: fc.constant('built' as const), ip: fc.constantFrom(4 as const, 6 as const), l4: fc.constantFrom('tcp' as const, 'udp' as const),
    payload: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 64000 })),
    vlan: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    ext: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.constantFrom<Ipv6ExtensionHeader>('hop', 'dest', 'routing', 'auth', 'fragment'), { maxLength: 6 }) }),
    fragment: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    cut: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 120 }) }),
    ipLength: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xFFFF }) }),
    mutate: fc.array(fc.tuple(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extloop' as const), count: fc.integer({ min: 8, max: 400 }), payload: fc.integer({ min: 0, max: 9000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 70000 })), seed: fc.integer({ min: 1, max: 1 << 30 }) }) },
);

const stepArb: fc.Arbitrary<RxStep> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('post' as const), count: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(256)),
    grant: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
    id: fc.oneof(fc.constant('seq' as const), fc.integer({ min: 0, max: 0xFFFF })),
    publish: fc.oneof({ weight: 8, arbitrary: fc.constant('all' as const) }, { weight: 1, arbitrary: fc.constant('none' as const) }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prod' as const), delta: fc.oneof(fc.integer({ min: -300, max: 300 }), fc.constantFrom(257, 0x7FFFFFFF, -0x80000000)) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('frame' as const), vnet: vnetArb, frame: frameArb, copies: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'notify' as const }) },
);

export const rxProgramArb: fc.Arbitrary<RxProgram> = fc.record({
  features: fc.record({ gsoTcpv4: fc.boolean(), gsoTcpv6: fc.boolean(), noCsumOffload: fc.boolean(), sg: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 10 }),
});

/** An IPv6/TCP frame behind `count` destination-options headers (a chain no real stack sends). */
function extLoopFrame(count: number, payload: number): Uint8Array {
  const frame = new Uint8Array(14 + 40 + count * 8 + 20 + payload);
  frame[12] = 0x86; frame[13] = 0xdd;
  frame[14] = 0x60;
  const plen = Math.min(0xFFFF, count * 8 + 20 + payload);
  frame[18] = plen >> 8; frame[19] = plen & 0xFF;
  frame[20] = 60; frame[21] = 64;
  for (let i = 0; i < count; i++) frame[54 + i * 8] = i === count - 1 ? 6 : 60;
  frame[54 + count * 8 + 12] = 0x50;
  return frame;
}

export function frameBytes(spec: FrameSpecArb): { frame: Uint8Array; l4: number; csumOffset: number } {
  if (spec.kind === 'random') return { frame: pseudoRandomBytes(spec.length, spec.seed), l4: 34, csumOffset: 16 };
  if (spec.kind === 'extloop') return { frame: extLoopFrame(spec.count, spec.payload), l4: 54 + spec.count * 8, csumOffset: 16 };
  const built = buildFrame({
    ip: spec.ip, l4: spec.l4, payload: spec.payload, vlanTags: spec.vlan, ipv6Extensions: spec.ip === 6 ? spec.ext : undefined,
    fragment: spec.fragment, checksum: 'pseudo',
  });
  let frame = built.frame;
  if (spec.ipLength !== undefined) {
    const at = built.l3 + (spec.ip === 4 ? 2 : 4);
    if (at + 1 < frame.length) { frame[at] = spec.ipLength >> 8; frame[at + 1] = spec.ipLength & 0xFF; }
  }
  for (const [at, value] of spec.mutate) if (at < frame.length) frame[at] = value;
  if (spec.cut > 0) frame = frame.subarray(0, Math.max(0, built.l4 + 20 - spec.cut)).slice();
  return { frame, l4: built.l4, csumOffset: built.checksumOffset < 0 ? 0 : built.checksumOffset };
}

function withVnet(vnet: VnetSpec, frame: { frame: Uint8Array; l4: number; csumOffset: number }): Uint8Array {
  const out = new Uint8Array(10 + frame.frame.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, vnet.flags);
  v.setUint8(1, vnet.gsoType);
  v.setUint16(2, vnet.hdrLen, true);
  v.setUint16(4, vnet.gsoSize, true);
  v.setUint16(6, vnet.csumStart === 'auto' ? frame.l4 : vnet.csumStart, true);
  v.setUint16(8, vnet.csumOffset === 'auto' ? frame.csumOffset : vnet.csumOffset, true);
  out.set(frame.frame, 10);
  // the frame is for the hostile guest (it is the only other port on its bridge anyway)
  if (frame.frame.length >= 6) out.set(HOSTILE_MAC, 10);
  return out;
}

export async function runRxProgram(world: FuzzWorld, program: RxProgram): Promise<Outcome> {
  const guest = await world.newHostile({ features: program.features, pollMode: 'manual' });
  const raw = guest.netfront.hostile(0);
  const model = new RxRingModel(raw);
  const grants = [
    -1, // per-request fresh writable page
    raw.grant(true),
    0x7FFFFFF0,
    // a page the guest granted to another domain (domain 1), not to the backend
    world.sideGrant(1, false),
    // a grant the guest already revoked
    revoked(world, guest.domid),
  ];
  const path = world.hostileDataPath();
  const dropsBefore = dropCount(path);
  world.snapshotVictims({ keepChecked: true });
  let prod = raw.rxRing.reqProd;
  let nextId = 0;
  const queue = path.queues[0]!;
  const eventsBefore = queue.stats.events;
  let kicks = 0;
  for (const step of program.steps) {
    switch (step.kind) {
      case 'post': {
        for (let i = 0; i < step.count; i++) {
          const gref = grants[step.grant]! < 0 ? raw.grant(false) : grants[step.grant]!;
          model.post((prod + i) >>> 0, step.id === 'seq' ? nextId++ & 0xFFFF : step.id, gref);
        }
        if (step.publish === 'all') {
          prod = (prod + step.count) >>> 0;
          model.publish(prod);
        }
        raw.notifyRx();
        kicks++;
        break;
      }
      case 'prod':
        prod = (prod + step.delta) >>> 0;
        model.publish(prod);
        raw.notifyRx();
        kicks++;
        break;
      case 'frame': {
        const bytes = withVnet(step.vnet, frameBytes(step.frame));
        for (let i = 0; i < step.copies; i++) world.injectToHostile(bytes);
        break;
      }
      case 'notify':
        raw.notifyRx();
        raw.notifyTx();
        kicks += 2;
        break;
    }
    await world.settle(3);
    model.check();
    if (path.disabled !== undefined) break;
  }
  await world.settle();
  model.check();
  // bounded: at most one event per kick (plus the connect-time look), as the TX property checks
  expect(queue.stats.events - eventsBefore, 'events handled').toBeLessThanOrEqual(kicks + 1);
  const batches = path.queues[0]!.stats.rxBatches;
  await world.settle(4);
  expect(path.queues[0]!.stats.rxBatches, 'RX kept working with nothing new').toBe(batches);
  for (const queue of path.queues) expect(queue.backlogBytes).toBeLessThanOrEqual(512 * 1024);
  world.assertVictimsUntouched();
  const outcome = world.outcome(dropsBefore);
  if (outcome.kind === 'typed-error') await world.assertHostileStillWorks();
  return outcome;
}

function revoked(world: FuzzWorld, domid: number): number {
  const ref = world.host.grants.grantAccess(domid, world.host.backendDomid, false);
  world.host.grants.endAccess(domid, ref);
  return ref;
}
