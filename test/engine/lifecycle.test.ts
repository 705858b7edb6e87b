// Detach and re-attach a guest 50 times on a live host: every cycle leaves its rate timer and RX
// drain timer armed and a frame in the backlog, and the host must end with nothing leaked.
import { describe, expect, it } from 'vitest';
import { MAC1, MAC2, collect, manualHost, udpFrame } from './helpers.js';

describe('engine lifecycle', () => {
  it('engine_detach_reattach_50_times_leaks_nothing', async () => {
    const { host, clock } = await manualHost();
    await host.addGuest({ domid: 1 });
    const baseline = {
      mapped: host.grants.mappedPages(),
      backendPorts: host.channels.openPorts(host.backendDomid),
      timers: clock.pending,
    };
    const sender = host.guests.get(1)!.netfront;
    for (let cycle = 0; cycle < 50; cycle++) {
      await host.addGuest({ domid: 2, pollMode: 'manual', nic: { rate: '2000,100000' } });
      const guest = host.guests.get(2)!;
      const at2 = collect(host, 2);
      const posted = guest.netfront.rxPosted();
      // RX: fill the posted buffers and leave one frame waiting (drain timer armed)
      for (let i = 0; i < posted + 1; i++) {
        sender.send(udpFrame(64, MAC2, MAC1, i + 1));
        if (i % 100 === 99) await host.settle();
      }
      await host.settle();
      expect(host.dataPaths.get('vif2.0')!.counters().rx_ring_packets).toBe(posted);
      guest.netfront.poll(0, 64); // the guest takes some (and reposts, which lets the waiting one in)
      expect(at2.length).toBe(64);
      await host.settle();
      for (let i = 0; i < 100 && host.dataPaths.get('vif2.0')!.queues[0]!.backlogLength === 0; i++) {
        sender.send(udpFrame(64, MAC2, MAC1, 1000 + i));
        await host.settle(2);
      }
      // TX: more than the 2000-byte credit, so the window timer is armed
      for (let i = 0; i < 3; i++) guest.netfront.send(udpFrame(1000, MAC1, MAC2, i + 1));
      await host.settle();
      const dp = host.dataPaths.get('vif2.0')!;
      expect(dp.queues[0]!.txParked).toBe(true);
      expect(dp.queues[0]!.backlogLength).toBeGreaterThan(0);
      expect(clock.pending).toBeGreaterThanOrEqual(baseline.timers + 2);
      expect(host.bridge.portNames().sort()).toEqual(['vif1.0', 'vif2.0']);
      await host.removeGuest(2);
      expect(host.grants.mappedPages()).toBe(baseline.mapped);
      expect(host.grants.liveGrants(2)).toBe(0);
      expect(host.channels.openPorts(host.backendDomid)).toBe(baseline.backendPorts);
      expect(host.channels.openPorts(2)).toBe(0);
      expect(clock.pending).toBe(baseline.timers);
      expect(host.bridge.portNames()).toEqual(['vif1.0']);
    }
    // the survivor still passes traffic both ways through the engine
    await host.addGuest({ domid: 3 });
    const at3 = collect(host, 3);
    sender.send(udpFrame(200, MAC2, MAC1));
    await host.settle();
    expect(at3).toHaveLength(1);
    await host.close();
    expect(host.grants.mappedPages()).toBe(0);
    expect(host.channels.openPorts(host.backendDomid)).toBe(0);
    expect(host.bridge.portNames()).toEqual([]);
    expect(clock.pending).toBe(0);
  }, 60000);
});
