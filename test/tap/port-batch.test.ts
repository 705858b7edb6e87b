// TapPort's batched I/O against the real kernel: frames the host stack sends are read in batches
// (one readFrames call each) and handed to the receiver one by one, each only when it has room,
// so a full receiver holds them back instead of dropping them; transmitBatch writes a batch in
// one writeFrames call and drops only a frame the kernel refuses. Both ways the addon can batch:
// through io_uring (a batch per system call) and a system call per frame.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PacketReceiver } from '../../src/backend/datapath.js';
import { VNET_HDR_SIZE } from '../../src/backend/vnet-header.js';
import { TapPort } from '../../src/tap/port.js';
import { tapBatchMode } from '../../src/tap/tap.js';
import type { TapBatchMode } from '../../src/native/addon.js';
import { announceSkip, ETH_IPV4, ethernet, icmpEcho, ip, ipv4, ipv4Packet, linkJson, parseMac, TestNetns, uniqueName, withTimeout, withVnet, placeTapHostSide, TAP_HOST_ADDRESS, TAP_PEER_ADDRESS, TAP_PEER_MAC_TEXT } from './env.js';

const skip = announceSkip('test/tap/port-batch.test.ts (real TAP + network namespace)');

const HOST_IP = ipv4(TAP_HOST_ADDRESS);
const PEER_MAC = parseMac(TAP_PEER_MAC_TEXT);
const PEER_IP = ipv4(TAP_PEER_ADDRESS);
const UDP_PORT = 9;

/** Takes frames while `room` > 0; counts how often the port is woken and resumed. */
class GatedReceiver implements PacketReceiver {
  readonly payloads: string[] = [];
  room = 0;
  wakes = 0;
  ready(): boolean {
    return this.room > 0;
  }
  receive(frame: Uint8Array): boolean {
    this.room--;
    const ip = VNET_HDR_SIZE + 14;
    if (frame.length > ip + 28 && frame[ip + 9] === 17) this.payloads.push(new TextDecoder().decode(frame.subarray(ip + 28)));
    return true;
  }
  wake(): void {
    this.wakes++;
  }
}

const until = async (check: () => boolean, what: string): Promise<void> => withTimeout((async () => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
})(), 10_000, what);

describe.skipIf(skip).each(['io_uring', 'syscalls'] as const)('TapPort batched I/O, TAP batches by %s', (mode: TapBatchMode) => {
  const ns = new TestNetns();
  const name = uniqueName('wnbp');
  let port: TapPort;
  let hostMac: Uint8Array;

  beforeAll(async () => {
    await ns.create();
    port = TapPort.open(name, { mtu: 1500 });
    hostMac = await placeTapHostSide(name, ns);
    tapBatchMode(mode);
  });

  afterAll(async () => {
    // which mode the batches ran in: io_uring unless this kernel's tun refuses RWF_NOWAIT (then the
    // addon fell back to a system call per frame, and that is what was tested)
    const ran = tapBatchMode();
    if (mode === 'io_uring' && ran !== mode) console.warn(`test/tap/port-batch.test.ts: io_uring TAP batches not available here (${ran}): the fallback was tested twice`);
    else expect(ran).toBe(mode);
    tapBatchMode('io_uring');
    await port?.close();
    await ns.destroy();
    expect(await linkJson(name)).toBeUndefined();
  });

  test('port_read_batch_full_receiver_holds_frames_until_resume', async () => {
    const receiver = new GatedReceiver();
    receiver.room = 5;
    port.setReceiver(receiver);
    const count = 80;
    const sender = ns.node(`const s=require('dgram').createSocket('udp4');let i=0;
const next=()=>{if(i===${count}){console.log('sent');return}s.send('wnb-'+(i++),${UDP_PORT},'198.18.0.4',next)};next();setTimeout(()=>process.exit(0),8000)`);
    try {
      await sender.waitFor(/^sent$/);
      await until(() => receiver.payloads.length >= 5, 'the first five frames');
      await new Promise((resolve) => setTimeout(resolve, 200));
      // the receiver is full: the port stopped, no frame went past it or was dropped
      expect(receiver.payloads).toEqual(['wnb-0', 'wnb-1', 'wnb-2', 'wnb-3', 'wnb-4']);
      expect(port.stats.rxPaused).toBeGreaterThan(0);
      expect(port.stats.rxDropped).toBe(0);
      receiver.room = Infinity;
      port.resume();
      await until(() => receiver.payloads.length >= count, `all ${count} frames`);
      expect(receiver.payloads).toEqual(Array.from({ length: count }, (_, i) => `wnb-${i}`));
      expect(port.stats.rxDropped).toBe(0);
      expect(receiver.wakes).toBeGreaterThan(0);
    } finally {
      sender.kill();
      port.setReceiver(undefined);
    }
  });

  test('port_transmit_batch_drops_only_the_refused_frame', async () => {
    const inEchos = async (): Promise<number> => {
      const [names, values] = (await ns.exec('cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(/\s+/));
      return Number(values![names!.indexOf('InEchos')]);
    };
    const echo = (seq: number, gsoType = 0): Uint8Array => {
      const header = new Uint8Array(VNET_HDR_SIZE);
      header[1] = gsoType;
      return withVnet(header, ethernet(hostMac, PEER_MAC, ETH_IPV4, ipv4Packet(PEER_IP, HOST_IP, 1, icmpEcho(8, 0x574e, seq, new Uint8Array(32)), seq)));
    };
    // gso_type 7 is no type the kernel knows: tun refuses that write with EINVAL
    const frames = [echo(1), echo(2, 7), echo(3), echo(4)];
    const bytes = new Uint8Array(4096);
    const descriptors = new Uint32Array(2 * frames.length);
    let at = 0;
    frames.forEach((frame, i) => {
      bytes.set(frame, at);
      descriptors[2 * i] = at;
      descriptors[2 * i + 1] = frame.length;
      at += frame.length;
    });
    const before = { echos: await inEchos(), ...port.stats };
    expect(port.transmitBatch(bytes, descriptors, frames.length)).toBe(3);
    expect(port.stats.txFrames - before.txFrames).toBe(3);
    expect(port.stats.txDropped - before.txDropped).toBe(1);
    expect(await inEchos()).toBe(before.echos + 3);
  });
});
