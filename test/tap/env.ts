// Shared by the TAP suites: whether real TAP tests can run here, a per-test network namespace,
// and small frame builders. Every wait is bounded; all traffic stays inside the namespace.

import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { nativeAvailable } from '../../src/tap/native.js';
import type { TapDevice } from '../../src/tap/tap.js';
import { onesSum, internetChecksum } from '../reference/checksum.js';

const run = promisify(execFile);

/** Why the real-TAP suites cannot run here, or undefined when they can. */
export function tapSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (TAP devices and network namespaces need CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (!nativeAvailable()) return 'the native addon is not built (npm run build:native)';
  return undefined;
}

/**
 * Skipping is never silent: the reason is printed, and WNB_REQUIRE_TAP=1 (set by CI) turns a
 * skip into a failure so a machine that should run these cannot pass without them.
 */
export function announceSkip(suite: string): boolean {
  const reason = tapSkipReason();
  if (reason === undefined) return false;
  if (process.env.WNB_REQUIRE_TAP === '1') throw new Error(`${suite}: cannot run (${reason}) but WNB_REQUIRE_TAP=1`);
  console.warn(`SKIPPED ${suite}: ${reason}`);
  return true;
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

export async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

export async function linkJson(name: string, netns?: string, ...flags: string[]): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await ip(...(netns ? ['-n', netns] : []), '-j', ...flags, 'link', 'show', 'dev', name);
    return (JSON.parse(out) as Record<string, unknown>[])[0];
  } catch {
    return undefined;
  }
}

export async function rxStats(name: string, netns: string): Promise<{ packets: number; bytes: number }> {
  const link = await linkJson(name, netns, '-s');
  const rx = (link?.stats64 as { rx: { packets: number; bytes: number } } | undefined)?.rx;
  if (rx === undefined) throw new Error(`no stats for ${name}`);
  return { packets: rx.packets, bytes: rx.bytes };
}

/** A network namespace of this test file's own; traffic in it never leaves the machine. */
export class TestNetns {
  readonly name = uniqueName('wnb-test-');
  private children = new Set<ChildProcessWithoutNullStreams>();

  async create(): Promise<void> {
    await ip('netns', 'add', this.name);
    await ip('-n', this.name, 'link', 'set', 'lo', 'up');
    // No IPv6 autoconfiguration chatter (RS, MLD, DAD) among the frames the tests read.
    for (const scope of ['all', 'default']) {
      await run('ip', ['netns', 'exec', this.name, 'sysctl', '-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`], { timeout: 10_000 });
    }
  }

  async exec(...args: string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', this.name, ...args], { timeout: 10_000 });
    return stdout;
  }

  /** Runs `node -e script` inside the namespace; killed by destroy() at the latest. */
  node(script: string): NsProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, process.execPath, '-e', script]);
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return new NsProcess(child);
  }

  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await ip('netns', 'del', this.name).catch(() => undefined);
  }
}

/** A child process's stdout as lines, with a bounded wait for a line matching a pattern. */
export class NsProcess {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  private stderr = '';

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { this.stderr += chunk; });
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        this.lines.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  waitFor(match: RegExp, timeoutMs = 10_000): Promise<string> {
    const found = new Promise<string>((resolve) => {
      const check = (): void => {
        const line = this.lines.find((l) => match.test(l));
        if (line !== undefined) resolve(line);
        else this.waiters.push(check);
      };
      check();
    });
    return withTimeout(found, timeoutMs, `a line matching ${match} (stderr: ${this.stderr.trim() || 'empty'})`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits (through onReadable, i.e. uv_poll) for a frame the predicate accepts; frames it rejects
 * are dropped. Returns the bytes read (virtio_net_hdr + frame), copied.
 */
export function nextFrame(tap: TapDevice, accept: (frame: Uint8Array) => boolean, timeoutMs = 5_000, what = 'a frame'): Promise<Uint8Array> {
  const buffer = new Uint8Array(65536 + 10);
  const found = new Promise<Uint8Array>((resolve) => {
    tap.onReadable(() => {
      for (;;) {
        const n = tap.readInto(buffer, 0, buffer.length);
        if (n === 0) return;
        const frame = buffer.slice(0, n);
        if (accept(frame)) {
          tap.onReadable(null);
          resolve(frame);
          return;
        }
      }
    });
  });
  return withTimeout(found, timeoutMs, what).finally(() => {
    if (!tap.closed) tap.onReadable(null);
  });
}

// ---------------------------------------------------------------------------------------------
// frames (Ethernet, ARP, IPv4, ICMP, TCP), written from RFC 826 / 791 / 792 / 9293 by hand

export const ETH_ARP = 0x0806;
export const ETH_IPV4 = 0x0800;

export function parseMac(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function ipv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + payload.length);
  frame.set(dst, 0);
  frame.set(src, 6);
  frame[12] = type >> 8;
  frame[13] = type & 0xff;
  frame.set(payload, 14);
  return frame;
}

export function arp(op: 1 | 2, senderMac: Uint8Array, senderIp: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array): Uint8Array {
  const body = new Uint8Array(28);
  body.set([0, 1, 0x08, 0x00, 6, 4, 0, op], 0);
  body.set(senderMac, 8);
  body.set(senderIp, 14);
  body.set(targetMac, 18);
  body.set(targetIp, 24);
  return body;
}

export function ipv4Packet(src: Uint8Array, dst: Uint8Array, protocol: number, l4: Uint8Array, id = 1): Uint8Array {
  const total = 20 + l4.length;
  const packet = new Uint8Array(total);
  packet.set([0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, 0x40, 0, 64, protocol, 0, 0], 0);
  packet.set(src, 12);
  packet.set(dst, 16);
  const sum = internetChecksum(packet.subarray(0, 20));
  packet[10] = sum >> 8;
  packet[11] = sum & 0xff;
  packet.set(l4, 20);
  return packet;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const msg = new Uint8Array(8 + payload.length);
  msg.set([type, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff], 0);
  msg.set(payload, 8);
  const sum = internetChecksum(msg);
  msg[2] = sum >> 8;
  msg[3] = sum & 0xff;
  return msg;
}

export interface TcpSpec {
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options?: Uint8Array;
  payload?: Uint8Array;
  /** 'full': a complete checksum; 'pseudo': only the pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  checksum: 'full' | 'pseudo';
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export function tcpSegment(spec: TcpSpec): Uint8Array {
  const options = spec.options ?? new Uint8Array(0);
  const payload = spec.payload ?? new Uint8Array(0);
  const headerLength = 20 + options.length;
  const seg = new Uint8Array(headerLength + payload.length);
  const v = new DataView(seg.buffer);
  v.setUint16(0, spec.sport);
  v.setUint16(2, spec.dport);
  v.setUint32(4, spec.seq >>> 0);
  v.setUint32(8, spec.ack >>> 0);
  seg[12] = (headerLength / 4) << 4;
  seg[13] = spec.flags;
  v.setUint16(14, spec.window);
  seg.set(options, 20);
  seg.set(payload, headerLength);
  const pseudo = new Uint8Array([...spec.src, ...spec.dst, 0, 6, seg.length >> 8, seg.length & 0xff]);
  const value = spec.checksum === 'full' ? ~onesSum(seg, onesSum(pseudo)) & 0xffff : onesSum(pseudo);
  v.setUint16(16, value);
  return seg;
}

/** header (10 bytes) + frame, ready to write to the TAP. */
export function withVnet(header: Uint8Array, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.length + frame.length);
  out.set(header, 0);
  out.set(frame, header.length);
  return out;
}
