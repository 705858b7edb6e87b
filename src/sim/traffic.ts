// Traffic between the simulated guests, so `sim` shows the engine working: every guest pings
// the next one (ICMP echo, answered by the peer) and runs one bulk TCP-like stream per queue to
// it, 64 KiB GSO frames with checksum offload, paced by a window of unacknowledged bytes that the
// peer's ACK frames open (so the RX backlog never overflows and no drop is expected). The guests
// form a ring (1 → 2 → … → N → 1), so every vif carries traffic both ways. No Node module.
//
// Frames can be lost where the path is not ours: with `sim --tap` a frame written to a TAP that is
// not yet on a bridge goes nowhere. So the stream recovers as TCP would, in its simplest form
// (go-back-N): the receiver takes only the next bytes in sequence and re-ACKs anything else; the
// sender, when ACKs stop advancing for RETRANSMIT_TIMEOUT_MS with bytes outstanding, sends again
// from the last byte acknowledged. Without it a window lost once stayed full for good, and the
// stream never started after the TAPs were bridged.

import type { SimHost } from './host.js';
import { buildFrame, guestMac, summarizeFrame } from './frames.js';
import type { NetfrontPacket, SimNetfront } from '../xen/sim/netfront.js';

export interface TrafficOptions {
  /** Echo requests per guest per second (default 10); 0 turns pings off. */
  pingsPerSecond?: number;
  /** Run the bulk streams (default true). */
  bulk?: boolean;
  /** Unacknowledged bytes a stream may have in flight (default 256 KiB, half the RX backlog cap). */
  window?: number;
  /** TCP payload per GSO frame (default 45 segments of MSS 1448). */
  mss?: number;
  segmentsPerFrame?: number;
}

export interface GuestTrafficStats {
  domid: number;
  peer: number;
  pingsSent: number;
  pongsReceived: number;
  /** Echo requests from the guest before it that this one answered. */
  pingsAnswered: number;
  /** Mean round-trip time of answered pings (ms), 0 before the first. */
  rttMs: number;
  bulkFramesSent: number;
  bulkBytesSent: number;
  bulkBytesAcked: number;
  bulkBytesReceived: number;
  acksSent: number;
  /** Sends refused by the guest's own netfront (its TX queue stopped): retried, not lost. */
  sendStopped: number;
  /** Sends the netfront dropped (broken, no carrier...). */
  sendDropped: number;
  /** Frames for another MAC (flooded before the bridge learned): a NIC ignores them. */
  foreign: number;
  /** Times the stream went back to the last acknowledged byte after ACKs stopped advancing. */
  bulkRetransmits: number;
  /** Bulk frames received out of sequence (after a loss): discarded and answered with a repeated ACK. */
  bulkOutOfOrder: number;
}

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const BULK_PORT = 5001;
const PROTO_TCP = 6;
const PROTO_ICMP = 1;
const TCP_ACK = 0x10;
/** see: RFC 6298 2.4 (an RTO of less than 1 s is rounded up to 1 s) */
export const RETRANSMIT_TIMEOUT_MS = 1000;
// setImmediate where there is one (Node): setTimeout(0) is clamped to 1 ms and would pace the
// streams by the timer, not by the window.
const defer: (fn: () => void) => void = typeof setImmediate === 'function' ? (fn) => { setImmediate(fn); } : (fn) => { setTimeout(fn, 0); };

interface Stream {
  queue: number;
  sent: number;
  acked: number;
  received: number;
  ackedToPeer: number;
  /** When the ACKs last advanced (or the stream last started from idle), performance.now() ms. */
  progressAt: number;
}

class GuestAgent {
  readonly stats: GuestTrafficStats;
  readonly mac: number[];
  readonly streams: Stream[] = [];
  private readonly pingTimes = new Map<number, number>();
  private rttTotal = 0;
  private pingSeq = 0;
  private pumpScheduled = false;
  private readonly payload: Uint8Array;
  private readonly unsubscribe: (() => void)[] = [];
  stopped = false;

  constructor(
    readonly domid: number,
    readonly peer: number,
    readonly netfront: SimNetfront,
    private readonly peerMac: number[],
    private readonly options: Required<TrafficOptions>,
  ) {
    this.mac = guestMac(domid);
    this.stats = {
      domid, peer, pingsSent: 0, pongsReceived: 0, pingsAnswered: 0, rttMs: 0, bulkFramesSent: 0, bulkBytesSent: 0,
      bulkBytesAcked: 0, bulkBytesReceived: 0, acksSent: 0, sendStopped: 0, sendDropped: 0, foreign: 0,
      bulkRetransmits: 0, bulkOutOfOrder: 0,
    };
    for (let q = 0; q < netfront.queueCount; q++) this.streams.push({ queue: q, sent: 0, acked: 0, received: 0, ackedToPeer: 0, progressAt: 0 });
    this.payload = new Uint8Array(options.mss * options.segmentsPerFrame);
    for (let i = 0; i < this.payload.length; i++) this.payload[i] = (i * 31 + domid) & 0xff;
    this.unsubscribe.push(netfront.on('receive', (packet) => this.receive(packet)));
    this.unsubscribe.push(netfront.on('wake', () => this.schedulePump()));
  }

  /** A broadcast so the bridge learns this guest's MAC before any unicast is flooded. */
  announce(): void {
    const frame = buildFrame({ ip: 4, l4: 'udp', payload: 18, dstMac: BROADCAST, srcMac: this.mac, srcHost: this.domid, dstHost: 0xffff, dstPort: 9 });
    this.send(frame, {});
  }

  ping(now: number): void {
    const seq = this.pingSeq++ & 0xffff;
    const frame = buildFrame({ ip: 4, l4: 'icmp', payload: 56, dstMac: this.peerMac, srcMac: this.mac, srcHost: this.domid, dstHost: this.peer, icmpType: 8, icmpId: this.domid, seq });
    if (this.send(frame, { queue: seq % this.streams.length })) {
      this.stats.pingsSent++;
      this.pingTimes.set(seq, now);
      if (this.pingTimes.size > 1024) this.pingTimes.delete(this.pingTimes.keys().next().value as number);
    }
  }

  schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    defer(() => { this.pumpScheduled = false; this.pump(); });
  }

  /** Sends owed ACKs, then bulk frames while the window allows and the TX queue takes them. */
  pump(): void {
    if (this.stopped) return;
    const now = performance.now();
    for (const stream of this.streams) {
      if (stream.ackedToPeer !== stream.received && !this.sendAck(stream)) continue;
      if (!this.options.bulk) continue;
      if (stream.sent === stream.acked) stream.progressAt = now;
      else if (now - stream.progressAt >= RETRANSMIT_TIMEOUT_MS) {
        // nothing acknowledged for a whole timeout: what is outstanding was lost; send it again
        stream.sent = stream.acked;
        stream.progressAt = now;
        this.stats.bulkRetransmits++;
      }
      while (stream.sent - stream.acked + this.payload.length <= this.options.window) {
        const frame = buildFrame({
          ip: 4, l4: 'tcp', payload: this.payload, dstMac: this.peerMac, srcMac: this.mac, srcHost: this.domid, dstHost: this.peer,
          srcPort: 40000 + stream.queue, dstPort: BULK_PORT, seq: stream.sent, tcpOptionBytes: 12, checksum: 'pseudo',
        });
        if (!this.send(frame, { queue: stream.queue, checksum: 'partial', gso: { type: 'tcpv4', size: this.options.mss } })) break;
        stream.sent += this.payload.length;
        this.stats.bulkFramesSent++;
        this.stats.bulkBytesSent += this.payload.length;
      }
    }
  }

  close(): void {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
  }

  private sendAck(stream: Stream): boolean {
    const frame = buildFrame({
      ip: 4, l4: 'tcp', payload: 0, dstMac: this.ackMac, srcMac: this.mac, srcHost: this.domid,
      dstHost: this.ackTarget, srcPort: BULK_PORT, dstPort: 40000 + stream.queue, ack: stream.received, tcpFlags: TCP_ACK,
    });
    if (!this.send(frame, { queue: stream.queue })) return false;
    stream.ackedToPeer = stream.received;
    this.stats.acksSent++;
    return true;
  }

  /** Who sends to this guest (its predecessor in the ring), set by the generator. */
  ackTarget = 0;
  ackMac: number[] = BROADCAST;
  private send(frame: Uint8Array, options: Parameters<SimNetfront['send']>[1]): boolean {
    const result = this.netfront.send(frame, options);
    if (result.kind === 'sent') return true;
    if (result.kind === 'stopped') this.stats.sendStopped++;
    else this.stats.sendDropped++;
    return false;
  }

  private receive(packet: NetfrontPacket): void {
    const frame = packet.frame;
    const toMe = frame.length >= 6 && this.mac.every((b, i) => frame[i] === b);
    if (!toMe) {
      if (frame[0] !== 0xff) this.stats.foreign++;
      return;
    }
    const summary = summarizeFrame(frame);
    if (summary === undefined || summary.dstHost !== this.domid) return;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (summary.protocol === PROTO_ICMP) {
      const type = frame[summary.l4]!;
      const seq = view.getUint16(summary.l4 + 6);
      if (type === 8) {
        const reply = buildFrame({
          ip: 4, l4: 'icmp', payload: frame.subarray(summary.l4 + 8, summary.l4 + 8 + summary.payloadLength), dstMac: frame.subarray(6, 12),
          srcMac: this.mac, srcHost: this.domid, dstHost: summary.srcHost, icmpType: 0, icmpId: view.getUint16(summary.l4 + 4), seq,
        });
        if (this.send(reply, { queue: packet.queue % this.streams.length })) this.stats.pingsAnswered++;
      } else if (type === 0) {
        const sentAt = this.pingTimes.get(seq);
        if (sentAt !== undefined) {
          this.pingTimes.delete(seq);
          this.stats.pongsReceived++;
          this.rttTotal += performance.now() - sentAt;
          this.stats.rttMs = this.rttTotal / this.stats.pongsReceived;
        }
      }
      return;
    }
    if (summary.protocol !== PROTO_TCP) return;
    const dstPort = view.getUint16(summary.l4 + 2);
    const srcPort = view.getUint16(summary.l4 + 0);
    if (dstPort === BULK_PORT) {
      const stream = this.streams[(srcPort - 40000) % this.streams.length];
      if (stream === undefined) return;
      if (view.getUint32(summary.l4 + 4) === stream.received >>> 0) {
        stream.received += summary.payloadLength;
        this.stats.bulkBytesReceived += summary.payloadLength;
      } else {
        // after a loss: not the next bytes; the repeated ACK below tells the sender where we are
        this.stats.bulkOutOfOrder++;
        stream.ackedToPeer = -1;
      }
      this.schedulePump();
    } else if (srcPort === BULK_PORT && (frame[summary.l4 + 13]! & TCP_ACK) !== 0) {
      const stream = this.streams[(dstPort - 40000) % this.streams.length];
      if (stream === undefined) return;
      const ack = view.getUint32(summary.l4 + 8);
      // The ACK number is the low 32 bits of the byte count; advance by the wrapped difference.
      const delta = (ack - (stream.acked >>> 0)) >>> 0;
      if (delta > 0 && delta <= stream.sent - stream.acked) {
        stream.acked += delta;
        stream.progressAt = performance.now();
        this.stats.bulkBytesAcked += delta;
        this.schedulePump();
      }
    }
  }
}

export class TrafficGenerator {
  private readonly agents: GuestAgent[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly options: Required<TrafficOptions>;

  constructor(host: SimHost, domids: readonly number[], options: TrafficOptions = {}) {
    this.options = {
      pingsPerSecond: options.pingsPerSecond ?? 10, bulk: options.bulk ?? true, window: options.window ?? 256 * 1024,
      mss: options.mss ?? 1448, segmentsPerFrame: options.segmentsPerFrame ?? 45,
    };
    domids.forEach((domid, i) => {
      const peer = domids[(i + 1) % domids.length]!;
      const guest = host.guests.get(domid);
      if (guest === undefined) throw new Error(`traffic: no guest ${domid}`);
      this.agents.push(new GuestAgent(domid, peer, guest.netfront, guestMac(peer), this.options));
    });
    domids.forEach((domid, i) => {
      const agent = this.agents[i]!;
      const before = domids[(i + domids.length - 1) % domids.length]!;
      agent.ackTarget = before;
      agent.ackMac = guestMac(before);
    });
  }

  start(): void {
    for (const agent of this.agents) agent.announce();
    const period = this.options.pingsPerSecond > 0 ? Math.max(1, Math.round(1000 / this.options.pingsPerSecond)) : 100;
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const agent of this.agents) {
        if (this.options.pingsPerSecond > 0) agent.ping(now);
        agent.pump(); // also the safety net if a wake was missed
      }
    }, period);
    // Give the announcements a turn through the bridge before the first unicast.
    setTimeout(() => { for (const agent of this.agents) agent.schedulePump(); }, 5);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const agent of this.agents) agent.close();
  }

  stats(): GuestTrafficStats[] {
    return this.agents.map((agent) => ({ ...agent.stats }));
  }
}
