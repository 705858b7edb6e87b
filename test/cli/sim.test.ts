// `wasm-netback sim` spawned from dist, as a user runs it.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ip, linkJson, Netns, withTimeout } from '../../src/sim/netns.js';
import { announceSkip } from '../tap/env.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

interface VifSummary {
  name: string; domid: number; hostile: boolean; state: string; disabled: string | null; carrier: boolean;
  features: Record<string, boolean> | null; queues: number;
  packets: { tx: number; rx: number }; bytes: { tx: number; rx: number };
  drops: { total: number }; errors: { total: number }; throughput: { txMbps: number; rxMbps: number };
  traffic: { peer: number; pingsSent: number; pongsReceived: number; bulkBytesSent: number; bulkBytesReceived: number } | null;
}
interface Summary { vifs: VifSummary[]; unexpectedDrops: number; ok: boolean; guests: number; queues: number }

async function sim(args: string[]): Promise<{ summary: Summary; code: number }> {
  const { stdout } = await run(process.execPath, [bin, 'sim', ...args, '--json'], { timeout: 60_000 });
  return { summary: JSON.parse(stdout) as Summary, code: 0 };
}

function expectHealthy(vif: VifSummary, all: VifSummary[]): void {
  expect(vif.state).toBe('Connected');
  expect(vif.disabled).toBeNull();
  expect(vif.carrier).toBe(true);
  expect(vif.features).toMatchObject({ sg: true, gsoTcpv4: true });
  expect(vif.packets.tx).toBeGreaterThan(0);
  expect(vif.packets.rx).toBeGreaterThan(0);
  expect(vif.drops.total).toBe(0);
  expect(vif.errors.total).toBe(0);
  const t = vif.traffic!;
  expect(t.pongsReceived).toBeGreaterThan(0);
  expect(t.pongsReceived).toBeLessThanOrEqual(t.pingsSent);
  expect(t.bulkBytesReceived).toBeGreaterThan(0);
  // What this guest got from the bulk stream its predecessor sent, never more than was sent.
  const sender = all.find((v) => v.traffic?.peer === vif.domid)!;
  expect(t.bulkBytesReceived).toBeLessThanOrEqual(sender.traffic!.bulkBytesSent);
  // The engine's byte counters cover at least the stream payload each way.
  expect(vif.bytes.tx).toBeGreaterThanOrEqual(t.bulkBytesSent);
  expect(vif.bytes.rx).toBeGreaterThanOrEqual(t.bulkBytesReceived);
}

describe('wasm-netback sim', () => {
  it('sim_json_traffic_both_ways_no_drops', async () => {
    const { summary } = await sim(['--seconds', '5']);
    expect(summary.vifs.map((v) => v.name)).toEqual(['vif1.0', 'vif2.0']);
    for (const vif of summary.vifs) expectHealthy(vif, summary.vifs);
    expect(summary.unexpectedDrops).toBe(0);
    expect(summary.ok).toBe(true);
  });

  it('sim_hostile_disables_only_its_vif', async () => {
    const { summary } = await sim(['--seconds', '3', '--hostile', '--guests', '2', '--queues', '2']);
    const hostile = summary.vifs.filter((v) => v.hostile);
    expect(hostile.map((v) => v.name)).toEqual(['vif3.0']);
    expect(hostile[0]!.disabled).toMatch(/^NETBACK_FATAL_/);
    expect(hostile[0]!.carrier).toBe(false);
    expect(hostile[0]!.drops.total).toBeGreaterThan(0);
    const others = summary.vifs.filter((v) => !v.hostile);
    expect(others).toHaveLength(2);
    for (const vif of others) {
      expect(vif.queues).toBe(2);
      expectHealthy(vif, others);
    }
    expect(summary.ok).toBe(true);
  });

  it.each([
    [['--guests', '0'], /--guests/],
    [['--guests', 'two'], /--guests/],
    [['--queues', '9'], /--queues/],
    [['--seconds', '-1'], /--seconds|unknown option/],
    [['--seconds', 'soon'], /--seconds/],
    [['--viz', '70000'], /--viz/],
    [['--bogus'], /unknown option '--bogus'/],
  ])('sim_bad_option_exits_64 %j', async (args, message) => {
    await expect(run(process.execPath, [bin, 'sim', ...args])).rejects.toMatchObject({ code: 64, stderr: expect.stringMatching(message) });
  });

  it('sim_tap_real_devices_as_root_else_a_typed_error', async () => {
    if (process.getuid?.() !== 0) {
      await expect(run(process.execPath, [bin, 'sim', '--tap', '--seconds', '1'])).rejects.toMatchObject({ code: 77, stderr: expect.stringContaining('--tap') });
      return;
    }
    // As root the vifs are real TAPs named like the kernel netback's, present during the run and
    // gone after it; nothing bridges them here, so no traffic crosses: the run ends cleanly, and
    // says not ok (exit 70).
    const child = spawn(process.execPath, [bin, 'sim', '--tap', '--seconds', '3', '--json', '--guests', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    let seen = '';
    for (let i = 0; i < 40 && !seen.includes('vif2.0'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = await run('ip', ['-o', 'link', 'show', 'type', 'tun']).then((r) => r.stdout, () => '');
    }
    expect(seen).toMatch(/vif1\.0.*vif2\.0|vif2\.0.*vif1\.0/s);
    expect(await exited).toBe(70);
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.vifs.map((v) => v.state)).toEqual(['Connected', 'Connected']);
    expect(summary.ok).toBe(false);
    const after = await run('ip', ['-o', 'link', 'show', 'type', 'tun']).then((r) => r.stdout, () => '');
    expect(after).not.toMatch(/vif[12]\.0/);
  });

  it('sim_tap_name_taken_is_a_typed_error_that_stops_everything_started', async () => {
    if (process.getuid?.() !== 0) {
      await expect(run(process.execPath, [bin, 'sim', '--tap', '--seconds', '1'])).rejects.toMatchObject({ code: 77 });
      return;
    }
    // vif2.0 is taken by a TUN device (not a TAP): guest 2's vif cannot be set up. The run ends at
    // once with one line naming the cause, and takes down what it had started: guest 1's TAP and
    // the control socket; the device it did not create stays.
    const dir = mkdtempSync(join(tmpdir(), 'wnb-sim-'));
    const socket = join(dir, 'control.sock');
    await run('ip', ['tuntap', 'add', 'vif2.0', 'mode', 'tun']);
    try {
      const started = Date.now();
      const failure = await run(process.execPath, [bin, 'sim', '--tap', '--guests', '2', '--seconds', '5', '--no-viz', '--control-socket', socket])
        .then(() => undefined, (e: { code: number; stderr: string }) => e);
      expect(failure?.code).toBe(69);
      expect(failure?.stderr).toMatch(/^wasm-netback: setting up the simulated guests: \/local\/domain\/0\/backend\/vif\/2\/0 went to Closing instead of InitWait \(backend error: 22 creating interface vif2\.0: .*TUNSETIFF.*\)\n$/);
      expect(Date.now() - started).toBeLessThan(8000); // not libxl's 10 s wait
      expect(existsSync(socket)).toBe(false);
      const tuns = await run('ip', ['-o', 'link', 'show', 'type', 'tun']).then((r) => r.stdout, () => '');
      expect(tuns).not.toMatch(/vif1\.0/);
      expect(tuns).toMatch(/vif2\.0/);
    } finally {
      await run('ip', ['link', 'del', 'vif2.0']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(process.getuid?.() !== 0 || announceSkip('sim --tap in a network namespace'))('wasm-netback sim --tap in a network namespace', () => {
  // A namespace of this test's own, with IPv6 on as on a host: the kernel's own frames (router
  // solicitations, MLD) reach the guests' vifs whether or not the TAPs are bridged.
  let ns: Netns;
  beforeEach(async () => {
    ns = new Netns('wnb-simtap-');
    await ip('netns', 'add', ns.name);
    await ip('-n', ns.name, 'link', 'set', 'lo', 'up');
  });
  afterEach(async () => { await ns.destroy(); });

  function simInNetns(args: string[]): { exited: Promise<{ code: number; stdout: string }> } {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, bin, 'sim', '--tap', '--no-viz', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    return { exited: new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? -1, stdout }))) };
  }

  it('sim_tap_no_traffic_across_is_not_ok_exit_70', async () => {
    const { code, stdout } = await simInNetns(['--seconds', '4']).exited;
    // the host's frames moved the counters; the guests' pings and stream did not cross
    expect(Number(/guest rx (\d+) pkts/.exec(stdout)?.[1])).toBeGreaterThan(0);
    expect(stdout).toMatch(/ping → dom2: 0\/\d+ answered.*\n {4}bulk sent .*, received 0 B/);
    expect(stdout).not.toMatch(/^ok:/m);
    expect(stdout).toContain('NOT OK: vif1.0: no ping to dom2 answered, no bulk data received');
    expect(stdout).toContain('NOT OK: with --tap, traffic crosses only once the TAPs are on a bridge');
    expect(code).toBe(70);
  }, 30_000);

  it('sim_tap_bridged_late_bulk_recovers', async () => {
    // The first window of each stream goes out before the bridge exists and is lost; once the
    // TAPs are bridged the stream must resend it and carry on.
    const sim = simInNetns(['--seconds', '9', '--json']);
    await withTimeout((async () => {
      while (await linkJson('vif2.0', ns.name) === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    })(), 15_000, 'the TAPs');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await ip('-n', ns.name, 'link', 'add', 'wnbbr', 'type', 'bridge');
    for (const tap of ['vif1.0', 'vif2.0']) await ip('-n', ns.name, 'link', 'set', tap, 'master', 'wnbbr');
    await ip('-n', ns.name, 'link', 'set', 'wnbbr', 'up');
    const { code, stdout } = await sim.exited;
    const summary = JSON.parse(stdout) as Summary & { problems: string[]; vifs: (VifSummary & { traffic: { bulkRetransmits: number } })[] };
    expect(summary.problems).toEqual([]);
    for (const vif of summary.vifs) {
      expect(vif.traffic.bulkRetransmits).toBeGreaterThan(0);
      expect(vif.traffic.pongsReceived).toBeGreaterThan(0);
      expect(vif.traffic.bulkBytesReceived).toBeGreaterThan(RECOVERED_BYTES);
    }
    expect(code).toBe(0);
  }, 40_000);
});

/** More than the stream's whole window (256 KiB), all of which was lost before the bridge. */
const RECOVERED_BYTES = 4 * 256 * 1024;

function get(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        // An event stream never ends: stop at the first complete event.
        if (res.headers['content-type'] === 'text/event-stream' && body.includes('\n\n', body.indexOf('data:'))) {
          req.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('wasm-netback sim --viz', () => {
  it('sim_viz_serves_snapshot_and_events_read_only_on_loopback', async () => {
    const child = spawn(process.execPath, [bin, 'sim', '--seconds', '60', '--viz', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const base = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          // the base every URL of the server starts with: address, then the per-start token
          const match = /visuali[sz]er(?: data)?: (http:\/\/[^\s/]+\/[^\s/?]+\/)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.on('exit', () => reject(new Error(`sim exited: ${out}`)));
      });
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+\/[A-Za-z0-9_-]{43}\/$/);
      await new Promise((r) => setTimeout(r, 500));
      const snap = await get(`${base}snapshot`);
      expect(snap.status).toBe(200);
      const body = JSON.parse(snap.body) as { version: number; vifs: { name: string; state: string; queues: { tx: Record<string, number>; rx: Record<string, number>; counters: Record<string, number> }[] }[] };
      expect(body.version).toBe(1);
      expect(body.vifs.map((v) => v.name)).toEqual(['vif1.0', 'vif2.0']);
      for (const vif of body.vifs) {
        expect(vif.state).toBe('Connected');
        const q = vif.queues[0]!;
        for (const ring of [q.tx, q.rx]) {
          for (const key of ['reqProd', 'reqCons', 'rspProd', 'reqEvent', 'rspEvent']) expect(typeof ring[key]).toBe('number');
          // the backend never consumes past what the frontend produced, nor answers past what it consumed
          expect((ring.reqProd! - ring.reqCons!) >>> 0).toBeLessThanOrEqual(256);
          expect((ring.reqCons! - ring.rspProd!) >>> 0).toBeLessThanOrEqual(256);
        }
        expect(q.counters.tx_ring_packets).toBeGreaterThan(0);
      }
      const events = await get(`${base}events`);
      expect(events.status).toBe(200);
      expect(events.headers['content-type']).toBe('text/event-stream');
      const data = /event: snapshot\ndata: (.*)\n\n/.exec(events.body);
      expect(JSON.parse(data![1]!)).toMatchObject({ version: 1 });
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const refused = await get(`${base}snapshot`, method);
        expect(refused.status).toBe(405);
        expect(refused.headers.allow).toBe('GET');
      }
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
  });
});
