// Kernel-level fuzz targets: every Wasm entry point that reads guest, TAP or xenstore-derived
// bytes, called the way the host calls it, on one reused instance, with the whole case drawn
// from fuzz input. Each target's oracle: every status is a typed outcome (a drop or a fatal with
// a named code, never a host-misuse status, never a trap); ring responses land only in response
// fields, only for published slots, each slot once and in order, echoing the private copy of the
// request; grant-copy ops stay inside one guest page and inside the region the packet owns; and
// after the case the same instance still serves a known-good request (after a drop or a fatal,
// as after a reconnect). The bench compares every byte outside the target's regions.
// Wire constants are written from netif.h here, not read from the module under test.

import { check, fail, type KernelBench, type Region } from './bench.js';
import { lastFrame, writeFrame } from './frames.js';
import type { FuzzInput } from './input.js';
import { toeplitzReference } from '../../reference/toeplitz.js';
import { internetChecksum } from '../../reference/checksum.js';

export interface KernelTarget {
  name: string;
  /** Input bytes a case reads at most (the random runner's case size). */
  inputSize: number;
  /** Regions the target's entry points (or the harness, standing for the host) may write. */
  writable(b: KernelBench): Region[];
  /** Runs one case; returns its outcome key; throws OracleFailure when the oracle breaks. */
  run(b: KernelBench, input: FuzzInput): string;
}

// ring.h: req_prod @0, req_event @4, rsp_prod @8, rsp_event @12, entries from byte 64.
const REQ_PROD = 0, REQ_EVENT = 4, RSP_PROD = 8, RSP_EVENT = 12, ENTRIES = 64;
// grant-copy op (netif/defs.ts GNTOP_*): gref u32, guest offset u16, len u16, local u32, status s16, flags u16.
const OP_GREF = 0, OP_OFF = 4, OP_LEN = 6, OP_LOCAL = 8, OP_STATUS = 12, OP_FLAGS = 14, OP_SIZE = 16;
const PAGE = 4096;
const NETTXF_MORE_DATA = 0x4, NETTXF_EXTRA_INFO = 0x8;
const RSP_NULL = 1;

/** The host's grant-copy results: mostly okay, sometimes a GNTST_* error, sometimes never executed. */
function copyResult(input: FuzzInput): number {
  const r = input.u8();
  if (r < 224) return 0;
  return r < 240 ? -1 : -input.below(13) - 1;
}

/** Start indices near 0, near 2^32, or anywhere. */
function startIndex(input: FuzzInput): number {
  const r = input.u8();
  return r < 128 ? 0 : r < 200 ? (0xFFFFFF00 + input.u8()) >>> 0 : input.u32();
}

function u32(b: KernelBench, at: number): number { return b.view.getUint32(at, true); }
function u16(b: KernelBench, at: number): number { return b.view.getUint16(at, true); }
function s16(b: KernelBench, at: number): number { return b.view.getInt16(at, true); }

/** A copy of one ring page, kept as the frontend's record of what it wrote. */
class RingRecord {
  static readonly shared = new RingRecord();
  readonly page = new Uint8Array(PAGE);
  take(b: KernelBench, ring: number): void {
    this.page.set(b.bytes.subarray(ring, ring + PAGE));
  }
}

/**
 * The ring page may differ from the record only in the response fields of slots [from, from+count)
 * (byte ranges [lo, hi) of each slot), in rsp_prod and in req_event; the record is then updated.
 */
function checkRingWrites(b: KernelBench, ring: number, rec: RingRecord, slotSize: number, slots: number, from: number, count: number, lo: number, hi: number, what: string): void {
  const m = b.bytes;
  const page = rec.page;
  // what may change is taken from memory into the record; then the page must equal the record
  page.set(m.subarray(ring + REQ_EVENT, ring + REQ_EVENT + 4), REQ_EVENT);
  page.set(m.subarray(ring + RSP_PROD, ring + RSP_PROD + 4), RSP_PROD);
  const n = Math.min(count, slots);
  for (let i = 0; i < n; i++) {
    const at = ENTRIES + (((from + i) >>> 0) & (slots - 1)) * slotSize;
    page.set(m.subarray(ring + at + lo, ring + at + hi), at + lo);
  }
  if (Buffer.from(m.buffer, m.byteOffset + ring, PAGE).equals(Buffer.from(page.buffer, page.byteOffset, PAGE))) return;
  let at = 0;
  while (m[ring + at] === page[at]) at++;
  const slot = Math.floor((at - ENTRIES) / slotSize);
  fail(at < ENTRIES ? `${what}: ring header byte ${at} written` : `${what}: slot ${slot} byte ${(at - ENTRIES) % slotSize} written (${((slot - from) & (slots - 1)) < n ? 'outside the response fields' : 'no response for it'})`);
}

// ---------------------------------------------------------------------------------------------
// Guest TX: tx_attach, tx_build over an arbitrary ring page, the host's grant-copy results, tx_commit.

interface TxLayout { ring: number; copy: number; desc: number; ops: number; buf: number; bufSize: number; headroom: number; mcast: number }

function txLayout(b: KernelBench): TxLayout {
  return {
    ring: b.c('TX_RING_OFFSET'), copy: b.c('TX_REQ_COPY_OFFSET'), desc: b.c('TX_PKT_DESC_OFFSET'), ops: b.c('TX_OPS_OFFSET'),
    buf: b.c('TX_BUF_OFFSET'), bufSize: b.c('TX_BUF_SIZE'), headroom: b.c('PKT_HEADROOM'), mcast: b.c('MCAST_LIST_OFFSET'),
  };
}

/** A request's fields: a size that mostly fits a page at an offset that mostly keeps it there. */
function txRequest(b: KernelBench, at: number, input: FuzzInput, flags: number, size: number, id: number, own = Math.min(size, 4096)): void {
  const v = b.view;
  const offset = input.chance(250) ? input.below(Math.max(1, 4097 - own)) : input.chance(128) ? input.below(4200) : input.u16();
  v.setUint32(at, input.chance(240) ? input.below(16) : input.u32(), true);
  v.setUint16(at + 4, offset & 0xFFFF, true);
  v.setUint16(at + 6, flags & 0xFFFF, true);
  v.setUint16(at + 8, id & 0xFFFF, true);
  v.setUint16(at + 10, size & 0xFFFF, true);
}

function txSlotSize(input: FuzzInput): number {
  return input.chance(160) ? input.pick([0, 1, 13, 14, 60, 128, 1514, 4096]) + (input.chance(16) ? input.below(64) : 0) : input.chance(240) ? input.below(4097) : input.u16();
}

/**
 * Writes about `n` request slots from `start` as packets a hostile frontend could write: a first
 * request declaring (usually) its own bytes plus its followers', extras (GSO, MCAST, HASH, XDP,
 * garbage), followers (sometimes more than netback takes), or raw bytes. Returns the slots written.
 */
function writeTxSlots(b: KernelBench, ring: number, start: number, n: number, input: FuzzInput): number {
  const slot = (i: number) => ring + ENTRIES + (((start + i) >>> 0) & 255) * 12;
  let i = 0;
  // sometimes a burst of MCAST_ADD packets (a request and its extra each) that fills the 64-entry list
  if (input.chance(3)) {
    for (let k = 60 + input.below(16); k > 0 && i + 2 <= n; k--) {
      txRequest(b, slot(i++), input, NETTXF_EXTRA_INFO, 0, i);
      const at = slot(i++);
      b.bytes[at] = 2; b.bytes[at + 1] = 0;
      for (let m = 0; m < 6; m++) b.bytes[at + 2 + m] = m === 5 ? input.u8() : 0x01;
    }
  }
  while (i < n) {
    if (input.chance(8)) { input.fill(b.bytes, slot(i++), 12); continue; }
    const extras = input.chance(200) ? 0 : 1 + input.below(3);
    const followers = input.chance(140) ? 0 : input.chance(230) ? 1 + input.below(5) : 15 + input.below(10);
    const sizes: number[] = [];
    for (let f = 0; f < followers; f++) sizes.push(txSlotSize(input));
    const own = txSlotSize(input);
    const declared = input.chance(245) ? (Math.min(own, 4096) + sizes.reduce((a, x) => a + x, 0)) & 0xFFFF : input.u16();
    const flags = (input.u8() & 0x3) | (followers > 0 ? NETTXF_MORE_DATA : 0) | (extras > 0 ? NETTXF_EXTRA_INFO : 0) | (input.chance(4) ? input.u16() & ~0xC : 0);
    txRequest(b, slot(i++), input, flags, declared, input.chance(128) ? i : input.u16(), Math.min(own, 4096));
    for (let e = 0; e < extras; e++) {
      const at = slot(i++);
      const type = input.chance(16) ? input.u8() : input.pick([1, 1, 2, 3, 4, 5]);
      const more = e < extras - 1 || input.chance(8);
      b.bytes[at] = type;
      b.bytes[at + 1] = (more ? 1 : 0) | (input.chance(8) ? input.u8() & ~1 : 0);
      if (type === 1) {
        b.view.setUint16(at + 2, input.chance(16) ? input.u16() : 1 + input.below(9000), true);
        b.bytes[at + 4] = input.chance(16) ? input.u8() : input.pick([1, 2]);
        b.bytes[at + 5] = 0;
        b.view.setUint16(at + 6, 0, true);
      } else if (type === 2 || type === 3) {
        // a small set of MACs, so a DEL finds what an ADD put in
        const mac = input.below(4);
        for (let k = 0; k < 6; k++) b.bytes[at + 2 + k] = k === 5 ? mac : 0x01;
      } else {
        input.fill(b.bytes, at + 2, 6);
        // a HASH extra names a known hash type (0-3) most of the time
        if (type === 4 && input.chance(200)) b.bytes[at + 2] = input.below(4);
      }
      b.view.setUint32(at + 8, input.u32(), true);
    }
    for (let f = 0; f < followers; f++) {
      const more = f < followers - 1 ? NETTXF_MORE_DATA : 0;
      txRequest(b, slot(i++), input, (input.u8() & 0x3) | more, sizes[f]!, input.chance(128) ? i : input.u16());
    }
  }
  return i;
}

/** The plan and descriptors tx_build wrote for `consumed` slots from `cons`. */
function checkTxPlan(b: KernelBench, l: TxLayout, rec: RingRecord, cons: number, consumed: number, ops: number, pkts: number): void {
  const m = b.bytes;
  check(ops <= consumed && pkts <= consumed, `tx_build: ${ops} ops, ${pkts} packets for ${consumed} slots`);
  // the private copies are what the frontend wrote (no one rewrites the ring in this target)
  for (let pos = 0; pos < consumed; pos++) {
    const c = l.copy + pos * 16;
    const r = ENTRIES + (((cons + pos) >>> 0) & 255) * 12;
    for (let k = 0; k < 12; k++) check(m[c + k] === rec.page[r + k], () => `tx_build: copy of slot ${pos} byte ${k} differs from the ring`);
  }
  const bufEnd = l.buf + l.bufSize;
  const opUsed = new Uint8Array(ops);
  for (let p = 0; p < pkts; p++) {
    const d = l.desc + p * 32;
    const data = u32(b, d), len = u32(b, d + 4);
    const firstSlot = u16(b, d + 20), slotCount = u16(b, d + 22), firstOp = u16(b, d + 24), opCount = u16(b, d + 26);
    check(data - l.headroom >= l.buf && data + len <= bufEnd && len <= 0xFFFF && len >= 14, `tx_build: packet ${p} at ${data}+${len} outside TX_BUF`);
    check(firstSlot + slotCount <= consumed && slotCount >= 1, `tx_build: packet ${p} slots ${firstSlot}+${slotCount} beyond the ${consumed} consumed`);
    check(firstOp + opCount <= ops && opCount >= 1, `tx_build: packet ${p} ops ${firstOp}+${opCount} beyond the ${ops} planned`);
    let at = data;
    for (let o = firstOp; o < firstOp + opCount; o++) {
      const op = l.ops + o * OP_SIZE;
      check(opUsed[o] === 0, `tx_build: op ${o} in two packets`);
      opUsed[o] = 1;
      const off = u16(b, op + OP_OFF), olen = u16(b, op + OP_LEN);
      check(olen >= 1 && off + olen <= PAGE, `tx_build: op ${o} copies ${olen} bytes at page offset ${off} (crosses its page)`);
      check(u32(b, op + OP_LOCAL) === at, `tx_build: op ${o} lands at ${u32(b, op + OP_LOCAL)}, not at ${at} where the packet continues`);
      check(s16(b, op + OP_STATUS) === -1 && u16(b, op + OP_FLAGS) === 0, `tx_build: op ${o} not marked unexecuted guest-to-local`);
      // the op names a grant and offset of one of the packet's own slots (from the private copy)
      let found = false;
      for (let s = firstSlot; s < firstSlot + slotCount && !found; s++) {
        const c = l.copy + s * 16;
        found = u32(b, c) === u32(b, op + OP_GREF) && u16(b, c + 4) === off;
      }
      check(found, `tx_build: op ${o} names a grant no slot of its packet carries`);
      at += olen;
    }
    check(at - data === len, `tx_build: packet ${p} ops copy ${at - data} bytes, its first slot declares ${len}`);
  }
  for (let o = 0; o < ops; o++) check(opUsed[o] === 1, `tx_build: op ${o} belongs to no packet`);
}

function checkTxResponses(b: KernelBench, l: TxLayout, rec: RingRecord, cons: number, consumed: number, pkts: number, what: string): void {
  const ring = l.ring;
  const statusOf = (pos: number) => s16(b, ring + ENTRIES + (((cons + pos) >>> 0) & 255) * 12 + 2);
  for (let pos = 0; pos < consumed; pos++) {
    const at = ring + ENTRIES + (((cons + pos) >>> 0) & 255) * 12;
    const status = s16(b, at + 2);
    check(status >= -2 && status <= 1, `${what}: response ${pos} status ${status}`);
    const recAt = at - ring;
    if (status !== RSP_NULL) check(u16(b, at) === (rec.page[recAt + 8]! | (rec.page[recAt + 9]! << 8)), `${what}: response ${pos} id ${u16(b, at)} is not its request's id`);
    else check(b.bytes[at] === rec.page[recAt] && b.bytes[at + 1] === rec.page[recAt + 1], `${what}: a NULL response rewrote the extra record`);
  }
  // a packet whose copies all succeeded is OKAY on its first slot, one with a failed copy ERROR
  for (let p = 0; p < pkts; p++) {
    const d = l.desc + p * 32;
    const firstOp = u16(b, d + 24), opCount = u16(b, d + 26);
    let failed = false;
    for (let o = firstOp; o < firstOp + opCount; o++) failed ||= s16(b, l.ops + o * OP_SIZE + OP_STATUS) < 0;
    check(statusOf(u16(b, d + 20)) === (failed ? -1 : 0), `${what}: packet ${p} answered ${statusOf(u16(b, d + 20))} with ${failed ? 'a failed' : 'every'} copy ${failed ? '' : 'okay'}`);
  }
  checkRingWrites(b, ring, rec, 12, 256, cons, consumed, 0, 4, what);
}

/** After a drop or a fatal, a reconnect (attach) and one plain packet must work. */
function txCanary(b: KernelBench, l: TxLayout): void {
  const v = b.view;
  const start = 0x1000;
  v.setUint32(l.ring + RSP_PROD, start, true);
  const at = l.ring + ENTRIES + (start & 255) * 12;
  v.setUint32(at, 7, true); v.setUint16(at + 4, 100, true); v.setUint16(at + 6, 0, true); v.setUint16(at + 8, 0xBEEF, true); v.setUint16(at + 10, 60, true);
  v.setUint32(l.ring + REQ_PROD, start + 1, true);
  check(b.fn('tx_attach')() === 0, 'canary: tx_attach failed on a clean ring');
  check(b.fn('tx_build')(256, 0xFFFFFFFF, 20) === 1 && b.fn('tx_op_count')() === 1, 'canary: a plain packet was not built after the case');
  v.setInt16(l.ops + OP_STATUS, 0, true);
  check(b.fn('tx_commit')() >= 0 && u16(b, at) === 0xBEEF && s16(b, at + 2) === 0 && u32(b, l.ring + RSP_PROD) === start + 1, 'canary: the plain packet was not answered OKAY');
}

export const txTarget: KernelTarget = {
  name: 'kernel_tx',
  inputSize: 4096,
  writable: (b) => [
    b.region('TX_RING'), b.region('QUEUE_STATE'), b.region('COUNTERS'), b.region('MCAST_LIST'),
    b.region('TX_REQ_COPY'), b.region('TX_PKT_DESC'), { name: 'TX_OPS', start: b.c('TX_OPS_OFFSET'), size: b.c('TX_OPS_SIZE') },
  ],
  run(b, input) {
    const l = txLayout(b);
    const v = b.view;
    const start = startIndex(input);
    const n = writeTxSlots(b, l.ring, start, input.chance(200) ? 1 + input.below(24) : input.below(280), input);
    const r = input.u8();
    let published = r < 200 ? Math.min(n, 256) : r < 230 ? input.below(n + 1) : input.u32();
    v.setUint32(l.ring + RSP_PROD, start, true);
    v.setUint32(l.ring + REQ_PROD, (start + published) >>> 0, true);
    v.setUint32(l.ring + REQ_EVENT, input.u32(), true);
    v.setUint32(l.ring + RSP_EVENT, input.chance(128) ? (start + 1) >>> 0 : input.u32(), true);
    const rec = RingRecord.shared;
    rec.take(b, l.ring);
    const attached = b.fn('tx_attach')();
    if (attached < 0) {
      check(published > 256, `tx_attach refused ${published} published slots`);
      const outcome = b.outcome(attached, 'tx_attach');
      checkRingWrites(b, l.ring, rec, 12, 256, start, 0, 0, 0, 'tx_attach');
      txCanary(b, l);
      return outcome;
    }
    check(published <= 256, `tx_attach accepted ${published} published slots`);
    let outcome = 'ok';
    let cons = start;
    for (let batch = 0; batch < 3; batch++) {
      const maxPackets = input.chance(200) ? 256 : 1 + input.below(256);
      const credit = input.chance(220) ? 0xFFFFFFFF : input.u32();
      const fatalSlots = input.chance(220) ? 20 : input.u8();
      // the frontend moves req_prod after the attach: past a ring's worth of unconsumed slots, anywhere
      if (input.chance(8)) {
        published = ((cons - start) + (input.chance(128) ? 257 + input.below(0x10000) : input.u32())) >>> 0;
        v.setUint32(l.ring + REQ_PROD, (start + published) >>> 0, true);
        rec.page.set(b.bytes.subarray(l.ring + REQ_PROD, l.ring + REQ_PROD + 4), REQ_PROD);
      }
      const overflow = ((published - (cons - start)) >>> 0) > 256;
      const built = b.fn('tx_build')(maxPackets, credit, fatalSlots);
      const consumed = b.fn('tx_slots_consumed')();
      const ops = b.fn('tx_op_count')();
      const pkts = b.fn('tx_packet_count')();
      check(!overflow || built === b.c('STATUS_FATAL_RING_OVERFLOW'), `tx_build returned ${built} with ${(published - (cons - start)) >>> 0} slots unconsumed`);
      // host misuse: a second build before the commit is refused and changes nothing (a disabled queue says so first)
      if (input.chance(6)) {
        const again = b.fn('tx_build')(maxPackets, credit, fatalSlots);
        check(again === (built < 0 ? b.c('STATUS_FATAL_DISABLED') : b.c('STATUS_BAD_STATE')), `a second tx_build returned ${again} after ${built}`);
        check(b.fn('tx_slots_consumed')() === consumed && b.fn('tx_op_count')() === ops && b.fn('tx_packet_count')() === pkts, 'a refused tx_build changed the batch');
      }
      check(consumed <= ((published - (cons - start)) >>> 0) && consumed <= 256, `tx_build consumed ${consumed} slots, ${published} published`);
      check(built < 0 || built === pkts, `tx_build returned ${built} for ${pkts} packets`);
      check(pkts <= maxPackets, `tx_build built ${pkts} packets, at most ${maxPackets} asked`);
      check(b.fn('tx_req_cons')() >>> 0 === (cons + consumed) >>> 0 && b.fn('tx_rsp_prod_pvt')() >>> 0 === cons, 'tx_build: req_cons / rsp_prod_pvt shadows disagree with the slots consumed');
      check(credit === 0xFFFFFFFF || b.fn('tx_credit_used')() >>> 0 <= credit, `tx_build debited ${b.fn('tx_credit_used')() >>> 0} bytes of a ${credit}-byte credit`);
      check(b.fn('tx_mcast_edits')() <= consumed, 'tx_build: more multicast edits than slots');
      checkTxPlan(b, l, rec, cons, consumed, ops, pkts);
      if (built < 0) outcome = b.outcome(built, 'tx_build');
      else if (b.fn('tx_drops')() > 0 && outcome === 'ok') outcome = 'drop';
      for (let o = 0; o < ops; o++) v.setInt16(l.ops + o * OP_SIZE + OP_STATUS, copyResult(input), true);
      const rspBefore = u32(b, l.ring + RSP_PROD);
      const committed = b.fn('tx_commit')();
      check(committed >= 0 && committed <= 3, `tx_commit returned ${committed}`);
      check(u32(b, l.ring + RSP_PROD) === (consumed === 0 ? rspBefore : (cons + consumed) >>> 0), `tx_commit: rsp_prod ${u32(b, l.ring + RSP_PROD)} after answering ${consumed} from ${cons}`);
      checkTxResponses(b, l, rec, cons, consumed, pkts, `batch ${batch}`);
      cons = (cons + consumed) >>> 0;
      // an ordinary host re-reads the frontend's extra requests only while the kernel says more are pending
      if (built < 0 || (committed & 2) === 0) break;
      check(consumed > 0 || b.fn('tx_credit_blocked')() > 0 || pkts === maxPackets, 'tx_commit says more is pending after a batch that consumed nothing');
    }
    // host misuse: a commit with no batch built is refused and answers nothing
    if (input.chance(8)) {
      check(b.fn('tx_commit')() === b.c('STATUS_BAD_STATE'), 'tx_commit without a batch was not refused');
      checkRingWrites(b, l.ring, rec, 12, 256, cons, 0, 0, 0, 'tx_commit without a batch');
    }
    // a fatal disables the queue until the next attach: a build says so and reads nothing
    if (outcome.startsWith('fatal')) check(b.fn('tx_build')(256, 0xFFFFFFFF, 20) === b.c('STATUS_FATAL_DISABLED'), 'tx_build on a disabled queue');
    const mcastCount = b.fn('mcast_count')();
    check(mcastCount >= 0 && mcastCount <= 64, `multicast list holds ${mcastCount} entries`);
    for (let i = 0; i < 64; i++) {
      const e = l.mcast + i * 8;
      check(u16(b, e + 6) === 0 && (i < mcastCount || (u32(b, e) === 0 && u16(b, e + 4) === 0)), `multicast entry ${i} of ${mcastCount} malformed`);
    }
    if (outcome === 'ok' && b.fn('mcast_count')() > 0) outcome = 'ok:mcast';
    txCanary(b, l);
    return outcome;
  },
};

// ---------------------------------------------------------------------------------------------
// Guest RX: vnet_to_netif on an arbitrary virtio_net_hdr, tso_segment when asked, rx_pack against
// arbitrary RX requests (ids, grefs, producer jumps, XDP headroom), the host's copy results, rx_commit.

interface RxLayout { ring: number; stage: number; ops: number; buf: number; bufSize: number; seg: number; segSize: number; segDesc: number; out: number }

function rxLayout(b: KernelBench): RxLayout {
  return {
    ring: b.c('RX_RING_OFFSET'), stage: b.c('RX_SLOT_STAGE_OFFSET'), ops: b.c('RX_OPS_OFFSET'), buf: b.c('RX_BUF_OFFSET'), bufSize: b.c('RX_BUF_SIZE'),
    seg: b.c('SEG_BUF_OFFSET'), segSize: b.c('SEG_BUF_SIZE'), segDesc: b.c('SEG_DESC_OFFSET'), out: b.c('QUEUE_STATE_OFFSET') + b.c('QS_VNET_OUT'),
  };
}

class RxCase {
  rspSeen: number;
  opsChecked = 0;
  slotsPacked = 0;
  constructor(readonly b: KernelBench, readonly l: RxLayout, readonly rec: RingRecord, readonly start: number, readonly published: number, readonly headroom: number) {
    this.rspSeen = start;
  }

  /** rx_pack placed one frame: its ops copy exactly [frame, frame+len) into the posted pages at the headroom. */
  checkPack(used: number, frame: number, len: number, reqConsBefore: number): void {
    const b = this.b;
    const ops = b.fn('rx_op_count')();
    const dataSlots = Math.ceil(len / (PAGE - this.headroom));
    check(ops - this.opsChecked === dataSlots, `rx_pack: ${ops - this.opsChecked} ops for a ${len}-byte frame (${dataSlots} data slots)`);
    check(used >= dataSlots && used <= dataSlots + 3, `rx_pack used ${used} slots for ${dataSlots} data slots`);
    let at = frame;
    let slot = 0;
    for (let o = this.opsChecked; o < ops; o++) {
      const op = this.l.ops + o * OP_SIZE;
      const olen = u16(b, op + OP_LEN);
      check(u16(b, op + OP_FLAGS) === 1 && u16(b, op + OP_OFF) === this.headroom && olen >= 1 && this.headroom + olen <= PAGE, `rx_pack: op ${o} writes ${olen} bytes at page offset ${u16(b, op + OP_OFF)}`);
      check(u32(b, op + OP_LOCAL) === at, `rx_pack: op ${o} reads from ${u32(b, op + OP_LOCAL)}, the frame continues at ${at}`);
      // the op's grant is the private copy of a request this frame consumed, as the frontend wrote it
      let found = false;
      for (; slot < used && !found; slot++) {
        const index = (reqConsBefore + slot) >>> 0;
        const s = this.l.stage + (index & 255) * 16;
        found = u16(b, s + 2) === o;
        if (found) {
          const r = ENTRIES + (index & 255) * 8;
          check(u32(b, s + 4) === u32(b, op + OP_GREF) && u16(b, s) === (this.rec.page[r]! | (this.rec.page[r + 1]! << 8)) &&
            u32(b, s + 4) === ((this.rec.page[r + 4]! | (this.rec.page[r + 5]! << 8) | (this.rec.page[r + 6]! << 16) | (this.rec.page[r + 7]! << 24)) >>> 0),
          `rx_pack: op ${o} or its staged request differs from what the frontend posted at ${index}`);
        }
      }
      check(found, `rx_pack: op ${o} belongs to no slot of its frame`);
      at += olen;
    }
    check(at - frame === len, `rx_pack: ops copy ${at - frame} of ${len} bytes`);
    this.opsChecked = ops;
    this.slotsPacked += used;
  }

  commit(input: FuzzInput): void {
    const b = this.b;
    const ops = b.fn('rx_op_count')();
    for (let o = 0; o < ops; o++) b.view.setInt16(this.l.ops + o * OP_SIZE + OP_STATUS, copyResult(input), true);
    const r = b.fn('rx_commit')();
    check(r === 0 || r === 1, `rx_commit returned ${r}`);
    const rsp = u32(b, this.l.ring + RSP_PROD);
    const fresh = (rsp - this.rspSeen) >>> 0;
    check(fresh === this.slotsPacked, `rx_commit published ${fresh} responses for ${this.slotsPacked} slots packed`);
    // Linux reads req_prod - req_cons unsigned: every slot up to req_prod counts as posted
    check(((rsp - this.start) >>> 0) <= this.published, `rx_commit answered ${(rsp - this.start) >>> 0} slots, ${this.published} posted`);
    let extraNext = false;
    for (let i = 0; i < fresh; i++) {
      const index = (this.rspSeen + i) >>> 0;
      const at = this.l.ring + ENTRIES + (index & 255) * 8;
      if (extraNext) {
        const type = b.bytes[at]!, flags = b.bytes[at + 1]!;
        check((type === 1 || type === 4 || type === 5) && (flags & ~1) === 0, `RX extra ${index}: type ${type} flags ${flags}`);
        if (type === 1) check(u16(b, at + 2) > 0 && (b.bytes[at + 4] === 1 || b.bytes[at + 4] === 2), `RX GSO extra ${index} invalid`);
        extraNext = (flags & 1) !== 0;
        continue;
      }
      const r8 = ENTRIES + (index & 255) * 8;
      const status = s16(b, at + 6), flags = u16(b, at + 4);
      check(u16(b, at) === (this.rec.page[r8]! | (this.rec.page[r8 + 1]! << 8)), `RX response ${index}: id ${u16(b, at)} is not its request's`);
      check(u16(b, at + 2) === 0 && (flags & ~0xF) === 0, `RX response ${index}: offset ${u16(b, at + 2)} flags ${flags}`);
      check(status < 0 ? status >= -13 : status > this.headroom && status <= PAGE, `RX response ${index}: status ${status} (headroom ${this.headroom})`);
      extraNext = (flags & 0x8) !== 0;
    }
    checkRingWrites(b, this.l.ring, this.rec, 8, 256, this.rspSeen, fresh, 0, 8, 'rx_commit');
    this.rspSeen = rsp;
    this.opsChecked = 0;
    this.slotsPacked = 0;
  }
}

const FRONTEND_ALL = 0x1F;
const VNET_OUT = { flags: 0, gsoType: 2, segment: 3, gsoSize: 4 };

/** The frame bytes may change only in [allowedAt, allowedAt + 2) (a checksum field), if anywhere. */
function checkFrameWrites(b: KernelBench, frame: number, copy: Uint8Array, len: number, allowedAt: number, what: string): void {
  const m = b.bytes;
  for (let i = 0; i < len; i++) {
    if (m[frame + i] !== copy[i] && (frame + i < allowedAt || frame + i >= allowedAt + 2)) fail(`${what}: frame byte ${i} written (the checksum field is at ${allowedAt - frame})`);
  }
}

const frameCopy = new Uint8Array(70000);

function rxCanary(b: KernelBench, l: RxLayout): void {
  const v = b.view;
  v.setUint32(l.ring + RSP_PROD, 0x2000, true);
  v.setUint32(l.ring + REQ_PROD, 0x2001, true);
  const at = l.ring + ENTRIES + (0x2000 & 255) * 8;
  v.setUint16(at, 0xCAFE, true); v.setUint32(at + 4, 9, true);
  check(b.fn('rx_attach')() === 0, 'canary: rx_attach failed on a clean ring');
  const frame = l.buf;
  b.bytes.fill(0x5A, frame, frame + 60);
  check(b.fn('rx_pack')(frame, 60, 0, 0, 0, 0xFFFFFFFF, 0) === 1, 'canary: a plain frame was not packed after the case');
  v.setInt16(l.ops + OP_STATUS, 0, true);
  b.fn('rx_commit')();
  check(u16(b, at) === 0xCAFE && s16(b, at + 6) === 60 && u32(b, l.ring + RSP_PROD) === 0x2001, 'canary: the plain frame was not answered');
}

/**
 * Host misuse of rx_pack: one argument out of range (a flag, GSO or hash type, GSO size, a frame
 * outside the guest-RX frame buffers, a GSO type without a size). Refused, nothing consumed or planned.
 */
function rxPackMisuse(b: KernelBench, l: RxLayout, frame: number, len: number, flags: number, input: FuzzInput): void {
  const args = [frame, len, flags, 0, 0, 0xFFFFFFFF, 0];
  const kind = input.below(6);
  if (kind === 0) args[2] = flags | (4 << input.below(29));
  else if (kind === 1) args[3] = 3 + input.below(0xFFFF);
  else if (kind === 2) args[5] = 4 + input.below(0xFFFF);
  else if (kind === 3) { args[3] = 1; args[4] = 0x10000 + input.below(0xFFFF); }
  // (a frame running past RX_BUF's end straddles into SEG_BUF only from 2 bytes on: 1 byte there is SEG_BUF's own)
  else if (kind === 4) args[0] = input.pick([l.ring, b.c('TX_BUF_OFFSET'), b.bytes.length - 8, 0xFFFFFFF0, len >= 2 ? l.buf + l.bufSize - len + 1 : l.ring, l.buf - 1]);
  else { args[3] = 1 + input.below(2); args[4] = 0; }
  const state = b.c('QUEUE_STATE_OFFSET');
  const reqCons = u32(b, state + b.c('QS_RX_REQ_CONS')), ops = b.fn('rx_op_count')(), pkts = b.fn('rx_packet_count')();
  const status = b.fn('rx_pack')(...args);
  check(status === b.c(kind === 5 ? 'STATUS_DROP_GSO_BAD_SIZE' : 'STATUS_BAD_ARGUMENT'), `rx_pack(${args.join(', ')}) returned ${status}`);
  check(u32(b, state + b.c('QS_RX_REQ_CONS')) === reqCons && b.fn('rx_op_count')() === ops && b.fn('rx_packet_count')() === pkts, 'a refused rx_pack consumed or planned');
}

/**
 * The vif's TX ring went fatal (the frontend jumped its TX producer past a ring's worth): the queue
 * is disabled, so rx_pack refuses with FATAL_DISABLED and consumes nothing, until the reconnect's
 * tx_attach (the host's reconnect attaches both rings; the canary attaches RX).
 */
function rxOnADisabledQueue(b: KernelBench, l: RxLayout): void {
  const tx = b.c('TX_RING_OFFSET');
  b.view.setUint32(tx + RSP_PROD, 0, true);
  b.view.setUint32(tx + REQ_PROD, 0, true);
  check(b.fn('tx_attach')() === 0, 'tx_attach on an empty TX ring');
  b.view.setUint32(tx + REQ_PROD, 300, true);
  check(b.fn('tx_build')(256, 0xFFFFFFFF, 20) === b.c('STATUS_FATAL_RING_OVERFLOW'), 'tx_build of an overflowing ring');
  const reqCons = u32(b, b.c('QUEUE_STATE_OFFSET') + b.c('QS_RX_REQ_CONS'));
  b.bytes.fill(0x5A, l.buf, l.buf + 60);
  check(b.fn('rx_pack')(l.buf, 60, 0, 0, 0, 0xFFFFFFFF, 0) === b.c('STATUS_FATAL_DISABLED'), 'rx_pack on a disabled queue');
  check(u32(b, b.c('QUEUE_STATE_OFFSET') + b.c('QS_RX_REQ_CONS')) === reqCons, 'rx_pack on a disabled queue consumed requests');
  b.view.setUint32(tx + REQ_PROD, 0, true);
  check(b.fn('tx_attach')() === 0, 'tx_attach after the fatal');
}

export const rxTarget: KernelTarget = {
  name: 'kernel_rx',
  inputSize: 4096,
  writable: (b) => [
    b.region('TX_RING'), b.region('RX_RING'), b.region('QUEUE_STATE'), b.region('COUNTERS'), b.region('RX_SLOT_STAGE'), b.region('RX_PKT_DESC'),
    { name: 'RX_OPS', start: b.c('RX_OPS_OFFSET'), size: b.c('RX_OPS_SIZE') }, b.region('RX_BUF'), b.region('SEG_BUF'), b.region('SEG_DESC'),
  ],
  run(b, input) {
    const l = rxLayout(b);
    const v = b.view;
    const start = startIndex(input);
    let posted = input.chance(220) ? input.below(64) : input.chance(128) ? input.below(257) : input.u32();
    for (let i = 0; i < Math.min(posted, 256); i++) {
      const at = l.ring + ENTRIES + (((start + i) >>> 0) & 255) * 8;
      v.setUint16(at, input.chance(160) ? i : input.u16(), true);
      v.setUint16(at + 2, input.u16(), true);
      v.setUint32(at + 4, input.chance(240) ? 1 + input.below(64) : input.u32(), true);
    }
    v.setUint32(l.ring + RSP_PROD, start, true);
    v.setUint32(l.ring + REQ_PROD, (start + posted) >>> 0, true);
    v.setUint32(l.ring + REQ_EVENT, input.u32(), true);
    v.setUint32(l.ring + RSP_EVENT, input.chance(128) ? (start + 1) >>> 0 : input.u32(), true);
    const rec = RingRecord.shared;
    rec.take(b, l.ring);
    const attached = b.fn('rx_attach')();
    if (attached < 0) {
      check(posted > 256, `rx_attach refused ${posted} posted requests`);
      rxCanary(b, l);
      return b.outcome(attached, 'rx_attach');
    }
    check(posted <= 256, `rx_attach accepted ${posted} posted requests`);
    check(b.fn('rx_pending_requests')() === Math.min(posted, 256), `rx_pending_requests ${b.fn('rx_pending_requests')()} for ${posted} posted`);
    const wanted = input.below(24);
    check(b.fn('rx_slots_available')(wanted) === (posted >= wanted ? 1 : 0), `rx_slots_available(${wanted}) with ${posted} posted`);
    const probeLen = input.u16() + (input.chance(16) ? input.u16() : 0);
    const needed = b.fn('rx_slots_needed')(probeLen, input.below(3), input.below(2));
    check(needed >= Math.ceil(probeLen / 4096) && needed <= Math.ceil(probeLen / 4096) + 2, `rx_slots_needed(${probeLen}) = ${needed}`);
    v.setUint32(l.ring + REQ_EVENT, rec.page[REQ_EVENT]! | (rec.page[REQ_EVENT + 1]! << 8) | (rec.page[REQ_EVENT + 2]! << 16) | (rec.page[REQ_EVENT + 3]! << 24), true);
    // the frontend moves req_prod after the attach: more than a ring's worth posted, or anywhere
    // (Linux's RX path takes it as posted; only the room left by unpushed responses bounds a pass)
    if (input.chance(8)) {
      posted = input.chance(128) ? 257 + input.below(0x10000) : input.u32();
      v.setUint32(l.ring + REQ_PROD, (start + posted) >>> 0, true);
      rec.page.set(b.bytes.subarray(l.ring + REQ_PROD, l.ring + REQ_PROD + 4), REQ_PROD);
      check(b.fn('rx_pending_requests')() === Math.min(posted, 256), `rx_pending_requests ${b.fn('rx_pending_requests')()} for ${posted} posted after the attach`);
    }
    const headroomIn = input.chance(230) ? 0 : input.chance(128) ? input.below(300) : input.chance(128) ? input.below(4096) : input.u16();
    b.fn('rx_set_headroom')(headroomIn);
    const headroom = Math.min(headroomIn, 0x7FFF);
    const features = input.chance(200) ? input.pick([0, 0x1F, 0x13, 0x3]) : input.u8() & FRONTEND_ALL;
    const rx = new RxCase(b, l, rec, start, posted, headroom);
    let outcome = 'ok';
    const drop = (o: string) => { if (outcome === 'ok' || outcome === 'no-space') outcome = o; };
    const frames = 1 + input.below(6);
    for (let f = 0; f < frames; f++) {
      const hdr = l.buf;
      const frame = l.buf + 16;
      const len = writeFrame(b.bytes, frame, l.bufSize - 16, input);
      // virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
      b.bytes[hdr] = input.chance(200) ? input.pick([0, 1, 2]) : input.u8();
      b.bytes[hdr + 1] = input.chance(220) ? input.pick([0, 0, 0, 0, 1, 4, 1 | 0x80, 4]) : input.u8();
      v.setUint16(hdr + 2, input.u16(), true);
      v.setUint16(hdr + 4, input.chance(200) ? input.pick([0, 1, 8, 536, 1448, 9000]) : input.u16(), true);
      v.setUint16(hdr + 6, input.chance(200) ? lastFrame.l4 : input.u16(), true);
      v.setUint16(hdr + 8, input.chance(200) ? lastFrame.csumOffset : input.u16(), true);
      frameCopy.set(b.bytes.subarray(frame, frame + len));
      const mapped = b.fn('vnet_to_netif')(hdr, frame, len, features, l.out);
      const info = b.c('QUEUE_STATE_OFFSET') + b.c('QS_OFFLOAD_INFO');
      // the checksum field of the headers this call parsed (a dropped GSO frame may keep its repaired pseudo sum)
      checkFrameWrites(b, frame, frameCopy, len, frame + u16(b, info + 2) + u16(b, info + 10), 'vnet_to_netif');
      if (mapped < 0) { drop(b.outcome(mapped, 'vnet_to_netif')); continue; }
      const outFlags = u16(b, l.out + VNET_OUT.flags);
      const gsoType = b.bytes[l.out + VNET_OUT.gsoType]!;
      const gsoSize = u16(b, l.out + VNET_OUT.gsoSize);
      check((outFlags & ~0x3) === 0 && gsoType <= 2 && (gsoType === 0 || gsoSize > 0), `vnet_to_netif: out flags ${outFlags} gso ${gsoType}/${gsoSize}`);
      const pktFlags = (outFlags & 0x2 ? 1 : 0) | (outFlags & 0x1 ? 2 : 0);
      const pack = (addr: number, plen: number, gso: number, size: number): boolean => {
        const hashType = input.chance(200) ? 0xFFFFFFFF : input.below(4);
        const reqCons = u32(b, b.c('QUEUE_STATE_OFFSET') + b.c('QS_RX_REQ_CONS'));
        let used = b.fn('rx_pack')(addr, plen, pktFlags, gso, size, hashType, input.u32());
        if (used === b.c('STATUS_NO_SPACE')) {
          rx.commit(input);
          used = b.fn('rx_pack')(addr, plen, pktFlags, gso, size, hashType, input.u32());
        }
        if (used < 0) {
          check(u32(b, b.c('QUEUE_STATE_OFFSET') + b.c('QS_RX_REQ_CONS')) === reqCons, 'rx_pack consumed requests and failed');
          drop(used === b.c('STATUS_NO_SPACE') ? 'no-space' : b.outcome(used, 'rx_pack'));
          return false;
        }
        rx.checkPack(used, addr, plen, reqCons);
        check(b.fn('rx_packet_count')() >= 1, 'rx_packet_count after a pack');
        return true;
      };
      if (input.chance(8) && len >= 1 && len <= 0xFFFF) rxPackMisuse(b, l, frame, len, pktFlags, input);
      if (b.bytes[l.out + VNET_OUT.segment] === 1) {
        frameCopy.set(b.bytes.subarray(frame, frame + len));
        let resume = 0;
        for (let round = 0; round < 64; round++) {
          const count = b.fn('tso_segment')(frame, len, gsoType, gsoSize, resume);
          checkFrameWrites(b, frame, frameCopy, len, -2, 'tso_segment');
          if (count < 0) { drop(b.outcome(count, 'tso_segment')); break; }
          check(count >= 1 && count <= 512, `tso_segment made ${count} segments`);
          for (let s = 0; s < count; s++) {
            const addr = u32(b, l.segDesc + s * 8), slen = u32(b, l.segDesc + s * 8 + 4);
            check(addr >= l.seg && addr + slen <= l.seg + l.segSize && slen <= 0xFFFF, `tso_segment: segment ${s} at ${addr}+${slen} outside SEG_BUF`);
            if (!pack(addr, slen, 0, 0)) break;
          }
          resume = b.fn('tso_resume_offset')();
          if (resume === 0) break;
        }
      } else {
        pack(frame, len, gsoType, gsoSize);
      }
    }
    rx.commit(input);
    if (input.chance(4)) rxOnADisabledQueue(b, l);
    rxCanary(b, l);
    return outcome;
  },
};

// ---------------------------------------------------------------------------------------------
// Control ring: ctrl_attach, ctrl_process / grant copy / ctrl_commit over arbitrary requests and
// copied pages, then flow_hash and select_queue of arbitrary frames under the resulting state.

const CTRL_SLOTS = 128;

export const ctrlTarget: KernelTarget = {
  name: 'kernel_ctrl',
  inputSize: 4096,
  writable: (b) => [b.region('CTRL_RING'), b.region('QUEUE_STATE'), b.region('COUNTERS'), b.region('CTRL_STATE'), b.region('TOEPLITZ_TABLE'), b.region('RX_BUF')],
  run(b, input) {
    const v = b.view;
    const ring = b.c('CTRL_RING_OFFSET');
    const state = b.c('CTRL_STATE_OFFSET');
    const start = startIndex(input);
    const n = input.chance(220) ? input.below(24) : input.below(CTRL_SLOTS + 1);
    for (let i = 0; i < Math.min(n, CTRL_SLOTS); i++) {
      const at = ring + ENTRIES + (((start + i) >>> 0) & (CTRL_SLOTS - 1)) * 16;
      v.setUint16(at, input.u16(), true);
      v.setUint16(at + 2, input.chance(230) ? input.below(12) : input.u16(), true);
      for (let k = 0; k < 3; k++) v.setUint32(at + 4 + 4 * k, input.chance(192) ? input.below(k === 0 ? 64 : 160) : input.u32(), true);
    }
    let published = input.chance(240) ? n : input.u32();
    v.setUint32(ring + RSP_PROD, start, true);
    v.setUint32(ring + REQ_PROD, (start + published) >>> 0, true);
    v.setUint32(ring + REQ_EVENT, input.u32(), true);
    v.setUint32(ring + RSP_EVENT, input.chance(128) ? (start + 1) >>> 0 : input.u32(), true);
    const rec = RingRecord.shared;
    rec.take(b, ring);
    const queues = input.chance(240) ? 1 + input.below(8) : input.u32();
    const attached = b.fn('ctrl_attach')(queues);
    if (queues === 0 || queues > 0xFFFF) {
      // the queue count comes from xenstore through the host, which refuses these first
      check(attached === b.c('STATUS_BAD_ARGUMENT'), `ctrl_attach(${queues}) returned ${attached}`);
      return 'rejected:queues';
    }
    if (attached < 0) {
      check(published > CTRL_SLOTS, `ctrl_attach refused ${published} published requests`);
      return b.outcome(attached, 'ctrl_attach');
    }
    let outcome = 'ok';
    let answered = 0;
    const respond = (what: string) => {
      const rsp = u32(b, ring + RSP_PROD);
      const fresh = (rsp - start - answered) >>> 0;
      check(answered + fresh <= published && fresh <= CTRL_SLOTS, `${what}: ${answered + fresh} responses for ${published} published`);
      for (let i = 0; i < fresh; i++) {
        const index = (start + answered + i) >>> 0;
        const at = ring + ENTRIES + (index & (CTRL_SLOTS - 1)) * 16;
        const r = at - ring;
        check(u16(b, at) === (rec.page[r]! | (rec.page[r + 1]! << 8)) && u16(b, at + 2) === (rec.page[r + 2]! | (rec.page[r + 3]! << 8)), `${what}: response ${index} does not echo its request's id and type`);
        check(u32(b, at + 4) <= 3, `${what}: response ${index} status ${u32(b, at + 4)}`);
      }
      checkRingWrites(b, ring, rec, 16, CTRL_SLOTS, (start + answered) >>> 0, fresh, 0, 12, what);
      answered += fresh;
    };
    for (let step = 0; step < 300; step++) {
      // the frontend moves req_prod after the attach (past a ring's worth, or anywhere)
      const cons = b.fn('ctrl_req_cons')() >>> 0;
      if (input.chance(6)) {
        // forward only, so `published` still bounds what was answered: a ring or less, or beyond
        published = ((cons - start) >>> 0) + (input.chance(128) ? input.below(CTRL_SLOTS + 1) : CTRL_SLOTS + 1 + input.below(0xFFFF0000));
        v.setUint32(ring + REQ_PROD, (start + published) >>> 0, true);
        rec.page.set(b.bytes.subarray(ring + REQ_PROD, ring + REQ_PROD + 4), REQ_PROD);
      }
      const overflow = ((published - (cons - start)) >>> 0) > CTRL_SLOTS;
      const r = b.fn('ctrl_process')();
      check(!overflow || r === b.c('STATUS_FATAL_RING_OVERFLOW'), `ctrl_process returned ${r} with ${(published - (cons - start)) >>> 0} requests unanswered`);
      respond('ctrl_process');
      if (r < 0) { outcome = b.outcome(r, 'ctrl_process'); break; }
      check((r & ~7) === 0, `ctrl_process returned ${r}`);
      if ((r & 1) !== 0) {
        const op = b.fn('ctrl_op_address')();
        check(op === state, 'ctrl_op_address moved');
        const local = u32(b, op + OP_LOCAL), len = u16(b, op + OP_LEN);
        // SET_HASH_KEY lands in the key stage (40 bytes), SET_HASH_MAPPING in the inactive table
        const inKey = local === state + 0x40 && len <= 40;
        const inMapping = local >= state + 0x100 && local + len <= state + 0x100 + 1024 && u16(b, op + OP_OFF) === 0;
        check((inKey || inMapping) && len >= 1, `ctrl_process planned ${len} bytes to ${local}`);
        // host misuse: another pass while the copy is pending is refused
        if (input.chance(8)) check(b.fn('ctrl_process')() === b.c('STATUS_BAD_STATE'), 'ctrl_process with a copy pending was not refused');
        const status = copyResult(input);
        if (status === 0) input.fill(b.bytes, local, len);
        v.setInt16(op + OP_STATUS, status, true);
        const c = b.fn('ctrl_commit')();
        respond('ctrl_commit');
        check(c >= 0 && (c & ~2) === 0, `ctrl_commit returned ${c}`);
        continue;
      }
      if ((r & 4) === 0) break;
    }
    if (outcome === 'ok' && published > 0 && answered === 0) outcome = 'ok:none';
    // host misuse: a commit with no copy pending is refused and answers nothing
    if (input.chance(8)) {
      check(b.fn('ctrl_commit')() === b.c('STATUS_BAD_STATE'), 'ctrl_commit with no copy pending was not refused');
      respond('ctrl_commit without a copy');
    }
    check(b.fn('ctrl_hash_algorithm')() <= 1 && (b.fn('ctrl_hash_flags')() & ~0xF) === 0, 'control ring: hash algorithm or flags out of range');
    check(outcome.startsWith('fatal') || ((b.fn('ctrl_req_cons')() - start) >>> 0) >= answered, 'ctrl_req_cons behind the responses');
    const size = b.fn('ctrl_hash_mapping_size')();
    check(size <= 128, `mapping size ${size}`);
    for (let i = 0; i < size; i++) check(b.fn('ctrl_hash_mapping')(i) < queues, `mapping entry ${i} names queue ${b.fn('ctrl_hash_mapping')(i)} of ${queues}`);
    // steering: flow hash and queue of a few frames
    const buf = b.c('RX_BUF_OFFSET');
    for (let f = input.below(4); f > 0; f--) {
      const len = writeFrame(b.bytes, buf, 4096, input);
      const type = b.fn('flow_hash')(buf, len);
      check(type >= 0 && type <= 4, `flow_hash returned ${type}`);
      const value = b.fn('flow_hash_value')() >>> 0;
      if (type === 4) check(value === 0, 'flow_hash: no hash type but a value');
      // the host may steer over fewer queues than the mapping was checked against (entries fold)
      const over = input.chance(200) ? queues : 1 + input.below(queues);
      const q = b.fn('select_queue')(value, over);
      check(q >= 0 && q < over, `select_queue: ${q} of ${over}`);
    }
    return outcome;
  },
};

// ---------------------------------------------------------------------------------------------
// Guest TX offloads: checksum setup/completion/fill, the virtio_net_hdr for the TAP, TSO.

export const offloadTarget: KernelTarget = {
  name: 'kernel_offload',
  inputSize: 1024,
  writable: (b) => [b.region('TX_BUF'), b.region('QUEUE_STATE'), b.region('COUNTERS'), b.region('SEG_BUF'), b.region('SEG_DESC')],
  run(b, input) {
    const buf = b.c('TX_BUF_OFFSET');
    const hdr = buf;
    const frame = buf + 64;
    const len = writeFrame(b.bytes, frame, 65535, input);
    frameCopy.set(b.bytes.subarray(frame, frame + len));
    const info = b.c('QUEUE_STATE_OFFSET') + b.c('QS_OFFLOAD_INFO');
    const field = () => frame + u16(b, info + 2) + u16(b, info + 10);
    const which = input.below(6);
    let status: number;
    let fn: string;
    if (which === 0) {
      fn = 'csum_setup';
      status = b.fn(fn)(frame, len, input.below(2));
      if (status >= 0) check(b.fn('csum_setup_start')() === u16(b, info + 2) && b.fn('csum_setup_offset')() === u16(b, info + 10), 'csum_setup_start/offset disagree with the parse');
    }
    else if (which === 1) { fn = 'csum_complete'; status = b.fn(fn)(frame, len); }
    else if (which === 2) { fn = 'csum_fill'; status = b.fn(fn)(frame, len); }
    else if (which === 3) {
      fn = 'vnet_from_netif';
      const gsoType = input.chance(128) ? 0 : input.below(3);
      const gsoSize = gsoType === 0 ? 0 : input.chance(200) ? 1 + input.below(9000) : 1 + input.below(0xFFFF);
      status = b.fn(fn)(frame, len, input.u8() & 0x3, gsoType, gsoSize, hdr, input.below(2));
      if (status >= 0) {
        const flags = b.bytes[hdr]!, gso = b.bytes[hdr + 1]!;
        check(flags <= 2 && (gso === 0 || gso === 1 || gso === 4), `vnet_from_netif wrote flags ${flags} gso ${gso}`);
        if (flags === 1) check(b.view.getUint16(hdr + 6, true) + b.view.getUint16(hdr + 8, true) + 2 <= len, 'vnet_from_netif: csum_start + csum_offset past the frame');
      }
    } else {
      fn = 'tso_segment';
      const gsoType = input.chance(230) ? 1 + input.below(2) : input.u8();
      const mss = input.chance(200) ? input.pick([1, 8, 536, 1448, 9000]) : input.u16();
      status = b.fn(fn)(frame, len, gsoType, mss, 0);
      checkFrameWrites(b, frame, frameCopy, len, -2, fn);
      if (status >= 0) {
        const seg = b.c('SEG_BUF_OFFSET'), segEnd = seg + b.c('SEG_BUF_SIZE'), desc = b.c('SEG_DESC_OFFSET');
        check(status >= 1 && status <= 512, `tso_segment made ${status} segments`);
        for (let s = 0; s < status; s++) {
          const addr = u32(b, desc + s * 8), slen = u32(b, desc + s * 8 + 4);
          check(addr >= seg && addr + slen <= segEnd && slen <= len, `tso_segment: segment ${s} at ${addr}+${slen}`);
        }
      }
      return status < 0 ? b.outcome(status, fn) : 'ok';
    }
    checkFrameWrites(b, frame, frameCopy, len, field(), fn);
    return status < 0 ? b.outcome(status, fn) : 'ok';
  },
};

// ---------------------------------------------------------------------------------------------
// Multicast list records (the host copies one queue's list into the others through SCRATCH).

export const mcastTarget: KernelTarget = {
  name: 'kernel_mcast',
  inputSize: 600,
  writable: (b) => [b.region('SCRATCH'), b.region('MCAST_LIST'), b.region('QUEUE_STATE')],
  run(b, input) {
    const scratch = b.c('SCRATCH_OFFSET');
    const size = b.c('MCAST_RECORD_SIZE');
    const v = b.view;
    const count = input.chance(230) ? input.below(65) : input.u32();
    const entry = input.below(65);
    input.fill(b.bytes, scratch, size);
    v.setUint32(scratch, count, true);
    const countBefore = b.fn('mcast_count')();
    const loaded = b.fn('mcast_load')(scratch);
    if (count > 64) {
      check(loaded === b.c('STATUS_BAD_ARGUMENT') && b.fn('mcast_count')() === countBefore, `mcast_load took a record of ${count} entries`);
      return 'rejected:count';
    }
    check(loaded === 0 && b.fn('mcast_count')() === count, `mcast_load of ${count} entries returned ${loaded}`);
    const saved = scratch + 1024;
    check(b.fn('mcast_save')(saved) === size, 'mcast_save');
    for (let i = 0; i < size; i++) check(b.bytes[saved + i] === b.bytes[scratch + i], `mcast_save differs from the loaded record at byte ${i}`);
    const probe = scratch + 2048;
    b.bytes.copyWithin(probe, scratch + 4 + entry * 8, scratch + 4 + entry * 8 + 6);
    let present = false;
    for (let i = 0; i < count && !present; i++) present = b.bytes.subarray(scratch + 4 + i * 8, scratch + 10 + i * 8).every((x, k) => x === b.bytes[probe + k]);
    check(b.fn('mcast_contains')(probe) === (present ? 1 : 0), 'mcast_contains disagrees with the list');
    return present ? 'ok:member' : 'ok';
  },
};

// ---------------------------------------------------------------------------------------------
// Hashing and checksums of arbitrary bytes against the plain references of test/reference/.

export const hashTarget: KernelTarget = {
  name: 'kernel_hash',
  inputSize: 2048,
  writable: (b) => [b.region('SCRATCH'), b.region('QUEUE_STATE')],
  run(b, input) {
    const scratch = b.c('SCRATCH_OFFSET');
    const keyLen = input.below(41);
    const inputLen = input.below(37);
    input.fill(b.bytes, scratch, keyLen);
    input.fill(b.bytes, scratch + 64, inputLen);
    check(b.fn('toeplitz_hash')(scratch, keyLen, scratch + 64, inputLen) === 0, 'toeplitz_hash refused key and input in the scratch');
    const hash = b.fn('toeplitz_hash_value')() >>> 0;
    check(hash === toeplitzReference(b.bytes.slice(scratch, scratch + keyLen), b.bytes.slice(scratch + 64, scratch + 64 + inputLen)), 'toeplitz_hash differs from the reference');
    const len = input.chance(200) ? input.below(200) : input.below(1600);
    const at = scratch + 128 + input.below(16);
    input.fill(b.bytes, at, len);
    const sum = b.fn('inet_checksum')(at, len);
    check(sum === internetChecksum(b.bytes.slice(at, at + len)), 'inet_checksum differs from the reference');
    const info = scratch + 2048;
    const frame = scratch + 4096;
    const flen = writeFrame(b.bytes, frame, 65535, input);
    const parsed = b.fn('parse_headers')(frame, flen, info);
    if (parsed >= 0) {
      const l3 = u16(b, info), l4 = u16(b, info + 2), end = u16(b, info + 4), hlen = u16(b, info + 6);
      check(l3 >= 14 && l3 < l4 && l4 + hlen <= end && end <= flen, `parse_headers: l3 ${l3} l4 ${l4}+${hlen} end ${end} of ${flen}`);
    }
    return parsed < 0 ? b.outcome(parsed, 'parse_headers') : 'ok';
  },
};

// ---------------------------------------------------------------------------------------------
// Host misuse: every entry point that takes an address, called with arbitrary addresses and
// lengths. Each must answer with a status (a wrong address is STATUS_BAD_ARGUMENT) and never trap,
// none may write a ring page or the static data, whatever it was given, and an accepted call's
// ranges must lie inside the regions that entry point allows (a read the memory check cannot see).

/** The ranges [address, address + len) of a call and the regions each must lie in when accepted. */
type Ranges = [address: number, len: number, regions: readonly string[]][];

const PACKET = ['TX_BUF', 'RX_BUF', 'SEG_BUF', 'SCRATCH'] as const;
const GUEST_RX_FRAME = ['RX_BUF', 'SEG_BUF', 'SCRATCH'] as const;
const TSO_FRAME = ['TX_BUF', 'RX_BUF', 'SCRATCH'] as const;

interface AddressEntryPoint {
  fn: string;
  args: (a: () => number, n: () => number, input: FuzzInput) => number[];
  /** What an accepted call may touch, from its arguments (toeplitz lengths clamped as the kernel does). */
  ranges?: (args: number[], b: KernelBench) => Ranges;
  /** The status every call must return (a call out of order on this instance). */
  refused?: string;
}

const frameRanges = (regions: readonly string[]) => (x: number[]): Ranges => [[x[0]!, x[1]!, regions]];

/** Everything kernel_args calls: the entry points that take an address or an index, and the control-ring passes before an attach. */
export const ADDRESS_ENTRY_POINTS: AddressEntryPoint[] = [
  { fn: 'inet_checksum', args: (a, n) => [a(), n()], ranges: frameRanges(PACKET) },
  { fn: 'bench_inet_checksum', args: (a, n, i) => [a(), n(), i.below(3)], ranges: frameRanges(PACKET) },
  { fn: 'parse_headers', args: (a, n) => [a(), n(), a()], ranges: (x) => [[x[0]!, x[1]!, PACKET], [x[2]!, 16, PACKET]] },
  { fn: 'toeplitz_hash', args: (a, n) => [a(), n(), a(), n()], ranges: (x) => [[x[0]!, Math.min(x[1]!, 40), PACKET], [x[2]!, Math.min(x[3]!, 36), PACKET]] },
  { fn: 'bench_toeplitz', args: (a, n, i) => [a(), n(), a(), n(), i.below(3)], ranges: (x) => [[x[0]!, Math.min(x[1]!, 40), PACKET], [x[2]!, Math.min(x[3]!, 36), PACKET]] },
  { fn: 'csum_complete', args: (a, n) => [a(), n()], ranges: frameRanges(PACKET) },
  { fn: 'bench_csum_complete', args: (a, n, i) => [a(), n(), i.below(3)], ranges: frameRanges(PACKET) },
  { fn: 'csum_fill', args: (a, n) => [a(), n()], ranges: frameRanges(PACKET) },
  { fn: 'csum_setup', args: (a, n, i) => [a(), n(), i.below(3)], ranges: frameRanges(PACKET) },
  { fn: 'vnet_from_netif', args: (a, n, i) => [a(), n(), i.u16(), i.below(4), i.u16(), a(), i.below(3)], ranges: (x) => [[x[0]!, x[1]!, PACKET]] },
  { fn: 'vnet_to_netif', args: (a, n, i) => [a(), a(), n(), i.below(64), a()], ranges: (x, b) => [[x[0]!, b.c('VNETH_SIZE'), PACKET], [x[1]!, x[2]!, PACKET]] },
  { fn: 'tso_segment', args: (a, n, i) => [a(), n(), i.below(4), i.u16(), i.chance(200) ? 0 : i.u16()], ranges: frameRanges(TSO_FRAME) },
  { fn: 'bench_tso', args: (a, n, i) => [a(), n(), i.below(4), i.u16(), 1 + i.below(2)], ranges: frameRanges(TSO_FRAME) },
  { fn: 'flow_hash', args: (a, n) => [a(), n()], ranges: frameRanges(GUEST_RX_FRAME) },
  { fn: 'bench_flow_hash', args: (a, n, i) => [a(), n(), 1 + i.below(2)], ranges: frameRanges(GUEST_RX_FRAME) },
  { fn: 'select_queue', args: (_a, _n, i) => [i.u32(), i.chance(200) ? i.below(9) : i.u32()] },
  { fn: 'mcast_contains', args: (a) => [a()] },
  { fn: 'mcast_save', args: (a) => [a()], ranges: (x, b) => [[x[0]!, b.c('MCAST_RECORD_SIZE'), ['SCRATCH']]] },
  { fn: 'mcast_load', args: (a) => [a()], ranges: (x, b) => [[x[0]!, b.c('MCAST_RECORD_SIZE'), ['SCRATCH']]] },
  { fn: 'ctrl_hash_mapping', args: (_a, _n, i) => [i.chance(200) ? i.below(200) : i.u32()] },
  // this instance never attaches its control ring: every pass over it is refused, nothing written
  { fn: 'ctrl_process', args: () => [], refused: 'STATUS_BAD_STATE' },
  { fn: 'ctrl_commit', args: () => [], refused: 'STATUS_BAD_STATE' },
];

/**
 * Exports that take no address (getters, ring passes over the fixed ring pages, counts), each
 * called by a target of its own. With ADDRESS_ENTRY_POINTS they are every function the module
 * exports (kernel-targets.test.ts checks it), so an export added without a bounds-checked place
 * here fails that test.
 */
export const NO_ADDRESS_EXPORTS = [
  'static_data_end', 'csum_setup_start', 'csum_setup_offset', 'tso_resume_offset', 'toeplitz_hash_value',
  'tx_attach', 'tx_build', 'tx_commit', 'tx_packet_count', 'tx_op_count', 'tx_slots_consumed', 'tx_credit_used', 'tx_credit_blocked',
  'tx_drops', 'tx_mcast_edits', 'tx_req_cons', 'tx_rsp_prod_pvt', 'mcast_count',
  'rx_attach', 'rx_slots_needed', 'rx_slots_available', 'rx_set_headroom', 'rx_pending_requests', 'rx_op_count', 'rx_packet_count',
  'rx_pack', 'rx_commit',
  'ctrl_attach', 'ctrl_op_address', 'ctrl_req_cons', 'ctrl_hash_algorithm', 'ctrl_hash_flags', 'ctrl_hash_mapping_size',
  'flow_hash_value',
];

/**
 * Benchmark loops that rewrite their queue's own ring pages (bench_rx_pack takes a frame, which
 * rx_pack checks): only the bench CLI calls them, on an instance of their own, never a live queue.
 */
export const RING_BENCHMARK_EXPORTS = ['bench_tx_parse', 'bench_rx_pack'];

/** Whether [address, address + len) lies inside one of the named regions (unsigned, as the kernels check). */
function insideOne(b: KernelBench, address: number, len: number, regions: readonly string[]): boolean {
  return regions.some((name) => {
    const r = b.region(name);
    return address >= r.start && len <= r.size && address - r.start <= r.size - len;
  });
}

export const argsTarget: KernelTarget = {
  name: 'kernel_args',
  inputSize: 512,
  writable: (b) => [{ name: 'private regions', start: b.c('QUEUE_STATE_OFFSET'), size: b.c('LAYOUT_END') - b.c('QUEUE_STATE_OFFSET') }],
  run(b, input) {
    const names = ['QUEUE_STATE', 'COUNTERS', 'MCAST_LIST', 'TX_BUF', 'RX_BUF', 'SEG_BUF', 'SEG_DESC', 'CTRL_STATE', 'TOEPLITZ_TABLE', 'SCRATCH', 'TX_RING', 'RX_RING', 'TX_PKT_DESC', 'RX_PKT_DESC'];
    const a = () => {
      const r = input.u8();
      if (r < 16) return input.u32();
      if (r < 24) return input.pick([0, 1, 0xFFFFFFFF, 0xFFFFFFF0, b.c('LAYOUT_END'), b.c('LAYOUT_END') - 1, b.bytes.length - 1, b.bytes.length]);
      const region = b.region(input.pick(names));
      return (region.start + (input.chance(128) ? input.below(64) : input.chance(128) ? region.size - input.below(64) : input.below(region.size))) >>> 0;
    };
    const n = () => input.chance(128) ? input.below(2000) : input.chance(128) ? input.below(70000) : input.u32();
    const entry = input.pick(ADDRESS_ENTRY_POINTS);
    const args = entry.args(a, n, input);
    // a frame the region allows gets plausible bytes (the entry point gets past its checks)
    if (input.chance(128)) writeFrame(b.bytes, b.c('SCRATCH_OFFSET'), 4096, input);
    const status = b.fn(entry.fn)(...args);
    if (entry.refused !== undefined) {
      check(status === b.c(entry.refused), `${entry.fn} returned ${status}, not ${entry.refused}`);
      return `refused:${entry.fn}`;
    }
    const rejected = (status | 0) === b.c('STATUS_BAD_ARGUMENT');
    if (!rejected && entry.ranges !== undefined) {
      for (const [address, len, regions] of entry.ranges(args, b)) {
        check(insideOne(b, address >>> 0, len >>> 0, regions), () => `${entry.fn}(${args.join(', ')}) accepted [${address >>> 0}, +${len >>> 0}) outside ${regions.join(', ')}`);
      }
    }
    if (rejected) return `rejected:${entry.fn}`;
    // the bench loops return a sum, not a status; every other entry point a status
    if (entry.fn.startsWith('bench_')) return `ok:${entry.fn}`;
    return status >= 0 ? `ok:${entry.fn}` : b.outcome(status, entry.fn);
  },
};

export const kernelTargets: KernelTarget[] = [txTarget, rxTarget, ctrlTarget, offloadTarget, mcastTarget, hashTarget, argsTarget];
