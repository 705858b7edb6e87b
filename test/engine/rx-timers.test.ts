// Guest-RX backlog cap, drain and stall over the simulated host on a manual clock; expected
// values derived by hand from netif-protocol.md §6.3 (512 KiB cap, drain 10 s, stall 60 s,
// 30 ms drain and no stall without feature-rx-notify).
import { describe, expect, it } from 'vitest';
import { MAC1, MAC2, collect, useManualHosts, udpFrame } from './helpers.js';

const newManualHost = useManualHosts();

/** Guest 1 sends; guest 2 is hung (its RX polls never run, so it never reposts buffers). */
async function hungReceiver(options: { rxNotify?: boolean; logs?: string[] } = {}) {
  const { host, clock } = await newManualHost({ log: (_level, msg) => options.logs?.push(msg) });
  await host.addGuest({ domid: 1 });
  await host.addGuest({ domid: 2, pollMode: 'manual', features: { rxNotify: options.rxNotify ?? true } });
  const receiver = host.guests.get(2)!.netfront;
  const sender = host.guests.get(1)!.netfront;
  const dp = host.dataPaths.get('vif2.0')!;
  let seed = 1;
  const send = async (count: number, length = 1000) => {
    // in chunks: the sender's TX ring stops at 237 outstanding slots until the backend answers
    for (let i = 0; i < count; i++) {
      expect(sender.send(udpFrame(length, MAC2, MAC1, seed++)).kind).toBe('sent');
      if (i % 100 === 99) await host.settle();
    }
    await host.settle();
  };
  return { host, clock, receiver, dp, send, posted: receiver.rxPosted() };
}

describe('rx backlog and timers', () => {
  it('rx_backlog_cap_holds_against_a_frontend_that_never_reposts', async () => {
    // XSA-392: posted buffers take one 1000-byte frame each; then floor(524288 / 1000) = 524
    // frames queue and every further frame is dropped and counted.
    const { dp, send, posted } = await hungReceiver();
    expect(posted).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) await send(100);
    const queue = dp.queues[0]!;
    expect(dp.counters().rx_ring_packets).toBe(posted);
    expect(queue.backlogLength).toBe(524);
    expect(queue.backlogBytes).toBe(524000);
    expect(queue.backlogBytes).toBeLessThanOrEqual(512 * 1024);
    expect(queue.stats.rxBacklogDrops).toBe(1000 - posted - 524);
  });

  it('rx_drain_drops_frames_older_than_10s', async () => {
    const { clock, host, dp, send, posted } = await hungReceiver();
    await send(posted + 2); // two wait at t = 0
    clock.advance(5000);
    await send(1); // one waits from t = 5000
    const queue = dp.queues[0]!;
    expect(queue.backlogLength).toBe(3);
    clock.advance(4999);
    await host.settle();
    expect(queue.backlogLength).toBe(3);
    clock.advance(1); // t = 10000: the two from t = 0 expire
    await host.settle();
    expect(queue.backlogLength).toBe(1);
    expect(queue.stats.rxExpired).toBe(2);
    clock.advance(5000);
    await host.settle();
    expect(queue.backlogLength).toBe(0);
    expect(queue.stats.rxExpired).toBe(3);
    expect(dp.carrier).toBe(true);
  });

  it('rx_stall_turns_carrier_off_and_slots_turn_it_on', async () => {
    const logs: string[] = [];
    const { clock, host, receiver, dp, send, posted } = await hungReceiver({ logs });
    const port = host.bridge;
    const at2 = collect(host, 2);
    await send(posted); // the last frame reached the guest at t = 0
    // traffic every 5 s keeps a head waiting (each frame expires 10 s after it came)
    for (let t = 5000; t <= 60000; t += 5000) {
      clock.advance(5000);
      await send(1);
    }
    expect(dp.carrier).toBe(true); // t = 60000 is not yet after last_rx_time + 60000
    clock.advance(1);
    await host.settle();
    expect(dp.carrier).toBe(false);
    expect(dp.queues[0]!.stalled).toBe(true);
    expect(logs).toContain('vif2.0: Guest Rx stalled');
    expect(port.portNames()).toContain('vif2.0');
    // carrier off: frames for the guest stop at the port
    const waiting = dp.queues[0]!.backlogLength;
    expect(waiting).toBe(2); // from t = 55000 and t = 60000
    await send(3);
    expect(dp.queues[0]!.backlogLength).toBe(waiting);
    // the guest wakes up: consumes its responses and reposts buffers
    receiver.poll(0, 256);
    await host.settle();
    expect(dp.queues[0]!.stalled).toBe(false);
    expect(dp.carrier).toBe(true);
    expect(logs).toContain('vif2.0: Guest Rx ready');
    receiver.poll(0, 256);
    await host.settle();
    expect(at2).toHaveLength(posted + waiting);
    await send(1);
    receiver.poll(0, 256);
    expect(at2).toHaveLength(posted + waiting + 1);
    expect(dp.stats.carrierChanges).toBe(3); // on at connect, off, on
  });

  it('rx_without_rx_notify_drains_at_30ms_and_never_stalls', async () => {
    const { clock, host, dp, send, posted } = await hungReceiver({ rxNotify: false });
    await send(posted + 2);
    const queue = dp.queues[0]!;
    expect(queue.backlogLength).toBe(2);
    clock.advance(29);
    await host.settle();
    expect(queue.backlogLength).toBe(2);
    clock.advance(1);
    await host.settle();
    expect(queue.backlogLength).toBe(0);
    expect(queue.stats.rxExpired).toBe(2);
    // long after the last delivery a frame waits: with rx-notify this would stall at once
    clock.advance(60000);
    await send(1);
    clock.advance(29);
    await host.settle();
    expect(queue.backlogLength).toBe(1);
    expect(dp.carrier).toBe(true);
    expect(queue.stats.rxStalls).toBe(0);
    clock.advance(1);
    await host.settle();
    expect(queue.backlogLength).toBe(0);
  });

  it('rx_with_rx_notify_stalls_after_idle', async () => {
    // the counterpart of the previous case: last_rx_time is old, so a waiting head stalls
    const { clock, host, dp, send, posted } = await hungReceiver();
    await send(posted);
    clock.advance(60000);
    await send(1);
    expect(dp.carrier).toBe(true);
    clock.advance(1);
    await host.settle();
    expect(dp.carrier).toBe(false);
    expect(dp.queues[0]!.stats.rxStalls).toBe(1);
    // the head expires at t = 70000; an empty queue needs no slots: ready again, carrier on
    clock.advance(9999);
    await host.settle();
    expect(dp.carrier).toBe(true);
    expect(dp.queues[0]!.backlogLength).toBe(0);
  });
});
