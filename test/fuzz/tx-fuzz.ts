// Guest-TX fuzzing: programs of adversarial request chains written slot by slot into a hostile
// netfront's TX ring (sizes, offsets, flags, extra chains, ids, producer jumps and rewinds,
// start indices near 2^32, slots rewritten after publication), run against the real engine,
// judged by the ring model and the world's oracle.

import fc from 'fast-check';
import { expect } from 'vitest';
import { buildFrame, pseudoRandomBytes } from '../reference/frames.js';
import { TxRingModel } from './ring-model.js';
import { dropCount, type FuzzWorld, type Outcome } from './world.js';

const NETTXF_MORE_DATA = 0x4;
const NETTXF_EXTRA_INFO = 0x8;

export interface SlotSpec {
  /** Which grant: 0..3 a prepared page, 4 a page granted writable, 5 a bogus ref, 6 a page granted to another domain. */
  grant: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

export interface ExtraSpec {
  type: number;
  more: boolean;
  /** bytes 2..11 of the record (GSO size/type, MCAST MAC, HASH value...). */
  body: number[];
}

export type TxStep =
  | { kind: 'packet'; first: SlotSpec; extras: ExtraSpec[]; followers: SlotSpec[]; publish: 'all' | 'partial' | 'none'; consistent: boolean }
  | { kind: 'garbage'; bytes: number[] }
  | { kind: 'prod'; delta: number }
  | { kind: 'rewrite'; back: number; spec: SlotSpec }
  | { kind: 'notify' };

export interface TxProgram {
  startIndex: number;
  pages: { kind: 'frame'; ip: 4 | 6; l4: 'tcp' | 'udp'; payload: number; mutate: [number, number][] } [] | { kind: 'random'; seed: number }[];
  steps: TxStep[];
}

const sizeArb = fc.oneof(
  fc.constantFrom(0, 1, 13, 14, 15, 42, 60, 127, 128, 129, 1514, 4095, 4096, 4097, 9000, 65535),
  fc.integer({ min: 0, max: 0xFFFF }),
  fc.integer({ min: 14, max: 2000 }),
);
const offsetArb = fc.oneof(fc.constantFrom(0, 1, 2, 14, 64, 128, 4000, 4032, 4082, 4095, 4096, 0xFFFF), fc.integer({ min: 0, max: 4200 }));
const flagsArb = fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 0xF }), fc.integer({ min: 0, max: 0xFFFF }));
const idArb = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xFFFF, 256), fc.integer({ min: 0, max: 0xFFFF }));

const grantArb = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 6 }) });
const wildSlotArb: fc.Arbitrary<SlotSpec> = fc.record({ grant: grantArb, offset: offsetArb, flags: flagsArb, id: idArb, size: sizeArb });
/** A slot whose data stays inside its page (the frontend is hostile in other ways). */
const fittingSlotArb: fc.Arbitrary<SlotSpec> = fc.record({
  grant: grantArb, flags: fc.oneof(fc.constantFrom(0, 1, 2, 3), flagsArb), id: idArb,
  size: fc.oneof(fc.constantFrom(0, 1, 13, 14, 54, 128, 129, 1514, 4096), fc.integer({ min: 0, max: 4096 })),
  offset: fc.integer({ min: 0, max: 4096 }),
}).map((s) => ({ ...s, offset: s.offset % (4097 - s.size) }));
const slotArb: fc.Arbitrary<SlotSpec> = fc.oneof({ weight: 15, arbitrary: fittingSlotArb }, { weight: 1, arbitrary: wildSlotArb });

const extraArb: fc.Arbitrary<ExtraSpec> = fc.record({
  type: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(1, 1, 1, 2, 3, 4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  more: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  body: fc.oneof(
    // a plausible GSO body: size, type 1/2 (or not), pad, features
    fc.tuple(fc.oneof(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 0, max: 0xFFFF })), fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 0, max: 255 }))).map(([size, type]) => [size & 0xFF, size >> 8, type, 0, 0, 0, 0, 0, 0, 0]),
    fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 10, maxLength: 10 }),
  ),
});

const stepArb: fc.Arbitrary<TxStep> = fc.oneof(
  { weight: 10, arbitrary: fc.record({
    kind: fc.constant('packet' as const),
    first: slotArb,
    extras: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(extraArb, { minLength: 1, maxLength: 3 }) }),
    followers: fc.oneof(
      { weight: 4, arbitrary: fc.constant([]) },
      { weight: 4, arbitrary: fc.array(slotArb, { minLength: 1, maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(slotArb, { minLength: 16, maxLength: 24 }) },
    ),
    publish: fc.oneof({ weight: 8, arbitrary: fc.constant('all' as const) }, { weight: 1, arbitrary: fc.constantFrom('partial' as const, 'none' as const) }),
    consistent: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 12, maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prod' as const), delta: fc.oneof(fc.integer({ min: -300, max: 300 }), fc.constantFrom(257, -1, 0x7FFFFFFF, -0x80000000)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rewrite' as const), back: fc.integer({ min: 1, max: 8 }), spec: slotArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'notify' as const }) },
);

const pageArb = fc.oneof(
  fc.record({
    kind: fc.constant('frame' as const), ip: fc.constantFrom(4 as const, 6 as const), l4: fc.constantFrom('tcp' as const, 'udp' as const),
    payload: fc.integer({ min: 0, max: 3000 }),
    mutate: fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('random' as const), seed: fc.integer({ min: 1, max: 1 << 30 }) }),
);

export const txProgramArb: fc.Arbitrary<TxProgram> = fc.record({
  startIndex: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0xFFFFFF00, max: 0xFFFFFFFF }) }),
  pages: fc.array(pageArb, { minLength: 4, maxLength: 4 }) as fc.Arbitrary<TxProgram['pages']>,
  steps: fc.array(stepArb, { minLength: 1, maxLength: 12 }),
});

function pageBytes(spec: TxProgram['pages'][number], offset: number): Uint8Array {
  const page = new Uint8Array(4096);
  if (spec.kind === 'random') {
    page.set(pseudoRandomBytes(4096, spec.seed));
    return page;
  }
  const frame = buildFrame({ ip: spec.ip, l4: spec.l4, payload: spec.payload, checksum: 'pseudo' }).frame;
  for (const [at, value] of spec.mutate) if (at < frame.length) frame[at] = value;
  const start = Math.min(offset % 4096, 4096 - Math.min(frame.length, 4096));
  page.set(frame.subarray(0, 4096 - start), start);
  return page;
}

/** Runs one program against a fresh hostile guest; returns the outcome after the oracle passed. */
export async function runTxProgram(world: FuzzWorld, program: TxProgram): Promise<Outcome> {
  const guest = await world.newHostile({ startIndex: program.startIndex });
  const raw = guest.netfront.hostile(0);
  const model = new TxRingModel(raw);
  // the first prepared page is written so a frame starts where the first packet's first slot does
  const firstOffset = program.steps.find((s) => s.kind === 'packet')?.first.offset ?? 0;
  const grants = program.pages.map((p, i) => raw.grant(true, pageBytes(p, i === 0 ? firstOffset : 0)));
  grants.push(raw.grant(false));
  grants.push(0x7FFFFFF0);
  grants.push(world.sideGrant(1, true, new Uint8Array(4096).fill(0x11))); // granted to domain 1, not us
  const path = world.hostileDataPath();
  const dropsBefore = dropCount(path);
  world.snapshotVictims({ keepChecked: true });
  const queue = path.queues[0]!;
  const eventsBefore = queue.stats.events;
  let prod = raw.txRing.reqProd;
  let notifies = 0;
  const slot = (s: SlotSpec, flags: number) => ({ gref: grants[s.grant]!, offset: s.offset, flags, id: s.id, size: s.size });
  const kick = () => { notifies++; raw.notifyTx(); };

  for (const step of program.steps) {
    switch (step.kind) {
      case 'packet': {
        const base = prod;
        let at = base;
        const hasExtras = step.extras.length > 0;
        const hasFollowers = step.followers.length > 0;
        // a consistent first slot declares its own bytes plus every follower's (the wire rule)
        const declared = step.consistent ? (Math.min(step.first.size, 4096 - (step.first.offset % 4097)) + step.followers.reduce((n, f) => n + f.size, 0)) & 0xFFFF : step.first.size;
        model.write(at++, slot({ ...step.first, size: declared }, (step.first.flags & ~(NETTXF_MORE_DATA | NETTXF_EXTRA_INFO)) | (hasExtras ? NETTXF_EXTRA_INFO : 0) | (hasFollowers ? NETTXF_MORE_DATA : 0)));
        step.extras.forEach((e, i) => {
          const more = i < step.extras.length - 1 ? true : e.more;
          model.writeBytes(at++, new Uint8Array([e.type, more ? 1 : 0, ...e.body]));
        });
        step.followers.forEach((f, i) => {
          const more = i < step.followers.length - 1;
          model.write(at++, slot(f, (f.flags & ~NETTXF_MORE_DATA) | (more ? NETTXF_MORE_DATA : 0)));
        });
        const total = (at - base) >>> 0;
        const published = step.publish === 'all' ? total : step.publish === 'partial' ? Math.max(1, total >> 1) : 0;
        prod = (base + published) >>> 0;
        if (step.publish !== 'none') model.publish(prod);
        if (step.publish === 'none') prod = base; // never published: written slots get reused
        kick();
        break;
      }
      case 'garbage':
        model.writeBytes(prod, new Uint8Array(step.bytes));
        prod = (prod + 1) >>> 0;
        model.publish(prod);
        kick();
        break;
      case 'prod':
        prod = (prod + step.delta) >>> 0;
        model.publish(prod);
        kick();
        break;
      case 'rewrite':
        // XSA-155 shape: a published slot rewritten (after the backend may have read it)
        model.write((prod - step.back) >>> 0, slot(step.spec, step.spec.flags));
        kick();
        break;
      case 'notify':
        kick();
        break;
    }
    await world.settle(3);
    // the full ring check in every program: a rewritten slot's response carries an id it held
    model.check();
    if (path.disabled !== undefined) break;
  }
  await world.settle();
  model.check();
  // bounded: the backend handled at most one event per kick (plus the connect-time look), and
  // it is quiescent now — another turn brings no new work
  expect(queue.stats.events - eventsBefore, 'events handled').toBeLessThanOrEqual(notifies + 1);
  const batches = queue.stats.txBatches;
  await world.settle(4);
  expect(queue.stats.txBatches, 'the queue kept working with nothing to do').toBe(batches);
  world.assertVictimsUntouched();
  // frames that reached the hostile vif's interface are whole Ethernet frames under 64 KiB
  for (const frame of world.fromHostile) {
    expect(frame.length).toBeGreaterThanOrEqual(10 + 14);
    expect(frame.length).toBeLessThanOrEqual(10 + 0xFFFF);
  }
  const outcome = world.outcome(dropsBefore);
  if (outcome.kind === 'typed-error') await world.assertHostileStillWorks();
  return outcome;
}
