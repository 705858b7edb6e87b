import { describe, expect, it } from 'vitest';
import { classifyStatus, FrontendFatalError, KernelUsageError, loadKernels, PacketDropError } from '../../src/index.js';

describe('kernel module boundary', () => {
  it('layout_regions_are_disjoint_and_inside_memory', async () => {
    const k = await loadKernels();
    const layout = k.instance.layout;
    const regions = Object.keys(layout)
      .filter((name) => name.endsWith('_OFFSET') && layout[`${name.slice(0, -'_OFFSET'.length)}_SIZE`] !== undefined)
      .map((name) => {
        const base = name.slice(0, -'_OFFSET'.length);
        return { name: base, start: layout[name]!, end: layout[name]! + layout[`${base}_SIZE`]! };
      })
      .sort((a, b) => a.start - b.start);
    expect(regions.map((r) => r.name)).toEqual(expect.arrayContaining(['TX_RING', 'RX_RING', 'CTRL_RING', 'TX_BUF', 'RX_BUF', 'SEG_BUF', 'SCRATCH']));
    for (const r of regions) expect(r.start % layout.PAGE_SIZE!, r.name).toBe(0);
    expect(regions[0]!.start).toBe(layout.LAYOUT_BASE);
    for (let i = 1; i < regions.length; i++) expect(regions[i]!.start, regions[i]!.name).toBeGreaterThanOrEqual(regions[i - 1]!.end);
    expect(regions.at(-1)!.end).toBeLessThanOrEqual(layout.LAYOUT_END!);
    expect(k.instance.memory.buffer.byteLength).toBeGreaterThanOrEqual(layout.LAYOUT_END!);
  });

  it('statuses_map_to_typed_errors_with_stable_codes', async () => {
    const k = await loadKernels();
    const table = k.instance.statuses;
    const drop = table.error(k.instance.constant('STATUS_DROP_IP_FRAGMENT'), 'test');
    expect(drop).toBeInstanceOf(PacketDropError);
    expect(drop.code).toBe('NETBACK_DROP_IP_FRAGMENT');
    const fatal = table.error(k.instance.constant('STATUS_FATAL_TOO_MANY_SLOTS'), 'test');
    expect(fatal).toBeInstanceOf(FrontendFatalError);
    expect(fatal.code).toBe('NETBACK_FATAL_TOO_MANY_SLOTS');
    expect(table.error(k.instance.constant('STATUS_BAD_ARGUMENT'), 'test')).toBeInstanceOf(KernelUsageError);
    // every exported status lands in the class its name says
    for (const [value, name] of table.entries()) {
      const expected = name === 'STATUS_OK' ? 'ok' : name.startsWith('STATUS_FATAL_') ? 'fatal' : name.startsWith('STATUS_BAD_') ? 'usage' : 'drop';
      expect(classifyStatus(value), name).toBe(expected);
    }
  });

  it('write_refuses_data_outside_its_region', async () => {
    const k = await loadKernels();
    const start = k.instance.constant('SCRATCH_OFFSET');
    const size = k.instance.constant('SCRATCH_SIZE');
    expect(() => k.instance.write(start + size - 2, new Uint8Array(3), start, size)).toThrow(KernelUsageError);
    expect(() => k.internetChecksum(new Uint8Array(size + 1))).toThrow(KernelUsageError);
  });

  it('views_follow_a_memory_grow', async () => {
    const k = await loadKernels();
    const before = k.instance.bytes;
    const length = before.length;
    before[100] = 7;
    k.instance.memory.grow(1);
    // the old buffer is detached; the next view covers the grown memory and the same bytes
    expect(k.instance.bytes.length).toBe(length + 65536);
    expect(k.instance.view.byteLength).toBe(length + 65536);
    expect(k.instance.bytes[100]).toBe(7);
  });
});
