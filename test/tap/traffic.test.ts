// Frames through a real TAP and the real Linux stack. The TAP is opened by this process, then moved
// into a network namespace of this file's own (the fd keeps working across the move), where it
// gets 198.18.0.1/24 (RFC 2544 benchmark range); the "guest" behind the TAP is this test, writing
// and reading frames. Nothing leaves the namespace; afterAll removes the TAP and the namespace.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NativeUsageError } from '../../src/native/addon.js';
import { TapDevice } from '../../src/tap/tap.js';
import {
  readVnetHeader, VNET_HDR_SIZE, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4,
  writeVnetHeader,
} from '../../src/backend/vnet-header.js';
import { pseudoRandomBytes } from '../reference/frames.js';
import {
  announceSkip, arp, ETH_ARP, ETH_IPV4, ethernet, icmpEcho, ip, ipv4, ipv4Packet, linkJson, nextFrame, parseMac,
  rxStats, TCP_ACK, TCP_PSH, TCP_SYN, tcpSegment, TestNetns, uniqueName, withTimeout, withVnet, placeTapHostSide, TAP_HOST_ADDRESS, TAP_PEER_ADDRESS, TAP_PEER_MAC_TEXT } from './env.js';

const skip = announceSkip('test/tap/traffic.test.ts (real TAP + network namespace)');

const HOST_IP = ipv4(TAP_HOST_ADDRESS);
const PEER_MAC = parseMac(TAP_PEER_MAC_TEXT); // locally administered: the "guest" behind the TAP
const PEER_IP = ipv4(TAP_PEER_ADDRESS); // a permanent neighbour entry points it at PEER_MAC
const NO_VNET = new Uint8Array(VNET_HDR_SIZE);
const ICMP_ID = 0x574e;

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const u16 = (f: Uint8Array, at: number): number => (f[at]! << 8) | f[at + 1]!;
const u32 = (f: Uint8Array, at: number): number => ((f[at]! << 24) | (f[at + 1]! << 16) | (f[at + 2]! << 8) | f[at + 3]!) >>> 0;

// Offsets inside what a TAP read returns: virtio_net_hdr, then the Ethernet frame.
const ETH = VNET_HDR_SIZE;
const IP = ETH + 14;
const L4 = IP + 20;

function isArpRequestFor(target: Uint8Array) {
  return (f: Uint8Array): boolean => f.length >= ETH + 42 && u16(f, ETH + 12) === ETH_ARP && u16(f, ETH + 20) === 1 && equalBytes(f.subarray(ETH + 38, ETH + 42), target);
}

function isIcmp(type: number, seq?: number) {
  return (f: Uint8Array): boolean => f.length >= L4 + 8 && u16(f, ETH + 12) === ETH_IPV4 && f[IP + 9] === 1 && f[L4] === type
    && u16(f, L4 + 4) === ICMP_ID && (seq === undefined || u16(f, L4 + 6) === seq);
}

describe.skipIf(skip)('TAP traffic', () => {
  const ns = new TestNetns();
  const name = uniqueName('wnbt');
  let tap: TapDevice;
  let hostMac: Uint8Array;

  const echoRequest = (seq: number, payload: Uint8Array, src = PEER_IP): Uint8Array =>
    withVnet(NO_VNET, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(src, HOST_IP, 1, icmpEcho(8, ICMP_ID, seq, payload), seq)));

  beforeAll(async () => {
    await ns.create();
    tap = TapDevice.open({ name, offloads: { csum: true, tso4: true, tso6: true } });
    hostMac = await placeTapHostSide(name, ns);
  });

  afterAll(async () => {
    tap?.close();
    await ns.destroy();
    // The device went with the fd; nothing of ours is left in either namespace.
    expect(await linkJson(name)).toBeUndefined();
  });

  test('tap_read_arp', async () => {
    const target = ipv4('198.18.0.2');
    // Something in the namespace wants 198.18.0.2, which is "behind" the TAP: the stack asks.
    const sender = ns.node(`const s=require('dgram').createSocket('udp4');setInterval(()=>s.send('x',9,'198.18.0.2'),200);s.send('x',9,'198.18.0.2');setTimeout(()=>process.exit(0),8000)`);
    try {
      const frame = await nextFrame(tap, isArpRequestFor(target), 5_000, 'the ARP request for 198.18.0.2');
      // The stack's own frames carry a plain header: nothing to checksum, no GSO.
      expect(readVnetHeader(frame)).toMatchObject({ flags: 0, gsoType: VIRTIO_NET_HDR_GSO_NONE });
      expect(frame.subarray(ETH, ETH + 6)).toEqual(new Uint8Array(6).fill(0xff));
      expect(frame.subarray(ETH + 6, ETH + 12)).toEqual(hostMac);
      // RFC 826: Ethernet/IPv4, 6/4, request, sender = the namespace's address on the TAP.
      expect(Array.from(frame.subarray(ETH + 14, ETH + 22))).toEqual([0, 1, 8, 0, 6, 4, 0, 1]);
      expect(frame.subarray(ETH + 22, ETH + 28)).toEqual(hostMac);
      expect(frame.subarray(ETH + 28, ETH + 32)).toEqual(HOST_IP);
    } finally {
      sender.kill();
    }
  });

  test('tap_write_reply', async () => {
    const target = ipv4('198.18.0.3');
    const before = await rxStats(name, ns.name);
    const reply = withVnet(NO_VNET, ethernet(hostMac, PEER_MAC, ETH_ARP, arp(2, PEER_MAC, target, hostMac, HOST_IP)));
    const sender = ns.node(`const s=require('dgram').createSocket('udp4');const go=()=>s.send('wnb-udp',7777,'198.18.0.3');setInterval(go,200);go();setTimeout(()=>process.exit(0),8000)`);
    try {
      await nextFrame(tap, isArpRequestFor(target), 5_000, 'the ARP request for 198.18.0.3');
      // Answer it: the stack resolves the neighbour and sends the queued datagram to our MAC.
      expect(tap.write(reply, 0, reply.length)).toBe(reply.length);
      const udp = await nextFrame(tap, (f) => u16(f, ETH + 12) === ETH_IPV4 && f[IP + 9] === 17 && equalBytes(f.subarray(IP + 16, IP + 20), target), 5_000, 'the UDP datagram after the ARP reply');
      expect(udp.subarray(ETH, ETH + 6)).toEqual(PEER_MAC);
      expect(u16(udp, L4 + 2)).toBe(7777);
      expect(new TextDecoder().decode(udp.subarray(L4 + 8))).toBe('wnb-udp');
      expect(await ip('-n', ns.name, 'neigh', 'show', '198.18.0.3', 'dev', name)).toContain('02:00:5e:10:00:04');
    } finally {
      sender.kill();
    }

    // An ICMP echo reply from behind the TAP is taken in by the stack's ICMP layer.
    const inEchoReps = async (): Promise<number> => {
      const lines = (await ns.exec('cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Icmp:'));
      const [names, values] = lines.map((l) => l.split(/\s+/));
      return Number(values![names!.indexOf('InEchoReps')]);
    };
    const repsBefore = await inEchoReps();
    const echoReply = withVnet(NO_VNET, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(PEER_IP, HOST_IP, 1, icmpEcho(0, ICMP_ID, 1, pseudoRandomBytes(56, 3)))));
    expect(tap.write(echoReply, 0, echoReply.length)).toBe(echoReply.length);
    expect(await inEchoReps()).toBe(repsBefore + 1);

    // And an echo request is answered, back through the TAP, with our id, sequence and payload.
    const payload = pseudoRandomBytes(56, 4);
    const request = echoRequest(2, payload);
    tap.write(request, 0, request.length);
    const answer = await nextFrame(tap, isIcmp(0, 2), 5_000, 'the echo reply');
    expect(answer.subarray(ETH, ETH + 6)).toEqual(PEER_MAC);
    expect(answer.subarray(L4 + 8)).toEqual(payload);

    // Every frame we wrote was counted as received on the TAP: ARP reply, echo reply, echo request.
    const after = await rxStats(name, ns.name);
    expect(after.packets - before.packets).toBe(3);
    expect(after.bytes - before.bytes).toBe(reply.length + echoReply.length + request.length - 3 * VNET_HDR_SIZE);
  });

  test('tap_gso_frame_in', async () => {
    const payload = pseudoRandomBytes(62_000, 9);
    const digest = createHash('sha256').update(payload).digest('hex');
    const server = ns.node(`const h=require('crypto').createHash('sha256');let n=0;
      require('net').createServer((s)=>s.on('data',(d)=>{n+=d.length;h.update(d);if(n>=${payload.length})console.log('got',n,h.digest('hex'))}))
      .listen(5001,'198.18.0.1',()=>console.log('ready'));setTimeout(()=>process.exit(0),15000)`);
    try {
      await server.waitFor(/^ready$/);
      const sport = 40000 + (process.pid % 20000);
      const isn = 0x1000_0000;
      // SYN with MSS 1460 and no window scaling: the server's window is then the plain 16-bit one.
      const syn = tcpSegment({ src: PEER_IP, dst: HOST_IP, sport, dport: 5001, seq: isn, ack: 0, flags: TCP_SYN, window: 65535, options: Uint8Array.from([2, 4, 0x05, 0xb4]), checksum: 'full' });
      const synFrame = withVnet(NO_VNET, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(PEER_IP, HOST_IP, 6, syn, 1)));
      const before = await rxStats(name, ns.name);
      tap.write(synFrame, 0, synFrame.length);
      const isTcpToUs = (flags: number) => (f: Uint8Array): boolean => u16(f, ETH + 12) === ETH_IPV4 && f[IP + 9] === 6 && u16(f, L4 + 2) === sport && (f[L4 + 13]! & flags) === flags;
      const synAck = await nextFrame(tap, isTcpToUs(TCP_SYN | TCP_ACK), 5_000, 'the SYN-ACK');
      // TUN_F_CSUM is on, so the stack leaves the TCP checksum to "the device": NEEDS_CSUM with
      // csum_start at the TCP header and csum_offset 16 (the TCP checksum field).
      const synAckHeader = readVnetHeader(synAck);
      expect(synAckHeader.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
      expect(synAckHeader.csumStart).toBe(14 + 20);
      expect(synAckHeader.csumOffset).toBe(16);
      expect(u32(synAck, L4 + 8)).toBe(isn + 1);
      const serverSeq = u32(synAck, L4 + 4);
      const window = u16(synAck, L4 + 14);
      expect(window).toBeGreaterThanOrEqual(payload.length); // else the test would need several segments

      // One ~62 KB TCP frame with a GSO header: the stack takes it as one skb, MSS-sized on the wire.
      const data = tcpSegment({ src: PEER_IP, dst: HOST_IP, sport, dport: 5001, seq: isn + 1, ack: serverSeq + 1, flags: TCP_ACK | TCP_PSH, window: 65535, payload, checksum: 'pseudo' });
      const vnet = new Uint8Array(VNET_HDR_SIZE);
      writeVnetHeader(vnet, 0, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 14 + 20 + 20, gsoSize: 1448, csumStart: 14 + 20, csumOffset: 16 });
      const big = withVnet(vnet, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(PEER_IP, HOST_IP, 6, data, 2)));
      expect(big.length).toBeGreaterThan(60_000);
      expect(tap.write(big, 0, big.length)).toBe(big.length);

      // The server read every byte, in order, intact; and the stack acknowledged all of them.
      const got = await server.waitFor(/^got /);
      expect(got).toBe(`got ${payload.length} ${digest}`);
      const ack = await nextFrame(tap, (f) => isTcpToUs(TCP_ACK)(f) && u32(f, L4 + 8) === isn + 1 + payload.length, 5_000, 'the ACK of all data');
      expect(u32(ack, L4 + 8)).toBe(isn + 1 + payload.length);
      const after = await rxStats(name, ns.name);
      expect(after.packets - before.packets).toBe(2); // the SYN and the one GSO frame
      expect(after.bytes - before.bytes).toBe(synFrame.length + big.length - 2 * VNET_HDR_SIZE);
    } finally {
      server.kill();
    }
  });

  test('tap_readiness_uv_poll', async () => {
    let wakeups = 0;
    let emptyWakeups = 0;
    let totalFrames = 0;
    const replies: number[] = [];
    const buffer = new Uint8Array(4096);
    let wake: () => void = () => undefined;
    tap.onReadable(() => {
      wakeups++;
      let frames = 0;
      for (let n; (n = tap.readInto(buffer, 0, buffer.length)) > 0; frames++) {
        if (isIcmp(0)(buffer.subarray(0, n))) replies.push(u16(buffer, L4 + 6));
      }
      if (frames === 0) emptyWakeups++;
      totalFrames += frames;
      wake();
    });
    try {
      const until = (n: number): Promise<void> => withTimeout(new Promise<void>((resolve) => {
        wake = () => { if (replies.length >= n) resolve(); };
        wake();
      }), 5_000, `${n} echo replies`);
      for (let seq = 100; seq < 104; seq++) {
        const request = echoRequest(seq, pseudoRandomBytes(32, seq));
        tap.write(request, 0, request.length);
        await until(seq - 99);
      }
      expect(replies).toEqual([100, 101, 102, 103]);
      // Let it idle: a level-triggered poll over a drained fd must not fire (no busy loop). Late
      // frames from earlier tests (a closed server's FIN) may still wake it, but never for nothing.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(emptyWakeups).toBe(0);
      expect(wakeups).toBeLessThanOrEqual(totalFrames);
    } finally {
      tap.onReadable(null);
    }
  });

  test('tap_batch_read_write', async () => {
    const count = 8;
    const slot = 2048;
    const out = new Uint8Array(count * slot);
    const descriptors = new Uint32Array(count * 2);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      payloads.push(pseudoRandomBytes(64 + i * 100, 50 + i));
      const frame = echoRequest(200 + i, payloads[i]!);
      out.set(frame, i * slot + 7); // deliberately unaligned offsets
      descriptors[2 * i] = i * slot + 7;
      descriptors[2 * i + 1] = frame.length;
    }
    const before = await rxStats(name, ns.name);
    expect(tap.writeBatch(out, descriptors)).toBe(count);
    expect((await rxStats(name, ns.name)).packets - before.packets).toBe(count);

    const slots = 16;
    const inbuf = new Uint8Array(VNET_HDR_SIZE + slots * slot);
    const lengths = new Uint32Array(slots);
    const seen = new Map<number, Uint8Array>();
    let batches = 0;
    await withTimeout(new Promise<void>((resolve) => {
      tap.onReadable(() => {
        const n = tap.readBatch(inbuf, VNET_HDR_SIZE, slot, lengths);
        if (n > 0) batches++;
        for (let i = 0; i < n; i++) {
          const frame = inbuf.subarray(VNET_HDR_SIZE + i * slot, VNET_HDR_SIZE + i * slot + lengths[i]!);
          if (isIcmp(0)(frame)) seen.set(u16(frame, L4 + 6), frame.slice(L4 + 8));
        }
        if (seen.size >= count) resolve();
      });
    }), 5_000, 'the batch of echo replies').finally(() => tap.onReadable(null));
    for (let i = 0; i < count; i++) expect(seen.get(200 + i), `reply ${200 + i}`).toEqual(payloads[i]);
    expect(batches).toBeLessThanOrEqual(count);
  });

  test('tap_read_wasm_memory', async () => {
    for (const shared of [false, true]) {
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 4, shared });
      const base = 65536 - 100; // a frame straddling the first page boundary
      const payload = pseudoRandomBytes(48, shared ? 11 : 12);
      const request = echoRequest(shared ? 301 : 300, payload);
      new Uint8Array(memory.buffer).set(request, base);
      // Written straight from Wasm memory, read straight into it (SharedArrayBuffer included).
      expect(tap.write(memory.buffer, base, request.length)).toBe(request.length);
      const at = 2 * 65536 - 4096;
      const frame = await withTimeout(new Promise<Uint8Array>((resolve) => {
        tap.onReadable(() => {
          for (let n; (n = tap.readInto(memory.buffer, at, 4096)) > 0;) {
            const bytes = new Uint8Array(memory.buffer, at, n);
            if (isIcmp(0, shared ? 301 : 300)(bytes)) resolve(bytes.slice());
          }
        });
      }), 5_000, 'the echo reply into Wasm memory').finally(() => tap.onReadable(null));
      expect(frame.subarray(L4 + 8)).toEqual(payload);
    }
  });

  test('tap_bounds', async () => {
    const buffer = new Uint8Array(256);
    const before = await rxStats(name, ns.name);
    const usage = (fn: () => unknown, code = 'NETBACK_NATIVE_BOUNDS'): void => {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(NativeUsageError);
        expect((e as NativeUsageError).code).toBe(code);
      }
    };
    usage(() => tap.readInto(buffer, 200, 57));
    usage(() => tap.readInto(buffer, 257, 0));
    usage(() => tap.write(buffer, 0, 257));
    usage(() => tap.write(buffer.subarray(128), 100, 29)); // bounds are the view's, not the ArrayBuffer's
    usage(() => tap.write(buffer, -1, 10), 'NETBACK_NATIVE_BAD_ARGUMENT');
    usage(() => tap.write(buffer, 0.5, 10), 'NETBACK_NATIVE_BAD_ARGUMENT');
    usage(() => tap.write(buffer, Number.NaN, 10), 'NETBACK_NATIVE_BAD_ARGUMENT');
    usage(() => tap.readBatch(buffer, 0, 128, new Uint32Array(3)));
    usage(() => tap.readBatch(buffer, 1, 128, new Uint32Array(2)));
    usage(() => tap.readBatch(buffer, 0, 128, new Uint32Array(2), 3));
    // A batch whose second frame is out of bounds writes nothing at all.
    const request = echoRequest(400, pseudoRandomBytes(16, 1));
    const big = new Uint8Array(1024);
    big.set(request, 0);
    usage(() => tap.writeBatch(big, Uint32Array.from([0, request.length, 1000, 25])));
    usage(() => tap.writeBatch(big, Uint32Array.from([0, request.length]), 2));
    expect((await rxStats(name, ns.name)).packets).toBe(before.packets);
    // Frames the kernel refuses are a typed errno error, not a crash: a GSO header with gso_size 0.
    const vnet = new Uint8Array(VNET_HDR_SIZE);
    writeVnetHeader(vnet, 0, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 0, csumStart: 34, csumOffset: 16 });
    const bad = withVnet(vnet, request.subarray(VNET_HDR_SIZE));
    expect(() => tap.write(bad, 0, bad.length)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'write' }));
  });
});
