// Credit rate limiting over the simulated host on a manual clock. Expected counts are derived by
// hand from netif-protocol.md §6.4: remaining = bytes at connect; at each window edge the parked
// queue gets += bytes, capped at max(131072, bytes); a packet larger than the credit waits.
import { describe, expect, it } from 'vitest';
import { buildFrame } from '../reference/frames.js';
import { MAC1, MAC2, addressed, collect, useManualHosts, udpFrame } from './helpers.js';

const newManualHost = useManualHosts();

async function twoGuests(rate?: string) {
  const { host, clock } = await newManualHost();
  await host.addGuest({ domid: 1, nic: rate === undefined ? {} : { rate } });
  await host.addGuest({ domid: 2 });
  return { host, clock, at2: collect(host, 2), sender: host.guests.get(1)!.netfront, dp: host.dataPaths.get('vif1.0')! };
}

function sendMany(sender: { send: (f: Uint8Array) => { kind: string } }, count: number, length: number): void {
  for (let i = 0; i < count; i++) expect(sender.send(udpFrame(length, MAC2, MAC1, i + 1)).kind).toBe('sent');
}

describe('credit', () => {
  it('credit_windows_admit_exactly_the_rate', async () => {
    // 12500 bytes per 100 ms (1 Mbit/s) and 1000-byte frames: after window edge k the queue has
    // had 12500 × (k + 1) bytes of credit, so floor(12.5 × (k + 1)) frames have passed.
    const { host, clock, at2, sender, dp } = await twoGuests('12500,100000');
    sendMany(sender, 200, 1000);
    await host.settle();
    expect(at2).toHaveLength(12);
    expect(dp.queues[0]!.txParked).toBe(true);
    clock.advance(99);
    await host.settle();
    expect(at2).toHaveLength(12); // inside the first window nothing more
    clock.advance(1);
    await host.settle();
    expect(at2).toHaveLength(25);
    for (let k = 2; k <= 10; k++) {
      clock.advance(100);
      await host.settle();
      expect(at2).toHaveLength(Math.floor(12.5 * (k + 1)));
    }
    expect(at2.every((p) => p.frame.length === 1000)).toBe(true);
    expect(dp.counters().tx_ring_packets).toBe(137);
  });

  it('credit_64k_gso_packet_passes_by_min_burst', async () => {
    // 65000 bytes against 12500 per 100 ms: credit 12500, 25000, ... 75000 at t = 500 ms, which
    // only the 131072-byte minimum burst allows (a burst of `bytes` would never reach it).
    const { host, clock, at2, sender, dp } = await twoGuests('12500,100000');
    const frame = addressed(buildFrame({ ip: 4, l4: 'tcp', payload: 65000 - 54, checksum: 'pseudo' }).frame, MAC2, MAC1);
    expect(frame.length).toBe(65000);
    expect(sender.send(frame, { checksum: 'partial', gso: { type: 'tcpv4', size: 1448 } }).kind).toBe('sent');
    await host.settle();
    expect(at2).toHaveLength(0);
    for (let t = 100; t < 500; t += 100) {
      clock.advance(100);
      await host.settle();
      expect(at2).toHaveLength(0);
      expect(dp.queues[0]!.txCredit).toBe(12500 * (t / 100 + 1));
    }
    clock.advance(99);
    await host.settle();
    expect(at2).toHaveLength(0);
    clock.advance(1);
    await host.settle();
    expect(at2).toHaveLength(1);
    expect([...at2[0]!.frame]).toEqual([...frame]);
    expect(dp.queues[0]!.txCredit).toBe(75000 - 65000);
  });

  it('credit_rerate_clamps_remaining_credit', async () => {
    const { host, clock, at2, sender, dp } = await twoGuests('100000,100000');
    sendMany(sender, 10, 1000);
    await host.settle();
    expect(at2).toHaveLength(10);
    expect(dp.queues[0]!.txCredit).toBe(90000);
    // no timer pending: the remaining 90000 is clamped to the new 5000
    await host.xs.write(`${host.toolstack.backendPath({ domid: 1, devid: 0, backendDomid: 0 })}/rate`, '5000,100000');
    await host.settle();
    expect(dp.queues[0]!.txCredit).toBe(5000);
    sendMany(sender, 10, 1000);
    await host.settle();
    expect(at2).toHaveLength(15);
    clock.advance(100);
    await host.settle();
    expect(at2).toHaveLength(20);
  });

  it('credit_rerate_while_parked_fires_the_timer_now', async () => {
    const { host, clock, at2, sender, dp } = await twoGuests('5000,100000');
    sendMany(sender, 10, 1000);
    await host.settle();
    expect(at2).toHaveLength(5);
    expect(dp.queues[0]!.txParked).toBe(true);
    // mod_timer_pending(jiffies): the window timer fires at once and refills with the new rate
    await host.xs.write(`${host.toolstack.backendPath({ domid: 1, devid: 0, backendDomid: 0 })}/rate`, '1000000,100000');
    await host.settle();
    clock.advance(0);
    await host.settle();
    expect(at2).toHaveLength(10);
    expect(dp.queues[0]!.txCredit).toBe(1000000 - 5000);
  });

  it('credit_rerate_to_unlimited', async () => {
    const { host, clock, at2, sender, dp } = await twoGuests('5000,100000');
    sendMany(sender, 10, 1000);
    await host.settle();
    expect(at2).toHaveLength(5);
    await host.xs.rm(`${host.toolstack.backendPath({ domid: 1, devid: 0, backendDomid: 0 })}/rate`);
    await host.settle();
    clock.advance(0);
    await host.settle();
    expect(at2).toHaveLength(10);
    expect(dp.queues[0]!.txCredit).toBe(Infinity);
  });

  it('credit_unlimited_never_parks', async () => {
    const { host, clock, at2, sender, dp } = await twoGuests();
    const timersBefore = clock.pending;
    sendMany(sender, 200, 1000);
    await host.settle();
    expect(at2).toHaveLength(200);
    expect(dp.queues[0]!.txParked).toBe(false);
    expect(dp.counters().tx_credit_blocked ?? 0).toBe(0);
    expect(clock.pending).toBe(timersBefore);
  });
});
