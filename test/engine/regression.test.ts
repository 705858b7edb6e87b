// Engine bugs found by the real-stack end-to-end suite (tap-e2e.test.ts), each pinned down here
// on the simulated host where it reproduces deterministically.
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { PacketPort, PacketReceiver } from '../../src/backend/datapath.js';
import { compileKernels, readKernels } from '../../src/index.js';
import { SimHost } from '../../src/sim/host.js';
import type { NetfrontPacket } from '../../src/xen/sim/netfront.js';
import { buildFrame, l4ChecksumValid } from '../reference/frames.js';

let kernels: WebAssembly.Module;
let host: SimHost | undefined;

beforeAll(async () => { kernels = await compileKernels(await readKernels()); });
afterEach(async () => {
  const current = host;
  host = undefined;
  await current?.close();
});

const MAC1 = [0x00, 0x16, 0x3e, 0, 1, 0];
const MAC2 = [0x00, 0x16, 0x3e, 0, 2, 0];

function addressed(frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  copy.set(MAC2, 0);
  copy.set(MAC1, 6);
  return copy;
}

// A checksum-partial frame for a frontend without checksum offload is completed in Wasm, in
// place. When the guest had no RX buffer posted the frame waited in the backlog and was mapped
// (and completed) again once buffers came: the second completion turned the field back into
// the pseudo-header sum, and the frame reached the guest marked data_validated with a wrong
// checksum (seen as TCP InCsumErrors in a real guest stack).
it('regression_rx_sw_csum_not_redone_after_waiting_for_buffers', async () => {
  host = new SimHost({ kernels });
  await host.start();
  await host.addGuest({ domid: 1 });
  const g2 = await host.addGuest({ domid: 2, features: { noCsumOffload: true } });
  const got: NetfrontPacket[] = [];
  g2.netfront.on('receive', (packet) => got.push(packet));
  const g1 = host.guests.get(1)!.netfront;

  // use up every RX buffer guest 2 has posted, and let it post no more
  g2.netfront.setRxBufferLimit(0);
  const filler = addressed(buildFrame({ ip: 4, l4: 'udp', payload: 32, checksum: 'full' }).frame);
  for (let sent = 0; g2.netfront.rxPosted() > 0 && sent < 1024; sent++) {
    if (g1.send(filler, { checksum: 'validated' }).kind !== 'sent') await host.settle();
    if (sent % 32 === 31) await host.settle();
  }
  await host.settle();
  expect(g2.netfront.rxPosted()).toBe(0);
  got.length = 0;

  const frame = addressed(buildFrame({ ip: 4, l4: 'tcp', payload: 700, checksum: 'pseudo' }).frame);
  expect(g1.send(frame, { checksum: 'partial' }).kind).toBe('sent');
  await host.settle();
  expect(got).toHaveLength(0);
  expect(host.dataPaths.get('vif2.0')!.queues[0]!.backlogLength).toBe(1);

  g2.netfront.setRxBufferLimit(256);
  g2.netfront.refill();
  await host.settle();
  expect(got).toHaveLength(1);
  expect(got[0]!.checksum).toBe('validated');
  expect(l4ChecksumValid(got[0]!.frame)).toBe(true);
  expect(host.dataPaths.get('vif2.0')!.counters().rx_sw_csum).toBe(1);
});

/** A vif interface the test feeds by hand, like a TAP whose reads the engine drives. */
class HandPort implements PacketPort {
  readonly sink = this;
  readonly offloads = { csum: true, tso4: true, tso6: true };
  receiver: PacketReceiver | undefined;
  resumes = 0;
  constructor(readonly name: string) {}
  transmit(): boolean { return true; }
  setReceiver(receiver: PacketReceiver | undefined): void { this.receiver = receiver; }
  resume(): void { this.resumes++; }
  async close(): Promise<void> { this.receiver = undefined; }
}

// With a guest slower than the host, frames from the TAP were read and then dropped at the
// 512 KiB backlog cap (rxBacklogDrops; ~10% TCP retransmits in the real-stack test). Linux stops
// the vif's queue instead and wakes it when the guest takes frames; the engine now says
// ready() = false so the port leaves frames in the TAP, and resume()s it after RX progress.
// see: rx.c xenvif_rx_queue_tail, xenvif_rx_queue_maybe_wake
it('regression_full_backlog_holds_the_port_back_instead_of_dropping', async () => {
  const ports = new Map<string, HandPort>();
  host = new SimHost({
    kernels,
    interfaces: { create: async (name) => { const port = new HandPort(name); ports.set(name, port); return port; } },
  });
  await host.start();
  const guest = await host.addGuest({ domid: 3 });
  const got: NetfrontPacket[] = [];
  guest.netfront.on('receive', (packet) => got.push(packet));
  const port = ports.get('vif3.0')!;
  const receiver = port.receiver!;
  guest.netfront.setRxBufferLimit(0); // the guest is slow: no more buffers after the posted ones

  const frame = new Uint8Array(10 + 1514);
  frame.set(addressed(buildFrame({ ip: 4, l4: 'udp', payload: 1472, checksum: 'full' }).frame), 10);
  let offered = 0;
  while (receiver.ready!() && offered < 2000) {
    expect(receiver.receive(frame)).toBe(true);
    offered++;
    if (offered % 64 === 0) { receiver.wake(); await host.settle(2); }
  }
  receiver.wake();
  await host.settle();
  // the port was told to hold back before anything had to be dropped
  expect(receiver.ready!()).toBe(false);
  expect(host.dataPaths.get('vif3.0')!.counters().rxBacklogDrops).toBe(0);
  const resumesBefore = port.resumes;

  // the guest catches up: RX progress resumes the port, and everything offered arrives
  for (let round = 0; round < 100 && got.length < offered; round++) {
    guest.netfront.setRxBufferLimit(256);
    guest.netfront.refill();
    await host.settle(2);
  }
  expect(port.resumes).toBeGreaterThan(resumesBefore);
  expect(receiver.ready!()).toBe(true);
  expect(got).toHaveLength(offered);
});

// A GSO frame for a frontend without GSO is segmented in Wasm; one needing more slots than the
// ring has (small MSS: hundreds of segments) was dropped outright, every time the host resent
// it (25% of a small-MSS TCP stream retransmitted in the real-stack test). Linux segments it in
// the host stack and queues every segment; the engine now delivers it in parts.
it('regression_gso_frame_larger_than_the_ring_is_delivered_in_parts', async () => {
  host = new SimHost({ kernels });
  await host.start();
  await host.addGuest({ domid: 1 });
  const g2 = await host.addGuest({ domid: 2, features: { gsoTcpv4: false, gsoTcpv6: false } });
  const got: NetfrontPacket[] = [];
  g2.netfront.on('receive', (packet) => got.push(packet));
  const mss = 88;
  const segments = 600; // > 256 ring slots
  const built = buildFrame({ ip: 4, l4: 'tcp', payload: segments * mss - 5, checksum: 'pseudo' });
  const frame = addressed(built.frame);
  expect(host.guests.get(1)!.netfront.send(frame, { checksum: 'partial', gso: { type: 'tcpv4', size: mss } }).kind).toBe('sent');
  for (let round = 0; round < 50 && got.length < segments; round++) await host.settle(5);
  expect(got).toHaveLength(segments);
  const payload: number[] = [];
  for (const packet of got) {
    expect(packet.gso).toBeUndefined();
    expect(l4ChecksumValid(packet.frame)).toBe(true);
    payload.push(...packet.frame.subarray(built.l4 + 20, packet.frame.length));
  }
  expect(payload).toEqual([...frame.subarray(built.payloadOffset)]);
  const counters = host.dataPaths.get('vif2.0')!.counters();
  expect(counters.rxOffloadDrops).toBe(0);
  expect(counters.rxSoftwareSegments).toBe(segments);
  expect(counters.rxFrames).toBe(1);
});
