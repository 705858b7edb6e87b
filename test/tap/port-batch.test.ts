// TapPort's batches against the real kernel: frames for the TAP wait in transmit() until flush()
// writes them in one batch (drops found then are counted then), and reads take at most what the
// receiver has room for, leaving the rest in the TAP's queue until resume(). The TAP lives in a
// network namespace of this file's own, where the kernel answers the echo requests written to it.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PacketReceiver } from '../../src/backend/datapath.js';
import { loadNative } from '../../src/tap/native.js';
import { TapPort } from '../../src/tap/port.js';
import { VNET_HDR_SIZE, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, writeVnetHeader } from '../../src/tap/vnet-header.js';
import { pseudoRandomBytes } from '../reference/frames.js';
import {
  announceSkip, ETH_IPV4, ethernet, icmpEcho, ip, ipv4, ipv4Packet, linkJson, parseMac, rxStats, TestNetns, uniqueName, withTimeout,
  withVnet,
} from './env.js';

const skip = announceSkip('test/tap/port-batch.test.ts (real TAP + network namespace)');

const HOST_IP = ipv4('198.18.1.1');
const PEER_MAC = parseMac('02:00:5e:10:01:04');
const PEER_IP = ipv4('198.18.1.4');
const NO_VNET = new Uint8Array(VNET_HDR_SIZE);
const ICMP_ID = 0x5042;
const ICMP_AT = VNET_HDR_SIZE + 14 + 20;

const isEchoReply = (f: Uint8Array): boolean => f.length >= ICMP_AT + 8 && f[VNET_HDR_SIZE + 23] === 1 && f[ICMP_AT] === 0
  && ((f[ICMP_AT + 4]! << 8) | f[ICMP_AT + 5]!) === ICMP_ID;

describe.skipIf(skip).each(['io_uring', 'syscalls'] as const)('TapPort batches (%s)', (mode) => {
  const ns = new TestNetns();
  const name = uniqueName('wnbp');
  let port: TapPort;
  let hostMac: Uint8Array;

  const echoRequest = (seq: number, header = NO_VNET): Uint8Array =>
    withVnet(header, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(PEER_IP, HOST_IP, 1, icmpEcho(8, ICMP_ID, seq, pseudoRandomBytes(40, seq)), seq)));

  /** Queues the frames in transmit() from one buffer, as a queue does from its Wasm memory. */
  const transmitAll = (frames: Uint8Array[]): void => {
    const memory = new Uint8Array(frames.length * 256);
    frames.forEach((frame, i) => {
      memory.set(frame, i * 256);
      expect(port.transmit(memory, i * 256, frame.length)).toBe(true);
    });
  };

  beforeAll(async () => {
    expect(loadNative().tapBatchMode!(mode)).toBe(mode);
    await ns.create();
    port = TapPort.open(name, { mtu: 1500 });
    await ip('link', 'set', 'dev', name, 'netns', ns.name);
    await ip('-n', ns.name, 'addr', 'add', '198.18.1.1/24', 'dev', name);
    await ip('-n', ns.name, 'link', 'set', 'dev', name, 'up');
    await ip('-n', ns.name, 'neigh', 'replace', '198.18.1.4', 'lladdr', '02:00:5e:10:01:04', 'dev', name, 'nud', 'permanent');
    hostMac = parseMac(String((await linkJson(name, ns.name))?.address));
  });

  afterAll(async () => {
    await port?.close();
    await ns.destroy();
  });

  test('tap_port_transmit_waits_for_flush', async () => {
    const refused = new Uint8Array(VNET_HDR_SIZE);
    writeVnetHeader(refused, 0, { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 0, csumStart: 34, csumOffset: 16 });
    const before = await rxStats(name, ns.name);
    const stats = { ...port.stats };
    transmitAll([echoRequest(1), echoRequest(2, refused), echoRequest(3)]);
    expect((await rxStats(name, ns.name)).packets).toBe(before.packets);
    expect(port.flush()).toBe(1);
    expect((await rxStats(name, ns.name)).packets - before.packets).toBe(2);
    expect(port.stats.txFrames - stats.txFrames).toBe(2);
    expect(port.stats.txDropped - stats.txDropped).toBe(1);
    expect(port.flush()).toBe(0);
  });

  test('tap_port_reads_what_the_receiver_has_room_for', async () => {
    const taken: Uint8Array[] = []; // every frame the port delivered (the first test's replies too)
    let limit = 3;
    let wakes = 0;
    const receiver: PacketReceiver = {
      receive: (frame) => {
        taken.push(frame.slice());
        return true;
      },
      wake: () => wakes++,
      room: () => Math.max(0, limit - taken.length),
    };
    const seqs = (): number[] => taken.filter(isEchoReply).map((f) => (f[ICMP_AT + 6]! << 8) | f[ICMP_AT + 7]!);
    // the kernel answers each request into the TAP's queue before we look
    transmitAll(Array.from({ length: 8 }, (_, i) => echoRequest(10 + i)));
    expect(port.flush()).toBe(0);
    const paused = port.stats.rxPaused;
    port.setReceiver(receiver);
    await withTimeout(new Promise<void>((resolve) => {
      const check = (): void => (port.stats.rxPaused > paused ? resolve() : void setTimeout(check, 10));
      check();
    }), 5_000, 'the port pausing at the receiver limit');
    expect(taken.length).toBe(3);
    expect(wakes).toBeGreaterThan(0);
    limit = Infinity;
    port.resume();
    await withTimeout(new Promise<void>((resolve) => {
      const check = (): void => (seqs().includes(17) ? resolve() : void setTimeout(check, 10));
      check();
    }), 5_000, 'the other five replies after resume()');
    port.setReceiver(undefined);
    // in order, none lost or repeated
    expect(seqs().filter((seq) => seq >= 10)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
  });
});
