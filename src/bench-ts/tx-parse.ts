// Pure-TypeScript guest-TX ring parsing for `bench`, the same work as the Wasm tx_build +
// tx_commit: each request slot copied once into private memory, Linux netback's fatal/drop rules
// in Linux's order, a grant-copy op per non-empty data slot and a descriptor per packet (struct-
// of-typed-arrays, allocated once), then responses written in slot order and pushed. Written for
// speed as an honest comparison, not as a test reference. see: netback.c xenvif_tx_build_gops,
// xenvif_count_requests, xenvif_get_extras, xenvif_tx_check_gop, make_tx_response

const SLOTS = 256;
const SLOT = 12;
const ENTRIES = 64;
const REQ_PROD = 0;
const RSP_PROD = 8;
const REQ_EVENT = 4;
const RSP_EVENT = 12;
const PAGE = 4096;
const ETH_HLEN = 14;
const LEGACY_SLOTS_MAX = 18;
const MORE_DATA = 0x4;
const EXTRA_INFO = 0x8;
const RSP_OKAY = 0;
const RSP_ERROR = -1;
const RSP_NULL = 1;
const EXTRA_GSO = 1;
const EXTRA_MCAST_ADD = 2;
const EXTRA_MCAST_DEL = 3;
const EXTRA_HASH = 4;
const EXTRA_XDP = 5;
const KIND_PLAIN = 0;
const KIND_OP = 1;
const PKT_HEADROOM = 128;
const TX_BUF_SIZE = 256 * 65536;

/** Negative results: the frontend broke a fatal rule (the queue would be disabled). */
export const TS_FATAL = -100;

export class TsTxParser {
  readonly ring: Uint8Array;
  private readonly ringView: DataView;
  // The private copies: 12 request bytes per batch position, and the staged responses.
  private readonly copy = new Uint8Array(SLOTS * 16);
  private readonly copyView = new DataView(this.copy.buffer);
  private readonly copyWords = new Uint32Array(this.copy.buffer);
  private readonly ringWords: Uint32Array;
  private readonly status = new Int16Array(SLOTS);
  private readonly kind = new Uint8Array(SLOTS);
  // Grant-copy ops.
  private readonly opGref = new Uint32Array(SLOTS);
  private readonly opOffset = new Uint16Array(SLOTS);
  private readonly opLen = new Uint16Array(SLOTS);
  private readonly opLocal = new Uint32Array(SLOTS);
  readonly opStatus = new Int16Array(SLOTS);
  // Packet descriptors.
  private readonly pktData = new Uint32Array(SLOTS);
  private readonly pktLen = new Uint32Array(SLOTS);
  private readonly pktFlags = new Uint16Array(SLOTS);
  private readonly pktGsoType = new Uint8Array(SLOTS);
  private readonly pktGsoSize = new Uint16Array(SLOTS);
  private readonly pktFirstSlot = new Uint16Array(SLOTS);
  private readonly pktSlotCount = new Uint16Array(SLOTS);
  private readonly pktFirstOp = new Uint16Array(SLOTS);
  private readonly pktOpCount = new Uint16Array(SLOTS);
  private readonly pktOk = new Uint8Array(SLOTS);
  private readonly mcast = new Uint8Array(64 * 6);
  private mcastCount = 0;
  reqCons = 0;
  rspProdPvt = 0;
  packets = 0;
  ops = 0;
  slots = 0;
  drops = 0;
  txPackets = 0;
  txBytes = 0;

  constructor(ring: Uint8Array) {
    this.ring = ring;
    this.ringView = new DataView(ring.buffer, ring.byteOffset, PAGE);
    if ((ring.byteOffset & 3) !== 0) throw new RangeError('the ring page must be 4-byte aligned');
    this.ringWords = new Uint32Array(ring.buffer, ring.byteOffset, PAGE / 4);
  }

  attach(): number {
    const rspProd = this.ringView.getUint32(RSP_PROD, true);
    const reqProd = this.ringView.getUint32(REQ_PROD, true);
    if (((reqProd - rspProd) >>> 0) > SLOTS) return TS_FATAL;
    this.reqCons = rspProd;
    this.rspProdPvt = rspProd;
    return 0;
  }

  private copySlot(index: number, pos: number, status: number): number {
    // Three 32-bit loads: slots (64 + 12n) and copies (16n) are 4-aligned.
    const src = (ENTRIES + (index & (SLOTS - 1)) * SLOT) >>> 2;
    const dst = pos * 16;
    const words = this.copyWords;
    const ring = this.ringWords;
    words[dst >>> 2] = ring[src]!;
    words[(dst >>> 2) + 1] = ring[src + 1]!;
    words[(dst >>> 2) + 2] = ring[src + 2]!;
    this.status[pos] = status;
    this.kind[pos] = KIND_PLAIN;
    return dst;
  }

  private stageDrop(firstPos: number, extras: number, followers: number): void {
    this.status[firstPos] = RSP_ERROR;
    this.kind[firstPos] = KIND_PLAIN;
    const from = firstPos + 1 + extras;
    for (let i = 0; i < followers; i++) { this.status[from + i] = RSP_ERROR; this.kind[from + i] = KIND_PLAIN; }
    this.drops++;
  }

  /** One batch: returns the packets built, or TS_FATAL. */
  build(maxPackets: number, fatalSlots: number): number {
    if (fatalSlots < LEGACY_SLOTS_MAX) fatalSlots = LEGACY_SLOTS_MAX;
    const c = this.copyView;
    const start = this.reqCons;
    const reqProd = this.ringView.getUint32(REQ_PROD, true);
    if (((reqProd - start) >>> 0) > SLOTS) return TS_FATAL;
    let cons = start;
    let packets = 0;
    let ops = 0;
    let buf = 0;
    let fatal = false;
    this.drops = 0;
    while (packets < maxPackets) {
      let work = (reqProd - cons) >>> 0;
      if (work === 0) break;
      const packetStart = cons;
      const firstPos = (cons - start) >>> 0;
      const first = this.copySlot(cons, firstPos, RSP_OKAY);
      const declared = c.getUint16(first + 10, true);
      work--; cons = (cons + 1) >>> 0;
      const flags = c.getUint16(first + 6, true);
      let extras = 0;
      let gso = -1, add = -1, del = -1;
      if ((flags & EXTRA_INFO) !== 0) {
        let more = false;
        do {
          if (work === 0) { fatal = true; break; }
          work--;
          const e = this.copySlot(cons, (cons - start) >>> 0, RSP_NULL);
          cons = (cons + 1) >>> 0;
          extras++;
          const type = this.copy[e]!;
          if (type < EXTRA_GSO || type > EXTRA_XDP) { fatal = true; break; }
          if (type === EXTRA_GSO) gso = e;
          else if (type === EXTRA_MCAST_ADD) add = e;
          else if (type === EXTRA_MCAST_DEL) del = e;
          else if (type === EXTRA_HASH) { /* hash value kept with the packet in the Wasm version */ }
          more = (this.copy[e + 1]! & 1) !== 0;
        } while (more);
        if (fatal) { cons = packetStart; break; }
      }
      if (add >= 0) {
        if (this.mcastCount < 64) { this.mcast.set(this.copy.subarray(add + 2, add + 8), this.mcastCount * 6); this.mcastCount++; }
        else this.status[firstPos] = RSP_ERROR;
        continue;
      }
      if (del >= 0) { if (this.mcastCount > 0) this.mcastCount--; continue; }
      let firstSize = declared;
      let followers = 0;
      let drop = false;
      if ((flags & MORE_DATA) !== 0) {
        let more = false;
        do {
          if (followers >= work || followers >= fatalSlots) { fatal = true; break; }
          if (followers >= LEGACY_SLOTS_MAX) drop = true;
          const f = this.copySlot((cons + followers) >>> 0, (cons + followers - start) >>> 0, RSP_OKAY);
          const size = c.getUint16(f + 10, true);
          if (size > firstSize) drop = true;
          firstSize = (firstSize - size) & 0xffff;
          followers++;
          if (c.getUint16(f + 4, true) + size > PAGE) { fatal = true; break; }
          more = (c.getUint16(f + 6, true) & MORE_DATA) !== 0;
        } while (more);
        if (fatal) { cons = packetStart; break; }
      }
      if (drop || firstSize < ETH_HLEN) { this.stageDrop(firstPos, extras, followers); cons = (cons + followers) >>> 0; continue; }
      if (c.getUint16(first + 4, true) + firstSize > PAGE) { fatal = true; cons = packetStart; break; }
      if (gso >= 0) {
        const size = c.getUint16(gso + 2, true);
        const type = this.copy[gso + 4]!;
        if (size === 0 || (type !== 1 && type !== 2)) { fatal = true; cons = packetStart; break; }
      }
      const data = buf + PKT_HEADROOM;
      const end = (data + declared + 15) & ~15;
      if (end > TX_BUF_SIZE) { cons = packetStart; break; }
      const firstOp = ops;
      this.writeOp(ops++, first, firstSize, data);
      this.kind[firstPos] = KIND_OP;
      let at = data + firstSize;
      const followPos = firstPos + 1 + extras;
      for (let i = 0; i < followers; i++) {
        const f = (followPos + i) * 16;
        const size = c.getUint16(f + 10, true);
        if (size === 0) continue;
        this.writeOp(ops++, f, size, at);
        this.kind[followPos + i] = KIND_OP;
        at += size;
      }
      this.pktData[packets] = data;
      this.pktLen[packets] = declared;
      this.pktFlags[packets] = flags & 3;
      this.pktGsoType[packets] = gso >= 0 ? this.copy[gso + 4]! : 0;
      this.pktGsoSize[packets] = gso >= 0 ? c.getUint16(gso + 2, true) : 0;
      this.pktFirstSlot[packets] = firstPos;
      this.pktSlotCount[packets] = 1 + extras + followers;
      this.pktFirstOp[packets] = firstOp;
      this.pktOpCount[packets] = ops - firstOp;
      packets++;
      buf = end;
      cons = (cons + followers) >>> 0;
    }
    this.reqCons = cons;
    this.packets = packets;
    this.ops = ops;
    this.slots = (cons - start) >>> 0;
    return fatal ? TS_FATAL : packets;
  }

  private writeOp(op: number, copyAt: number, len: number, local: number): void {
    const c = this.copyView;
    this.opGref[op] = c.getUint32(copyAt, true);
    this.opOffset[op] = c.getUint16(copyAt + 4, true);
    this.opLen[op] = len;
    this.opLocal[op] = local;
    this.opStatus[op] = -1; // failed until the copy is executed
  }

  /** Responses for the batch; returns bit 0 notify, bit 1 more requests pending. */
  commit(): number {
    const start = this.rspProdPvt;
    const end = this.reqCons;
    for (let p = 0; p < this.packets; p++) {
      let failed = false;
      const firstOp = this.pktFirstOp[p]!;
      for (let o = 0; o < this.pktOpCount[p]!; o++) if (this.opStatus[firstOp + o]! < 0) { failed = true; break; }
      this.pktOk[p] = failed ? 0 : 1;
      if (failed) {
        const first = this.pktFirstSlot[p]!;
        for (let s = first; s < first + this.pktSlotCount[p]!; s++) if (this.kind[s] === KIND_OP) this.status[s] = RSP_ERROR;
      } else {
        this.txPackets++;
        this.txBytes += this.pktLen[p]!;
      }
    }
    const count = (end - start) >>> 0;
    const ring = this.ringView;
    for (let pos = 0; pos < count; pos++) {
      const r = ENTRIES + ((start + pos) & (SLOTS - 1)) * SLOT;
      const status = this.status[pos]!;
      if (status !== RSP_NULL) ring.setUint16(r, this.copyView.getUint16(pos * 16 + 8, true), true);
      ring.setInt16(r + 2, status, true);
    }
    this.rspProdPvt = end;
    let result = 0;
    if (count !== 0) {
      const old = ring.getUint32(RSP_PROD, true);
      ring.setUint32(RSP_PROD, end, true);
      const event = ring.getUint32(RSP_EVENT, true);
      if (((end - event) >>> 0) < ((end - old) >>> 0)) result |= 1;
    }
    if (ring.getUint32(REQ_PROD, true) !== end) result |= 2;
    else {
      ring.setUint32(REQ_EVENT, (end + 1) >>> 0, true);
      if (ring.getUint32(REQ_PROD, true) !== end) result |= 2;
    }
    return result;
  }

  /** The Wasm bench's loop: restore the ring, build, mark every op done, commit; slots processed. */
  benchParse(iterations: number, saved: Uint8Array): number {
    const rspProd = this.ringView.getUint32(RSP_PROD, true);
    const start = this.reqCons;
    let total = 0;
    for (let i = 0; i < iterations; i++) {
      this.ring.set(saved, ENTRIES);
      this.ringView.setUint32(RSP_PROD, rspProd, true);
      this.reqCons = start;
      this.rspProdPvt = start;
      if (this.build(SLOTS, 20) < 0) return 0;
      this.opStatus.fill(0, 0, this.ops);
      this.commit();
      total += this.slots;
    }
    this.ring.set(saved, ENTRIES);
    this.ringView.setUint32(RSP_PROD, rspProd, true);
    this.reqCons = start;
    this.rspProdPvt = start;
    return total;
  }
}
