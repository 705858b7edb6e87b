// The TypeScript parsers of guest- and toolstack-written strings and of the control socket, fuzzed:
// xenstore values (frontend feature keys, queue counts, xdp-headroom; backend mac, rate, mtu) as
// arbitrary strings, each either the value a plain model of the format gives or a typed
// VifConfigError with its errno, never another throw; control-socket request lines likewise (a
// verb, or a ControlRequestError with a NETBACK_CONTROL_* code); and a running control server fed
// arbitrary bytes per connection, held to its 32-connection cap and its 5 s answer limit.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseFlag, parseMac, parseMtu, parseOptionalU32, parseRate, parseU32, parseXdpHeadroom, VifConfigError, MIN_MTU, MAX_MTU,
} from '../../src/backend/frontend-config.js';
import { CONTROL_ERROR, ControlRequestError, parseRequest } from '../../src/cli/control-protocol.js';
import { startControlServer, type ControlServer } from '../../src/cli/control-server.js';
import type { HostSnapshot } from '../../src/viz/snapshot.js';
import { fuzzBudget, reportTally, Tally } from './world.js';

const budget = fuzzBudget(2000);
// outcomes per parser call, for `npm run fuzz`'s summary (this file runs there too)
const xenstoreTally = new Tally();
const requestTally = new Tally();
afterAll(async () => {
  await reportTally('fuzz_xenstore_value_parsers', xenstoreTally);
  await reportTally('fuzz_control_request_parser', requestTally);
});
/** Strings a toolstack or guest could write: digits and near-digits, hex and colons, any unicode. */
const valueArb = fc.oneof(
  fc.stringMatching(/^[0-9]{0,12}$/),
  fc.stringMatching(/^[-+ 0-9a-fA-FxX:,.\t\n]{0,24}$/),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.constantFrom('', '0', '4294967295', '4294967296', '00000000001', '1e3', ' 1', '1 ', '0x10', '-0', '01:02:03:04:05:06', '1,2', '65517', '65518', '67', '68'),
);

/** Throws only VifConfigError; returns the value otherwise. */
function typed<T>(parse: () => T): { value: T } | { error: VifConfigError } {
  try {
    const value = parse();
    xenstoreTally.add({ kind: 'ok' });
    return { value };
  } catch (error) {
    if (!(error instanceof VifConfigError)) throw error;
    expect(error.code).toMatch(/^NETBACK_(FRONTEND|BACKEND)_[A-Z_]+$/);
    expect([2, 22, 34]).toContain(error.errno);
    xenstoreTally.add({ kind: 'typed-error', code: error.code });
    return { error };
  }
}

const u32Model = (raw: string): number | undefined => (/^[0-9]{1,10}$/.test(raw) && Number(raw) <= 0xFFFFFFFF ? Number(raw) : undefined);

describe('xenstore value parsers', () => {
  it('parseU32_arbitrary_strings_value_or_typed_error', () => {
    fc.assert(fc.property(valueArb, (raw) => {
      const r = typed(() => parseU32(raw, 'key', 'frontend'));
      const model = u32Model(raw);
      if (model === undefined) expect('error' in r, JSON.stringify(raw)).toBe(true);
      else expect(r).toEqual({ value: model });
      const optional = typed(() => parseOptionalU32(raw, 'key', 7, 'backend'));
      expect('value' in optional ? optional.value : undefined).toBe(model);
      const flag = typed(() => parseFlag(raw, 'key', false));
      expect('value' in flag ? flag.value : undefined).toBe(model === undefined ? undefined : model !== 0);
    }), budget.params);
  });

  it('parseMac_parseMtu_parseRate_parseXdpHeadroom_arbitrary_strings_value_or_typed_error', () => {
    fc.assert(fc.property(valueArb, (raw) => {
      const mac = typed(() => parseMac(raw));
      const macOk = /^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(raw);
      expect('value' in mac, JSON.stringify(raw)).toBe(macOk);
      if ('value' in mac) expect([...mac.value]).toEqual(raw.split(':').map((o) => parseInt(o, 16)));
      const mtu = typed(() => parseMtu(raw));
      const m = u32Model(raw);
      expect('value' in mtu ? mtu.value : undefined).toBe(m !== undefined && m >= MIN_MTU && m <= MAX_MTU ? m : undefined);
      const xdp = typed(() => parseXdpHeadroom(raw));
      expect('value' in xdp ? xdp.value : undefined).toBe(/^[0-9]{1,10}$/.test(raw) ? Math.min(Number(raw), 0x7FFF) : undefined);
      // a rate never throws: malformed means unlimited, as Linux does
      const rate = parseRate(raw);
      const r = /^([0-9]{1,20}),([0-9]{1,20})$/.exec(raw);
      const exact = r !== null && Number.isSafeInteger(Number(r[1])) && Number.isSafeInteger(Number(r[2]));
      expect(rate.malformed).toBe(!exact);
      expect(rate.rate.unlimited).toBe(!exact);
    }), budget.params);
  });
});

describe('control socket', () => {
  it('parseRequest_arbitrary_lines_verb_or_typed_error', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300, unit: 'binary' }), fc.constantFrom('list', 'stats', 'list\r', ' stats ', 'LIST', 'list\n')), (line) => {
      try {
        const verb = parseRequest(line);
        expect(['list', 'stats']).toContain(verb);
        expect(line.replace(/\r$/, '').trim()).toBe(verb);
        requestTally.add({ kind: 'ok' });
      } catch (error) {
        expect(error).toBeInstanceOf(ControlRequestError);
        expect([CONTROL_ERROR.badRequest, CONTROL_ERROR.unknownVerb]).toContain((error as ControlRequestError).code);
        requestTally.add({ kind: 'typed-error', code: (error as ControlRequestError).code });
      }
    }), budget.params);
  });

  const dir = mkdtempSync(join(tmpdir(), 'wnb-parsers-'));
  let server: ControlServer;
  let vifs = 2;
  const snapshot = (): HostSnapshot => ({
    version: 1, time: 1,
    vifs: Array.from({ length: vifs }, (_, i) => ({
      name: `vif${i}.0`, domid: i, devid: 0, state: 'Connected', features: {}, carrier: true, disabled: null, queues: [],
      counters: Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`counter_${k}_with_a_long_name`, k * 1000003])),
    })) as unknown as HostSnapshot['vifs'],
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One connection: sends `bytes` (then half-closes), resolves with everything it read. */
  const exchange = (bytes: Uint8Array | string, end = true): Promise<string> => new Promise((resolve) => {
    const socket = connect(join(dir, 'control.sock'));
    let got = '';
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    socket.write(bytes);
    if (end) socket.end();
  });

  it('controlServer_arbitrary_bytes_each_connection_one_answer_or_typed_refusal', async () => {
    server = await startControlServer({ path: join(dir, 'control.sock'), snapshot, requestTimeoutMs: 2000 });
    await fc.assert(fc.asyncProperty(fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      fc.constantFrom('list\n', 'stats\n', 'list', 'stats\r\n', 'li\x00st\n', 'x'.repeat(300)),
    ), async (bytes) => {
      const got = await exchange(bytes);
      const lines = got.split('\n').filter((l) => l !== '');
      expect(lines, JSON.stringify(got.slice(0, 80))).toHaveLength(1);
      const answer = JSON.parse(lines[0]!) as { ok: boolean; error?: { code: string } };
      if (!answer.ok) expect(Object.values(CONTROL_ERROR)).toContain(answer.error!.code);
    }), { ...budget.params, numRuns: Math.min(budget.params.numRuns, 200) });
    expect(JSON.parse(await exchange('list\n')).ok).toBe(true);
  }, 120_000);

  it('controlServer_at_most_32_connections_then_answers_again', async () => {
    // 40 connections that say nothing: the server holds 32 and drops the rest at once
    const idle: Socket[] = [];
    const closed: number[] = [];
    for (let i = 0; i < 40; i++) {
      const s = connect(join(dir, 'control.sock'));
      s.on('error', () => undefined);
      s.on('close', () => closed.push(i));
      idle.push(s);
      await new Promise((resolve) => s.once('connect', resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(closed.length, 'connections dropped beyond the cap').toBe(8);
    expect(Math.min(...closed), 'the first 32 are kept').toBeGreaterThanOrEqual(32);
    for (const s of idle) s.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(JSON.parse(await exchange('stats\n')).ok).toBe(true);
  }, 30_000);

  it('controlServer_answer_not_read_within_5_s_is_dropped', async () => {
    // an answer far larger than the socket buffers: read at once it arrives whole; a client that
    // reads nothing for 6 s finds the connection dropped and the answer cut short
    vifs = 3000;
    const whole = await exchange('stats\n');
    expect(whole.length).toBeGreaterThan(2_000_000);
    expect(JSON.parse(whole).ok).toBe(true);
    const slow = await new Promise<string>((resolve) => {
      const socket = connect(join(dir, 'control.sock'));
      let got = '';
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(got));
      socket.write('stats\n');
      socket.pause();
      setTimeout(() => { socket.on('data', (d) => { got += d.toString('latin1'); }); socket.resume(); }, 6000);
    });
    vifs = 2;
    expect(slow.length, 'the unread answer was dropped after 5 s').toBeLessThan(whole.length);
    expect(JSON.parse(await exchange('list\n')).ok).toBe(true);
  }, 30_000);
});
