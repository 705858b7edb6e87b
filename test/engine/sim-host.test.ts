// The real engine end to end over the simulated host: Linux-like netfronts → rings → Wasm
// kernels → the in-process bridge → another vif → its netfront.
import { describe, expect, it } from 'vitest';
import { buildFrame, ipv4HeaderChecksumValid, l4ChecksumValid, parseFrame } from '../reference/frames.js';
import { BROADCAST, MAC1, MAC2, addressed, collect, kernels, useSimHosts } from './helpers.js';

const newHost = useSimHosts();
let busyReadings = 0;
/** A busy clock that advances 1000 per reading: every span measured with it is a whole multiple. */
const newCountingHost = useSimHosts({ busyClock: () => 1000 * busyReadings++ });

describe('engine over the simulated host', () => {
  it('engine_two_guests_broadcast_then_unicast', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    const at1 = collect(h, 1);
    const at2 = collect(h, 2);
    const arp = new Uint8Array(42);
    arp.set(BROADCAST, 0); arp.set(MAC1, 6); arp[12] = 0x08; arp[13] = 0x06; arp.fill(7, 14);
    expect(h.guests.get(1)!.netfront.send(arp).kind).toBe('sent');
    await h.settle();
    expect(at2.map((p) => [...p.frame])).toEqual([[...arp]]);
    const reply = addressed(buildFrame({ ip: 4, l4: 'udp', payload: 100, checksum: 'full' }).frame, MAC1, MAC2);
    expect(h.guests.get(2)!.netfront.send(reply, { checksum: 'validated' }).kind).toBe('sent');
    await h.settle();
    expect(at1).toHaveLength(1);
    expect([...at1[0]!.frame]).toEqual([...reply]);
    expect(at1[0]!.checksum).toBe('validated');
    const counters = h.dataPaths.get('vif1.0')!.counters();
    expect(counters.tx_ring_packets).toBe(1);
    expect(counters.rx_ring_packets).toBe(1);
  });

  it('engine_gso_passes_through_to_a_gso_frontend', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    const at2 = collect(h, 2);
    const frame = addressed(buildFrame({ ip: 4, l4: 'tcp', payload: 45 * 1448, tcpOptionBytes: 12, checksum: 'pseudo' }).frame, MAC2, MAC1);
    expect(h.guests.get(1)!.netfront.send(frame, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } }).kind).toBe('sent');
    await h.settle();
    expect(at2).toHaveLength(1);
    expect(at2[0]!.gso).toMatchObject({ type: 'tcpv4', size: 1448 });
    expect(at2[0]!.checksum).toBe('partial');
    expect([...at2[0]!.frame]).toEqual([...frame]);
  });

  it('engine_gso_is_segmented_for_a_frontend_without_gso', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2, features: { gsoTcpv4: false, gsoTcpv6: false } });
    const at2 = collect(h, 2);
    const built = buildFrame({ ip: 6, l4: 'tcp', payload: 20 * 1428 + 7, checksum: 'pseudo' });
    const frame = addressed(built.frame, MAC2, MAC1);
    expect(h.guests.get(1)!.netfront.send(frame, { checksum: 'partial', gso: { type: 'tcpv6', size: 1428 } }).kind).toBe('sent');
    await h.settle();
    expect(at2).toHaveLength(21);
    const payload: number[] = [];
    for (const packet of at2) {
      expect(packet.gso).toBeUndefined();
      expect(packet.checksum).toBe('validated');
      expect(l4ChecksumValid(packet.frame)).toBe(true);
      const parsed = parseFrame(packet.frame);
      const tcpHeader = (packet.frame[parsed.l4 + 12]! >> 4) * 4;
      payload.push(...packet.frame.subarray(parsed.l4 + tcpHeader, parsed.l4End));
    }
    expect(payload).toEqual([...frame.subarray(built.payloadOffset)]);
    expect(h.dataPaths.get('vif2.0')!.counters().rxSoftwareSegments).toBe(21);
  });

  it('engine_checksum_completed_for_a_frontend_without_csum_offload', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2, features: { noCsumOffload: true } });
    const at2 = collect(h, 2);
    const frame = addressed(buildFrame({ ip: 4, l4: 'udp', payload: 999, checksum: 'pseudo' }).frame, MAC2, MAC1);
    h.guests.get(1)!.netfront.send(frame, { checksum: 'partial' });
    await h.settle();
    expect(at2).toHaveLength(1);
    expect(at2[0]!.checksum).toBe('validated');
    expect(l4ChecksumValid(at2[0]!.frame)).toBe(true);
    expect(ipv4HeaderChecksumValid(at2[0]!.frame)).toBe(true);
  });

  it('engine_fatal_frontend_disables_only_its_vif', async () => {
    const h = await newHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    await h.addGuest({ domid: 3 });
    const at2 = collect(h, 2);
    // guest 3 publishes a 22-slot chain (>= fatal_skb_slots following slots: fatal)
    const raw = h.guests.get(3)!.netfront.hostile(0);
    const start = raw.txRing.reqProd;
    for (let i = 0; i < 22; i++) {
      raw.writeTxRequest(start + i, { gref: raw.grant(true), offset: 0, flags: i < 21 ? 0x4 : 0, id: i, size: i === 0 ? 22 * 100 : 100 });
    }
    raw.setTxReqProd(start + 22);
    raw.notifyTx();
    await h.settle();
    expect(h.dataPaths.get('vif3.0')!.disabled?.code).toBe('NETBACK_FATAL_TOO_MANY_SLOTS');
    expect(h.dataPaths.get('vif1.0')!.disabled).toBeUndefined();
    // the others keep passing traffic
    const frame = addressed(buildFrame({ ip: 4, l4: 'udp', payload: 64, checksum: 'full' }).frame, MAC2, MAC1);
    h.guests.get(1)!.netfront.send(frame, { checksum: 'validated' });
    await h.settle();
    expect(at2.some((p) => p.frame.length === frame.length && p.frame.every((b, i) => b === frame[i]))).toBe(true);
  });

  it('engine_times_its_work_with_the_injected_busy_clock', async () => {
    // the daemon hands queues a coarse clock (no system call per event); a clock that only moves
    // in steps of 1000 shows every event and poll was timed with it and with nothing else
    const h = await newCountingHost();
    await h.addGuest({ domid: 1 });
    await h.addGuest({ domid: 2 });
    const busy = () => [...h.dataPaths.values()].flatMap((dp) => dp.queues).reduce((sum, q) => sum + q.stats.busyMs, 0);
    const before = busy();
    const readings = busyReadings;
    for (let i = 0; i < 20; i++) expect(h.guests.get(1)!.netfront.send(addressed(buildFrame({ ip: 4, l4: 'udp', payload: 64, checksum: 'full' }).frame, MAC2, MAC1)).kind).toBe('sent');
    await h.settle();
    const spent = busy() - before;
    expect(busyReadings - readings).toBeGreaterThanOrEqual(2);
    expect(spent).toBeGreaterThanOrEqual(1000);
    expect(spent % 1000).toBe(0);
  });
});
