import { describe, expect, it } from 'vitest';
import { RX_QUEUE_BYTES_MAX, RxBacklog } from '../../src/backend/rx-backlog.js';

describe('RxBacklog', () => {
  it('rx_backlog_fifo_addresses_stay_inside_the_region_and_do_not_overlap', () => {
    const start = 0x10000;
    const size = 64 * 1024;
    const backlog = new RxBacklog(start, size, 1 << 30);
    const live: { header: number; end: number }[] = [];
    let seed = 1;
    for (let step = 0; step < 5000; step++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      if (seed % 3 !== 0 || live.length === 0) {
        const length = 60 + (seed >>> 8) % 9000;
        const entry = backlog.reserve(length, step);
        if (entry === undefined) {
          expect(live.length).toBeGreaterThan(0); // only a full region refuses
          continue;
        }
        const end = entry.frame + entry.length;
        expect(entry.header % 16).toBe(0);
        expect(entry.header).toBeGreaterThanOrEqual(start);
        expect(end).toBeLessThanOrEqual(start + size);
        for (const other of live) expect(end <= other.header || entry.header >= other.end, `step ${step}`).toBe(true);
        live.push({ header: entry.header, end });
      } else {
        const oldest = backlog.shift()!;
        expect(oldest.header).toBe(live.shift()!.header); // FIFO
      }
      expect(backlog.length).toBe(live.length);
    }
  });

  it('rx_backlog_cap_is_512_kib_of_frames', () => {
    const backlog = new RxBacklog(0, 2 * 1024 * 1024);
    let queued = 0;
    while (backlog.reserve(1514, 0) !== undefined) queued++;
    expect(queued).toBe(Math.floor(RX_QUEUE_BYTES_MAX / 1514));
    expect(backlog.queuedBytes).toBeLessThanOrEqual(RX_QUEUE_BYTES_MAX);
    backlog.shift();
    expect(backlog.reserve(1514, 0)).toBeDefined(); // room again below the cap
    expect(backlog.reserve(1514, 0)).toBeUndefined();
  });

  it('rx_backlog_admits_one_frame_over_the_cap_when_empty', () => {
    // Linux always queues a packet into an empty queue, whatever its size.
    const backlog = new RxBacklog(0, 128 * 1024, 1000);
    expect(backlog.reserve(65535, 0)).toBeDefined();
    expect(backlog.reserve(10, 0)).toBeUndefined();
  });
});
