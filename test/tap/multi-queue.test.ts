// Multi-queue TAPs against the real kernel: the holder of a vif's TAP (the daemon's main thread)
// detaches its own queue, worker threads attach queues of their own (TapDevice.attachQueue), and
// the host stack's frames reach only the attached queues, spread by flow. A persistent
// multi-queue TAP left by a killed process is adopted by the next one and takes queues again.

import { afterAll, describe, expect, test } from 'vitest';
import { TapConfigError, TapDevice } from '../../src/tap/tap.js';
import { announceSkip, ip, linkJson, TestNetns, uniqueName, withTimeout } from './env.js';

const skip = announceSkip('test/tap/multi-queue.test.ts (real TAP devices + network namespace)');

/** Reads every frame a queue gets until stop(); returns the count. */
function countFrames(tap: TapDevice): { count: () => number; stop: () => void } {
  const buffer = new Uint8Array(65536 + 10);
  let n = 0;
  tap.onReadable(() => {
    while (tap.readInto(buffer, 0, buffer.length) > 0) n++;
  });
  return { count: () => n, stop: () => tap.onReadable(null) };
}

describe.skipIf(skip)('multi-queue TAPs', () => {
  const opened: TapDevice[] = [];
  const ns = new TestNetns();
  afterAll(async () => {
    for (const tap of opened) tap.close();
    await ns.destroy();
  });

  test('tap_multi_queue_frames_reach_attached_queues_only', async () => {
    const name = uniqueName('wnbm');
    const holder = TapDevice.open({ name, offloads: { csum: true, tso4: true, tso6: true } });
    opened.push(holder);
    expect(holder.multiQueue).toBe(true);
    const queues = [TapDevice.attachQueue(name), TapDevice.attachQueue(name)];
    opened.push(...queues);
    holder.setQueueAttached(false);
    expect(holder.setCarrier(true)).toBe(true); // a detached queue still answers device ioctls

    await ns.create();
    await ip('link', 'set', 'dev', name, 'netns', ns.name);
    expect(((await linkJson(name, ns.name, '-d'))?.linkinfo as { info_data: Record<string, unknown> }).info_data.multi_queue).toBe(true);
    await ip('-n', ns.name, 'addr', 'add', '198.18.1.1/24', 'dev', name);
    await ip('-n', ns.name, 'link', 'set', 'dev', name, 'up');
    await ip('-n', ns.name, 'neigh', 'replace', '198.18.1.4', 'lladdr', '02:00:5e:10:01:04', 'dev', name, 'nud', 'permanent');

    const counters = queues.map(countFrames);
    const held = countFrames(holder);
    // 64 flows (source ports), 8 datagrams each: the kernel spreads flows over the attached queues
    const sender = ns.node(`const s=require('dgram').createSocket('udp4');let left=64;
for(let p=0;p<64;p++){const c=require('dgram').createSocket('udp4');c.bind(20000+p,()=>{for(let i=0;i<8;i++)c.send(Buffer.alloc(16),9,'198.18.1.4');
c.send(Buffer.alloc(16),9,'198.18.1.4',()=>{c.close();if(--left===0){s.close();console.log('done')}})})}`);
    await sender.waitFor(/^done$/, 20_000);
    await withTimeout((async () => {
      while (counters.reduce((sum, c) => sum + c.count(), 0) < 64 * 9) await new Promise((r) => setTimeout(r, 20));
    })(), 10_000, 'the frames on the attached queues');
    for (const c of [...counters, held]) c.stop();
    expect(held.count()).toBe(0);
    for (const c of counters) expect(c.count()).toBeGreaterThan(0);

    // back in: the holder gets its share again once re-attached (the in-thread data path)
    holder.setQueueAttached(true);
    for (const queue of queues) queue.close();
    const again = countFrames(holder);
    const ping = ns.node(`const c=require('dgram').createSocket('udp4');c.send(Buffer.alloc(16),9,'198.18.1.4',()=>{c.close();console.log('done')})`);
    await ping.waitFor(/^done$/, 10_000);
    await withTimeout((async () => {
      while (again.count() === 0) await new Promise((r) => setTimeout(r, 20));
    })(), 5_000, 'the frame on the re-attached holder');
    again.stop();
  });

  test('tap_multi_queue_attach_without_device', () => {
    try {
      TapDevice.attachQueue(uniqueName('wnbm'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TapConfigError);
      expect((e as TapConfigError).code).toBe('NETBACK_TAP_NO_DEVICE');
    }
  });

  test('tap_multi_queue_persistent_is_adopted_with_its_queues', async () => {
    const name = uniqueName('wnbm');
    const owner = '/local/domain/0/backend/vif/12/0';
    const first = TapDevice.open({ name, owner });
    const queue = TapDevice.attachQueue(name);
    first.setQueueAttached(false);
    // a SIGKILL: every fd of the process closes, persistence stays
    queue.abandon();
    first.abandon();
    expect(await linkJson(name)).toBeDefined();
    const again = TapDevice.open({ name, owner });
    const second = TapDevice.attachQueue(name);
    opened.push(again, second);
    expect(again.adopted).toBe(true);
    expect(again.multiQueue).toBe(true);
    again.setQueueAttached(false);
    // close() clears persistence: the device goes with the last queue
    again.close();
    expect(await linkJson(name)).toBeDefined();
    second.close();
    expect(await linkJson(name)).toBeUndefined();
  });
});
