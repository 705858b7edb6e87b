// `--metrics`: the exposition a scraper reads. In process, against a quiescent simulated host, the
// scrape must equal `stats --json`'s view exactly; end to end, a real Prometheus server (Debian's
// `prometheus`) scrapes a running `sim --metrics`, promtool lints the text, and every series
// Prometheus stored lies between two `wasm-netback stats --json` answers taken around its scrape.
// Skips only when prometheus/promtool are absent; WNB_REQUIRE_PROMETHEUS=1 (CI) makes that a failure.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listView, statsView, type StatsAnswer } from '../../src/cli/control-protocol.js';
import { counterMetric, xenbusStateNumber } from '../../src/cli/metrics-registry.js';
import { Worker } from 'node:worker_threads';
import { MetricsAddressError, parseMetricsAddress, startMetricsServer, workerLoads, type MetricsServer } from '../../src/cli/metrics-server.js';
import { compileKernels, readKernels } from '../../src/index.js';
import { SimHost } from '../../src/sim/host.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';
import { snapshotHost } from '../../src/viz/snapshot.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';

const missing = [PROMETHEUS, PROMTOOL].filter((path) => !existsSync(path));
const prometheusSkip = missing.length === 0 ? undefined : `${missing.join(', ')} not found (apt-get install --no-install-recommends prometheus)`;
if (prometheusSkip !== undefined) {
  if (process.env.WNB_REQUIRE_PROMETHEUS === '1') throw new Error(`test/cli/metrics.test.ts: cannot scrape (${prometheusSkip}) but WNB_REQUIRE_PROMETHEUS=1`);
  console.warn(`SKIP the Prometheus scrape of test/cli/metrics.test.ts: ${prometheusSkip}`);
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** The sample lines of a text exposition (promtool checks the format itself, in the end-to-end test). */
function samples(text: string): Sample[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

/** The series key Prometheus would store: name and sorted labels. */
const seriesKey = (name: string, labels: Record<string, string | number>): string =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

/** Every counter of a stats answer as the series it must be exposed as, with the value in the metric's unit. */
function expectedCounterSeries(stats: StatsAnswer): Map<string, number> {
  const out = new Map<string, number>();
  for (const vif of stats.vifs) {
    const labels = { domid: vif.domid, devid: vif.devid, vif: vif.name };
    const perQueue = new Set(vif.queues.flatMap((q) => Object.keys(q.counters)));
    for (const queue of vif.queues) {
      for (const [name, value] of Object.entries(queue.counters)) {
        const metric = counterMetric(name);
        out.set(seriesKey(metric.name, { ...labels, queue: queue.name }), value * metric.scale);
      }
    }
    for (const [name, value] of Object.entries(vif.counters)) {
      if (!perQueue.has(name)) out.set(seriesKey(counterMetric(name).name, labels), value * counterMetric(name).scale);
    }
  }
  return out;
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const dirs: string[] = [];
afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });

describe('metrics exposition', () => {
  it('metrics_counter_metric_matrix', () => {
    expect(counterMetric('tx_ring_packets')).toEqual({ name: 'wasm_netback_tx_ring_packets_total', scale: 1 });
    expect(counterMetric('rxBacklogDrops')).toEqual({ name: 'wasm_netback_rx_backlog_drops_total', scale: 1 });
    expect(counterMetric('busyMs')).toEqual({ name: 'wasm_netback_busy_seconds_total', scale: 1 / 1000 });
    expect(counterMetric('rx_drain_ms')).toEqual({ name: 'wasm_netback_rx_drain_seconds_total', scale: 1 / 1000 });
    expect(counterMetric('mcast-full')).toEqual({ name: 'wasm_netback_mcast_full_total', scale: 1 });
    expect(xenbusStateNumber('Connected')).toBe(4);
    expect(xenbusStateNumber('InitWait')).toBe(2);
    expect(xenbusStateNumber('Invalid(42)')).toBe(42);
    expect(xenbusStateNumber('Bogus')).toBeNaN();
  });

  it('metrics_parse_address_matrix', () => {
    expect(parseMetricsAddress('127.0.0.1:9470')).toEqual({ host: '127.0.0.1', port: 9470 });
    expect(parseMetricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseMetricsAddress('0.0.0.0:65535')).toEqual({ host: '0.0.0.0', port: 65535 });
    expect(parseMetricsAddress('localhost:9470')).toEqual({ host: 'localhost', port: 9470 });
    for (const bad of ['', '9470', ':9470', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '::1:9470', '[::1]', 'a b:1', '127.0.0.1:94x0']) {
      expect(() => parseMetricsAddress(bad), bad).toThrow(MetricsAddressError);
    }
  });

  it('metrics_worker_loads_count_a_busy_worker', async () => {
    // one worker spins 300 ms, one sleeps: the busy time the daemon exposes per worker tells them apart
    const spin = new Worker('const end = Date.now() + 300; while (Date.now() < end); setTimeout(() => {}, 60_000);', { eval: true });
    const idle = new Worker('setTimeout(() => {}, 60_000);', { eval: true });
    try {
      await Promise.all([spin, idle].map((w) => new Promise((resolve) => w.once('online', resolve))));
      await new Promise((resolve) => setTimeout(resolve, 600));
      const loads = workerLoads([{ index: 0, worker: spin }, { index: 1, worker: idle }]);
      expect(loads.map((l) => l.id)).toEqual(['0', '1']);
      expect(loads[0]!.activeSeconds).toBeGreaterThan(0.25);
      expect(loads[1]!.activeSeconds).toBeLessThan(0.2);
    } finally {
      await Promise.all([spin.terminate(), idle.terminate()]);
    }
  });

  describe('against a quiescent simulated host', () => {
    let host: SimHost;
    let server: MetricsServer;
    beforeAll(async () => {
      host = new SimHost({ kernels: await compileKernels(await readKernels()), features: { maxQueues: 2 } });
      await host.start();
      await host.addGuest({ domid: 1, queues: 2 });
      await host.addGuest({ domid: 2, queues: 1 });
      const traffic = new TrafficGenerator(host, [1, 2]);
      traffic.start();
      await new Promise((resolve) => setTimeout(resolve, 400));
      traffic.stop();
      await host.settle();
      server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, { snapshot: () => snapshotHost(host), workers: () => [{ id: '0', activeSeconds: 1.5 }, { id: '1', activeSeconds: 0.25 }] });
    });
    afterAll(async () => {
      await server?.close();
      await host?.close();
    });

    it('metrics_scrape_equals_stats_json_exactly', async () => {
      const stats = statsView(snapshotHost(host));
      const answer = await get(server.url);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const scraped = new Map(samples(answer.text).filter((s) => s.name.endsWith('_total') && s.labels.vif !== undefined).map((s) => [seriesKey(s.name, s.labels), s.value]));
      const expected = expectedCounterSeries(stats);
      // traffic crossed both ways: the comparison is over non-zero counters, not zeros alone
      expect(expected.get(seriesKey('wasm_netback_tx_ring_packets_total', { domid: 1, devid: 0, vif: 'vif1.0', queue: 'vif1.0-q1' }))).toBeGreaterThan(0);
      expect(expected.get(seriesKey('wasm_netback_rx_ring_packets_total', { domid: 2, devid: 0, vif: 'vif2.0', queue: 'vif2.0-q0' }))).toBeGreaterThan(0);
      expect([...scraped.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, value] of expected) expect(scraped.get(key), key).toBeCloseTo(value, 9);
      // the vif totals `stats` prints are the sums over its queues' series
      for (const vif of stats.vifs) {
        const sum = samples(answer.text).filter((s) => s.name === 'wasm_netback_tx_ring_bytes_total' && s.labels.vif === vif.name).reduce((n, s) => n + s.value, 0);
        expect(sum, vif.name).toBe(vif.counters.tx_ring_bytes);
      }
    });

    it('metrics_scrape_shows_states_carrier_queues_and_process_figures', async () => {
      const all = samples((await get(server.url)).text);
      const value = (name: string, labels: Record<string, string> = {}) => all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      for (const vif of listView(snapshotHost(host)).vifs) {
        expect(value('wasm_netback_vif_xenbus_state', { vif: vif.name })).toBe(4);
        expect(value('wasm_netback_vif_carrier', { vif: vif.name })).toBe(1);
        expect(value('wasm_netback_vif_disabled', { vif: vif.name })).toBe(0);
        expect(value('wasm_netback_vif_queues', { vif: vif.name })).toBe(vif.queues);
      }
      expect(value('wasm_netback_vif_queues', { vif: 'vif1.0' })).toBe(2);
      expect(all.filter((s) => s.name === 'wasm_netback_queue_stalled').map((s) => s.labels.queue).sort()).toEqual(['vif1.0-q0', 'vif1.0-q1', 'vif2.0-q0']);
      expect(value('wasm_netback_workers')).toBe(2);
      expect(value('wasm_netback_worker_active_seconds_total', { worker: '0' })).toBe(1.5);
      expect(value('wasm_netback_worker_active_seconds_total', { worker: '1' })).toBe(0.25);
      expect(value('wasm_netback_event_loop_active_seconds_total')).toBeGreaterThan(0);
      // RSS within sane bounds of what the process itself reads
      const rss = value('process_resident_memory_bytes')!;
      expect(rss).toBeGreaterThan(process.memoryUsage.rss() / 2);
      expect(rss).toBeLessThan(process.memoryUsage.rss() * 2);
    });

    it('metrics_scrape_drops_a_vif_that_went_away', async () => {
      const before = samples((await get(server.url)).text).filter((s) => s.labels.vif === 'vif2.0');
      expect(before.length).toBeGreaterThan(10);
      await host.removeGuest(2);
      const after = samples((await get(server.url)).text);
      expect(after.filter((s) => s.labels.vif === 'vif2.0')).toEqual([]);
      expect(after.some((s) => s.labels.vif === 'vif1.0')).toBe(true);
    });

    it('metrics_server_refuses_all_but_get_metrics', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']) {
        const answer = await get(server.url, { method });
        expect(answer.status, method).toBe(405);
        expect(answer.headers.get('allow')).toBe('GET');
      }
      for (const path of ['/', '/snapshot', '/events', '/metrics/x', '/metricsx', '/index.html']) {
        expect((await get(new URL(path, server.url).href)).status, path).toBe(404);
      }
      // no CORS grant: a page of another origin cannot read the counters
      const answer = await get(server.url, { headers: { Origin: 'http://evil.example' } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});

/** A port the kernel had free a moment ago (prometheus takes no port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function spawnCollecting(command: string, args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 128)));
  return { child, output: () => output, exited };
}

/** A probe that throws (a scrape refused while the sim starts) has not seen it yet. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000) => waitFor(what, () => probe().catch(() => undefined), ms, 200);

describe.skipIf(prometheusSkip !== undefined)('metrics scraped by Prometheus', () => {
  it('metrics_sim_scraped_by_prometheus_agrees_with_stats_json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbmetrics-'));
    dirs.push(dir);
    const socket = join(dir, 'control.sock');
    const sim = spawnCollecting(process.execPath, [bin, 'sim', '--no-viz', '--hostile', '--queues', '2', '--metrics', '127.0.0.1:0', '--control-socket', socket]);
    let prometheus: ReturnType<typeof spawnCollecting> | undefined;
    try {
      const url = await until('the sim to print its metrics address', async () => /metrics: (http:\/\/\S+)/.exec(sim.output())?.[1]);
      const target = new URL(url).host;

      // promtool: the text parses and passes Prometheus's own lint (names, units, HELP, types)
      const text = await (await fetch(url)).text();
      const promtool = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let lint = '';
      promtool.stdout.on('data', (c: Buffer) => { lint += c.toString(); });
      promtool.stderr.on('data', (c: Buffer) => { lint += c.toString(); });
      promtool.stdin.end(text);
      const lintCode = await new Promise<number>((resolve) => promtool.on('exit', (code) => resolve(code ?? 128)));
      expect(lint).toBe('');
      expect(lintCode).toBe(0);

      // a real Prometheus scraping every second
      const port = await freePort();
      writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: wasm-netback\n    static_configs:\n      - targets: ['${target}']\n`);
      prometheus = spawnCollecting(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`]);
      const api = `http://127.0.0.1:${port}/api/v1`;
      interface Target { health: string; lastError: string; lastScrape: string }
      const targetState = async (): Promise<Target | undefined> => {
        const body = await (await fetch(`${api}/targets`)).json() as { data: { activeTargets: Target[] } };
        return body.data.activeTargets[0];
      };
      await until('Prometheus to scrape the sim', async () => ((await targetState())?.health === 'up' ? true : undefined));
      await until('every vif Connected (the hostile one disabled)', async () => {
        const list = await run(process.execPath, [bin, 'list', '--json', '--control-socket', socket]);
        const vifs = (JSON.parse(list.stdout) as { vifs: { state: string; disabled: string | null }[] }).vifs;
        return vifs.length === 3 && vifs.filter((v) => v.disabled !== null).length === 1 ? true : undefined;
      });

      // stats, then a scrape that started after it, then stats again: Prometheus's samples lie between
      const statsJson = async () => JSON.parse((await run(process.execPath, [bin, 'stats', '--json', '--control-socket', socket])).stdout) as StatsAnswer;
      const before = await statsJson();
      const afterTime = before.time;
      await until('a scrape after the first stats', async () => {
        const t = await targetState();
        return t !== undefined && Date.parse(t.lastScrape) > afterTime + 10 ? true : undefined;
      });
      await new Promise((resolve) => setTimeout(resolve, 100)); // the scrape started: let it be stored
      const after = await statsJson();
      const query = async (promql: string) => {
        const body = await (await fetch(`${api}/query?${new URLSearchParams({ query: promql, time: String(after.time / 1000) })}`)).json() as
          { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data.result;
      };
      expect((await targetState())?.lastError).toBe('');
      expect((await query('up'))[0]?.value[1]).toBe('1');

      const stored = new Map<string, { value: number; time: number }>();
      for (const series of await query('{__name__=~"wasm_netback_.*_total", vif!=""}')) {
        const { __name__: name, job: _job, instance: _instance, ...labels } = series.metric;
        stored.set(seriesKey(name!, labels), { value: Number(series.value[1]), time: series.value[0] });
      }
      const low = expectedCounterSeries(before);
      const high = expectedCounterSeries(after);
      expect([...stored.keys()].sort()).toEqual([...high.keys()].sort());
      for (const [key, { value }] of stored) {
        expect(value, key).toBeGreaterThanOrEqual(low.get(key)! - 1e-9);
        expect(value, key).toBeLessThanOrEqual(high.get(key)! + 1e-9);
      }
      // traffic crossed while Prometheus watched: a counter it shows moved between the two answers
      const moved = seriesKey('wasm_netback_tx_ring_bytes_total', { domid: 1, devid: 0, vif: 'vif1.0', queue: 'vif1.0-q0' });
      expect(high.get(moved)!).toBeGreaterThan(low.get(moved)!);

      const byVif = async (metric: string) => Object.fromEntries((await query(metric)).map((s) => [s.metric.vif!, Number(s.value[1])]));
      expect(await byVif('wasm_netback_vif_xenbus_state')).toEqual({ 'vif1.0': 4, 'vif2.0': 4, 'vif3.0': 4 });
      expect(await byVif('wasm_netback_vif_disabled')).toEqual({ 'vif1.0': 0, 'vif2.0': 0, 'vif3.0': 1 });
      expect(await byVif('wasm_netback_vif_carrier')).toEqual({ 'vif1.0': 1, 'vif2.0': 1, 'vif3.0': 0 });
      expect(Number((await query('wasm_netback_workers'))[0]?.value[1])).toBe(0);
      expect(Number((await query('process_resident_memory_bytes'))[0]?.value[1])).toBeGreaterThan(10 * 1024 * 1024);
    } finally {
      prometheus?.child.kill('SIGTERM');
      sim.child.kill('SIGTERM');
      await Promise.all([prometheus?.exited, sim.exited]);
    }
  }, 120_000);
});

describe('sim --metrics', () => {
  it('sim_metrics_bad_address_exits_64', async () => {
    const outcome = await run(process.execPath, [bin, 'sim', '--seconds', '1', '--metrics', '9470']).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(outcome.code).toBe(64);
    expect(outcome.stderr).toMatch(/--metrics takes HOST:PORT/);
  });

  it('sim_metrics_from_netback_metrics_env', async () => {
    const { stdout } = await run(process.execPath, [bin, 'sim', '--seconds', '1', '--no-viz'], { env: { ...process.env, NETBACK_METRICS: '127.0.0.1:0' } });
    expect(stdout).toMatch(/^metrics: http:\/\/127\.0\.0\.1:[1-9][0-9]*\/metrics$/m);
  });

  it('sim_metrics_address_in_use_exits_69', async () => {
    const taken = createHttpServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const outcome = await run(process.execPath, [bin, 'sim', '--seconds', '1', '--no-viz', '--metrics', `127.0.0.1:${port}`]).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
      expect(outcome.code).toBe(69);
      expect(outcome.stderr).toMatch(new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
