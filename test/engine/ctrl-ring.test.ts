// The control ring end to end over the simulated host: a guest that, like Windows PV drivers,
// publishes ctrl-ring-ref / event-channel-ctrl configures Toeplitz hashing through the real
// backend; frames for it are then steered to the queue its mapping table names and arrive with a
// HASH extra. Expected hashes are Microsoft's RSS verification vectors; expected queues follow
// from the mapping table the test wrote (interface.c xenvif_select_queue).
import { describe, expect, it } from 'vitest';
import type { SimHost } from '../../src/sim/host.js';
import { CTRL_STATUS, CTRL_TYPE } from '../../src/xen/sim/ctrl-frontend.js';
import { buildFrame, type FrameSpec } from '../reference/frames.js';
import { ipv4Bytes, MS_RSS_KEY as MS_KEY, RSS_IPV4 } from '../reference/rss-vectors.js';
import { MAC1, collect, kernels, useSimHosts } from './helpers.js';

const newHost = useSimHosts();

const IPV4 = RSS_IPV4.map(([dst, dport, src, sport, ipOnly, ipTcp]) => [ipv4Bytes(dst), dport, ipv4Bytes(src), sport, ipOnly, ipTcp] as const);
const MAPPING = [3, 2, 1, 0, 0, 1, 2, 3];

/** A frame to `dstMac` with the vector's addresses and ports. */
function flowFrame(spec: FrameSpec, dstMac: number[], row: (typeof IPV4)[number]): Uint8Array {
  const [dst, dport, src, sport] = row;
  const built = buildFrame(spec);
  const f = built.frame;
  f.set(dstMac, 0);
  f.set(MAC1, 6);
  f.set(src, built.l3 + 12);
  f.set(dst, built.l3 + 16);
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], built.l4);
  return f;
}

/** The MAC the toolstack gave guest `domid` (read back from xenstore, not assumed). */
async function macOf(h: SimHost, domid: number): Promise<number[]> {
  const mac = await h.xs.read(`${h.toolstack.backendPath({ domid, devid: 0, backendDomid: h.backendDomid })}/mac`);
  return mac!.split(':').map((x) => parseInt(x, 16));
}

describe('control ring end to end', () => {
  it('ctrl_ring_configures_hashing_and_steers', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    const guest = await h.addGuest({ domid: 2, queues: 4, ctrlRing: true });
    const ctrl = guest.ctrl!;
    const at2 = collect(h, 2);
    const mac2 = await macOf(h, 2);

    expect((await ctrl.request(CTRL_TYPE.GET_HASH_FLAGS)).status).toBe(CTRL_STATUS.NOT_SUPPORTED);
    expect((await ctrl.setAlgorithm(1)).status).toBe(CTRL_STATUS.SUCCESS);
    expect(await ctrl.request(CTRL_TYPE.GET_HASH_FLAGS)).toMatchObject({ status: CTRL_STATUS.SUCCESS, data: 0xf });
    expect((await ctrl.setFlags(0x3)).status).toBe(CTRL_STATUS.SUCCESS);
    expect((await ctrl.setKey(MS_KEY)).status).toBe(CTRL_STATUS.SUCCESS);
    expect(await ctrl.request(CTRL_TYPE.GET_HASH_MAPPING_SIZE)).toMatchObject({ status: CTRL_STATUS.SUCCESS, data: 128 });
    expect((await ctrl.setMappingSize(MAPPING.length)).status).toBe(CTRL_STATUS.SUCCESS);
    expect((await ctrl.setMapping(MAPPING)).status).toBe(CTRL_STATUS.SUCCESS);
    // queue 4 does not exist: rejected, the table stays
    expect((await ctrl.setMapping([4], 0)).status).toBe(CTRL_STATUS.INVALID_PARAMETER);
    expect(h.grants.liveGrants(2)).toBeGreaterThan(0);

    const sender = h.guests.get(1)!.netfront;
    for (const row of IPV4) {
      expect(sender.send(flowFrame({ ip: 4, l4: 'tcp', payload: 64, checksum: 'full' }, mac2, row), { checksum: 'validated' }).kind).toBe('sent');
      await h.settle();
    }
    expect(at2).toHaveLength(IPV4.length);
    expect(guest.dataPath()!.ctrlRing!.mapping()).toEqual(MAPPING);
    IPV4.forEach((row, i) => {
      const ipTcp = row[5];
      expect(at2[i]!.hash, `row ${i}`).toEqual({ type: 1, algorithm: 1, value: ipTcp });
      expect(at2[i]!.queue, `row ${i}`).toBe(MAPPING[ipTcp % MAPPING.length]);
    });
    // UDP with TCP+IPv4 enabled: the IPv4-only hash and its queue
    const udp = IPV4[1]!;
    sender.send(flowFrame({ ip: 4, l4: 'udp', payload: 64, checksum: 'full' }, mac2, udp), { checksum: 'validated' });
    await h.settle();
    expect(at2[5]!.hash).toEqual({ type: 0, algorithm: 1, value: udp[4] });
    expect(at2[5]!.queue).toBe(MAPPING[udp[4] % MAPPING.length]);
    const counters = h.dataPaths.get('vif2.0')!.counters();
    expect(counters.ctrl_requests).toBe(9);
    expect(counters.ctrl_rejected).toBe(2);
  });

  it('ctrl_ring_gso_frame_carries_hash_and_gso', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    const guest = await h.addGuest({ domid: 2, queues: 2, ctrlRing: true });
    const ctrl = guest.ctrl!;
    const at2 = collect(h, 2);
    await ctrl.setAlgorithm(1);
    await ctrl.setFlags(0x2);
    await ctrl.setKey(MS_KEY);
    const row = IPV4[2]!;
    const frame = flowFrame({ ip: 4, l4: 'tcp', payload: 20 * 1448, checksum: 'pseudo' }, await macOf(h, 2), row);
    expect(h.guests.get(1)!.netfront.send(frame, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } }).kind).toBe('sent');
    await h.settle();
    expect(at2).toHaveLength(1);
    expect(at2[0]!.gso).toMatchObject({ type: 'tcpv4', size: 1448 });
    expect(at2[0]!.hash).toEqual({ type: 1, algorithm: 1, value: row[5] });
    // no mapping table: hash % queues
    expect(at2[0]!.queue).toBe(row[5] % 2);
  });

  it('ctrl_ring_algorithm_none_stops_hash_extras', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    const guest = await h.addGuest({ domid: 2, queues: 2, ctrlRing: true });
    const ctrl = guest.ctrl!;
    const at2 = collect(h, 2);
    const mac2 = await macOf(h, 2);
    await ctrl.setAlgorithm(1);
    await ctrl.setFlags(0x3);
    await ctrl.setKey(MS_KEY);
    const sender = h.guests.get(1)!.netfront;
    sender.send(flowFrame({ ip: 4, l4: 'tcp', payload: 64, checksum: 'full' }, mac2, IPV4[0]!), { checksum: 'validated' });
    await h.settle();
    expect(at2[0]!.hash?.value).toBe(IPV4[0]![5]);
    expect((await ctrl.setAlgorithm(0)).status).toBe(CTRL_STATUS.SUCCESS);
    sender.send(flowFrame({ ip: 4, l4: 'tcp', payload: 64, checksum: 'full' }, mac2, IPV4[0]!), { checksum: 'validated' });
    await h.settle();
    expect(at2).toHaveLength(2);
    expect(at2[1]!.hash).toBeUndefined();
  });

  it('ctrl_ring_absent_nothing_changes', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    const guest = await h.addGuest({ domid: 3, queues: 4 });
    expect(guest.ctrl).toBeUndefined();
    expect(guest.dataPath()!.ctrlRing).toBeUndefined();
    const at3 = collect(h, 3);
    const mac3 = await macOf(h, 3);
    const sender = h.guests.get(1)!.netfront;
    for (let i = 0; i < 3; i++) {
      for (const row of IPV4) sender.send(flowFrame({ ip: 4, l4: 'tcp', payload: 64, checksum: 'full' }, mac3, row), { checksum: 'validated' });
      await h.settle();
    }
    expect(at3).toHaveLength(3 * IPV4.length);
    expect(at3.every((p) => p.hash === undefined)).toBe(true);
    // one flow, one queue
    IPV4.forEach((_, r) => {
      const queues = new Set([0, 1, 2].map((round) => at3[round * IPV4.length + r]!.queue));
      expect(queues.size).toBe(1);
    });
  });

  it('ctrl_ring_reconnect_starts_without_hashing', async () => {
    const h = await newHost();
    const guest = await h.addGuest({ domid: 2, queues: 2, ctrlRing: true });
    await guest.ctrl!.setAlgorithm(1);
    expect(guest.dataPath()!.ctrlRing!.algorithm).toBe(1);
    await guest.dataPath()!.disconnect();
    expect(guest.dataPath()!.ctrlRing).toBeUndefined();
    expect(h.grants.inUse(2, guest.ctrl!.ring.ref)).toBe(false);
  });
});
