// `wasm-netback sim`: a whole simulated Xen host in this process — xenstore, toolstack, grant
// table, event channels, Linux-like netfronts — whose vifs the real engine serves, joined by the
// in-process bridge (or real TAPs with --tap), with traffic flowing between the guests: pings
// and one bulk GSO stream per queue (src/sim/traffic.ts). Live per-vif counters on the terminal,
// the visualizer's data over HTTP, and a summary (text or --json) at the end.

import { Option, type Command } from 'commander';
import { compileKernels, readKernels } from '../index.js';
import { SimHost } from '../sim/host.js';
import { TrafficGenerator, type GuestTrafficStats } from '../sim/traffic.js';
import { snapshotHost, SNAPSHOT_VERSION, type HostSnapshot, type VifSnapshot } from '../viz/snapshot.js';
import { nativeUnavailableReason } from '../native/addon.js';
import { tapInterfaces } from '../tap/port.js';
import { NETTXF_EXTRA_INFO, NETTXF_MORE_DATA } from '../xen/sim/netfront-tx.js';
import type { SimNetfront } from '../xen/sim/netfront.js';
import { NetbackError } from '../errors.js';
import { CliError, EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE, integerOption, secondsOption, usageError } from './exit.js';
import { CONTROL_SOCKET_OFF } from './control-protocol.js';
import { startControlServer, type ControlServer } from './control-server.js';
import { MetricsAddressError, parseMetricsAddress, startMetricsServer, type MetricsAddress, type MetricsServer } from './metrics-server.js';
import { DROP_COUNTER, formatBytes, formatMbps, LiveDisplay, liveRow, mbps } from './live-display.js';
import { sdNotify } from './sd-notify.js';
import { startVizServer, type VizServer } from './viz-server.js';

export interface SimOptions {
  guests: number;
  queues: number;
  seconds?: number;
  tap: boolean;
  hostile: boolean;
  json: boolean;
  /** undefined: serve when interactive; false: --no-viz; a number: --viz PORT. */
  viz?: number | boolean;
  vizHost: string;
  /** Serve `list`/`stats` on this Unix socket (off unless given). */
  controlSocket?: string;
  /** Serve GET /metrics here (off unless given). */
  metrics?: MetricsAddress;
}

export interface VifSummary {
  name: string;
  domid: number;
  hostile: boolean;
  state: string;
  carrier: boolean;
  disabled: string | null;
  features: Record<string, boolean> | null;
  queues: number;
  /** Guest TX (frames the engine took from the guest) and guest RX (frames it put into the guest). */
  packets: { tx: number; rx: number };
  bytes: { tx: number; rx: number };
  drops: { total: number; byCounter: Record<string, number> };
  errors: { total: number; byCounter: Record<string, number> };
  /** Mbit/s over the run, each direction, to one decimal (as printed). */
  throughput: { txMbps: number; rxMbps: number };
  traffic: GuestTrafficStats | null;
}

export interface SimSummary {
  seconds: number;
  mode: 'bridge' | 'tap';
  guests: number;
  queues: number;
  vifs: VifSummary[];
  bridge: { forwarded: number; flooded: number; dropped: number } | null;
  /** Drops or errors on a vif other than the hostile one (expected: 0). */
  unexpectedDrops: number;
  /**
   * Every non-hostile vif connected, enabled, with the guests' own traffic across it both ways
   * (pings answered, bulk bytes received: a counter can move with the host's own frames, such as
   * IPv6 router solicitations on a TAP that is on no bridge) and no unexpected drop.
   */
  ok: boolean;
  /** Why not ok, one line each ([] when ok). */
  problems: string[];
}

const DEFAULT_VIZ_PORT = 7040;
const ERROR_COUNTER = /^(tx_fatal|rx_copy_errors|ctrl_rejected)$/;

export function registerSim(program: Command): void {
  program.command('sim')
    .description('run a simulated Xen host: guests whose vifs the real engine serves, with traffic, live counters and the visualizer data')
    .option('--guests <n>', 'guests (2-64), joined by the in-process bridge', integerOption('--guests', 2, 64), 2)
    .option('--queues <n>', 'queues per vif (1-8)', integerOption('--queues', 1, 8), 1)
    .option('--seconds <s>', 'run this long, then print a summary and exit (default: until Ctrl-C)', secondsOption('--seconds'))
    .option('--tap', 'real TAP devices vif<D>.0 instead of the in-process bridge (root)', false)
    .option('--hostile', 'one more guest that sends malformed rings (its vif is disabled; the others are unaffected)', false)
    .option('--json', 'print the summary as JSON (no live display)', false)
    .option('--viz <port>', `serve the read-only snapshot, events and the page on this port, under a per-start token in the URL printed (default: ${DEFAULT_VIZ_PORT}, or a free port when it is taken; off with --seconds or --json)`, integerOption('--viz', 0, 65535))
    .option('--no-viz', 'do not serve the visualizer data')
    .option('--viz-host <address>', 'address to bind the visualizer server to', '127.0.0.1')
    .option('--control-socket <path>', 'answer `wasm-netback list|stats` on this Unix socket, as the daemon does (default: off)')
    .addOption(new Option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics, as the daemon does (default: off)')
      .env('NETBACK_METRICS').argParser(metricsOption))
    .action(async (options: SimOptions) => {
      process.exitCode = await runSim(options);
    });
}

function metricsOption(raw: string): MetricsAddress {
  try {
    return parseMetricsAddress(raw);
  } catch (error) {
    if (error instanceof MetricsAddressError) throw usageError(error.message);
    throw error;
  }
}

export async function runSim(options: SimOptions): Promise<number> {
  if (options.tap) {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new CliError('NETBACK_SIM_TAP_NEEDS_ROOT', '--tap creates TAP devices, which needs root (CAP_NET_ADMIN); run without --tap for the in-process bridge', EX_NOPERM);
    }
    const noAddon = nativeUnavailableReason();
    if (noAddon !== undefined) throw new CliError('NETBACK_SIM_TAP_NO_ADDON', `--tap needs the native addon: ${noAddon}`, EX_UNAVAILABLE);
  }
  const log = (line: string) => { if (!options.json) process.stdout.write(`${line}\n`); };
  const kernels = await compileKernels(await readKernels());
  // taken before the host starts, so a second instance on a live socket stops before any work
  let control: ControlServer | undefined;
  let snapshotSource: (() => HostSnapshot) | undefined;
  const snapshot = (): HostSnapshot => snapshotSource?.() ?? { version: SNAPSHOT_VERSION, time: Date.now(), vifs: [] };
  if (options.controlSocket !== undefined && options.controlSocket !== CONTROL_SOCKET_OFF) {
    control = await startControlServer({ path: options.controlSocket, snapshot });
  }
  let metrics: MetricsServer | undefined;
  if (options.metrics !== undefined) {
    const { host, port } = options.metrics;
    metrics = await startMetricsServer(options.metrics, { snapshot }).catch(async (error: Error) => {
      await control?.close();
      throw new CliError('NETBACK_SIM_METRICS_LISTEN', `cannot serve metrics on ${host}:${port}: ${error.message}`, EX_UNAVAILABLE);
    });
  }
  // A stop signal from here on ends the run cleanly, also one that arrives while the guests are
  // still being set up (the control socket already answers then: a test or a unit may stop us).
  let requestStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => { requestStop = resolve; });
  process.once('SIGINT', requestStop);
  process.once('SIGTERM', requestStop);
  const timers: ReturnType<typeof setTimeout>[] = [];
  let traffic: TrafficGenerator | undefined;
  let viz: VizServer | undefined;
  const host = new SimHost({
    kernels,
    features: { maxQueues: options.queues },
    ...(options.tap ? { interfaces: tapInterfaces({ up: true }) } : {}),
  });
  const domids = Array.from({ length: options.guests }, (_, i) => i + 1);
  const hostileDomid = options.hostile ? options.guests + 1 : undefined;
  try {
    await host.start();
    snapshotSource = () => snapshotHost(host);
    for (const domid of domids) await host.addGuest({ domid, queues: options.queues });
    if (hostileDomid !== undefined) await host.addGuest({ domid: hostileDomid, queues: 1 });
  } catch (error) {
    // a guest whose vif could not be set up (a TAP that cannot be made, say): the toolstack's
    // error quotes the backend's; everything started so far stops, as at the end of a run
    await shutdown();
    if (!(error instanceof NetbackError)) throw error;
    throw new CliError('NETBACK_SIM_SETUP', `setting up the simulated guests: ${error.message}`, EX_UNAVAILABLE);
  }

  traffic = new TrafficGenerator(host, domids);
  traffic.start();
  if (hostileDomid !== undefined) {
    const raw = host.guests.get(hostileDomid)!.netfront;
    timers.push(setTimeout(() => hostileDrops(raw), 300));
    timers.push(setTimeout(() => hostileFatal(raw), 1500));
  }

  const serve = options.viz === undefined ? options.seconds === undefined && !options.json : options.viz !== false;
  if (serve) {
    const port = typeof options.viz === 'number' ? options.viz : DEFAULT_VIZ_PORT;
    try {
      viz = await startVizServer({ host: options.vizHost, port, snapshot: () => snapshotHost(host) });
    } catch (error) {
      if (typeof options.viz === 'number') {
        await shutdown();
        throw new CliError('NETBACK_SIM_VIZ_LISTEN', `cannot serve the visualizer on ${options.vizHost}:${port}: ${(error as Error).message}`, EX_UNAVAILABLE);
      }
      viz = await startVizServer({ host: options.vizHost, port: 0, snapshot: () => snapshotHost(host) });
    }
  }

  const mode = options.tap ? 'tap' : 'bridge';
  log(`wasm-netback sim: ${options.guests} guests${hostileDomid !== undefined ? ` + 1 hostile (domid ${hostileDomid})` : ''}, ${options.queues} queue(s) each, ${mode === 'tap' ? 'real TAPs (put them on a bridge)' : 'in-process bridge'}`);
  if (viz !== undefined) {
    // the page served here shows this sim by default (no ?attach= needed), and the line fits 80 columns
    log(viz.page ? `visualizer: ${viz.url}` : `visualizer data: ${viz.url}snapshot (JSON), ${viz.url}events (Server-Sent Events) — the page is not built here`);
  }
  if (control !== undefined) log(`control socket: ${control.path} (wasm-netback list|stats --control-socket ${control.path})`);
  if (metrics !== undefined) log(`metrics: ${metrics.url}`);
  log(options.seconds === undefined ? 'Ctrl-C to stop' : `running for ${options.seconds} s`);
  // as the daemon does, so a unit (or a test) can wait for a sim the same way
  notifySystemd({ READY: 1, MAINPID: process.pid });

  const started = performance.now();
  const display = new LiveDisplay(process.stdout, !options.json);
  let last = { time: started, vifs: snapshotHost(host).vifs };
  const hostileName = hostileDomid === undefined ? undefined : last.vifs.find((vif) => vif.domid === hostileDomid)?.name;
  const title = `${last.vifs.length} vifs${hostileName === undefined ? '' : `, ${hostileName} hostile`}`;
  const draw = () => {
    const now = performance.now();
    const snapshot = snapshotHost(host);
    const rows = snapshot.vifs.map((vif) => liveRow(vif, last.vifs.find((v) => v.name === vif.name), (now - last.time) / 1000));
    last = { time: now, vifs: snapshot.vifs };
    if (!options.json) display.show(title, rows, `${((now - started) / 1000).toFixed(1)} s`);
  };
  const ticker = setInterval(draw, display.tty ? 500 : 1000);

  await new Promise<void>((done) => {
    if (options.seconds !== undefined) timers.push(setTimeout(done, options.seconds * 1000));
    void stopRequested.then(done);
  });
  clearInterval(ticker);
  traffic.stop();
  await host.settle();
  const elapsed = (performance.now() - started) / 1000;
  const summary = summarize(snapshotHost(host).vifs, traffic.stats(), hostileDomid, elapsed, mode, options, options.tap ? null : { ...host.bridge.stats });
  await shutdown();
  if (options.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    display.done();
    process.stdout.write(`${formatSummary(summary)}\n`);
  }
  return summary.ok ? 0 : EX_SOFTWARE;

  async function shutdown(): Promise<void> {
    process.off('SIGINT', requestStop);
    process.off('SIGTERM', requestStop);
    notifySystemd({ STOPPING: 1 });
    for (const timer of timers) clearTimeout(timer);
    traffic?.stop();
    await control?.close();
    await metrics?.close();
    await viz?.close();
    await host.close();
  }
}

function notifySystemd(fields: Record<string, string | number>): void {
  try {
    sdNotify(fields);
  } catch (error) {
    process.stderr.write(`wasm-netback sim: cannot notify systemd: ${(error as Error).message}\n`);
  }
}

/** Non-fatal malformations Linux answers with an error response: the packets are dropped. */
function hostileDrops(netfront: SimNetfront): void {
  const raw = netfront.hostile(0);
  let index = raw.txRing.reqProd;
  let id = 0;
  // see: netback.c xenvif_tx_build_gops (first slot smaller than an Ethernet header)
  for (let i = 0; i < 3; i++) raw.writeTxRequest(index++, { gref: raw.grant(true), offset: 0, flags: 0, id: id++, size: 10 });
  // see: netback.c xenvif_count_requests (a follower larger than what the first slot declared)
  raw.writeTxRequest(index++, { gref: raw.grant(true), offset: 0, flags: NETTXF_MORE_DATA, id: id++, size: 100 });
  raw.writeTxRequest(index++, { gref: raw.grant(true), offset: 0, flags: 0, id: id++, size: 200 });
  raw.setTxReqProd(index);
  raw.notifyTx();
}

/** A fatal rule: a 22-slot chain (more than fatal_skb_slots), then an extra of type 0. see: netback.c xenvif_count_requests */
function hostileFatal(netfront: SimNetfront): void {
  const raw = netfront.hostile(0);
  let index = raw.txRing.reqProd;
  for (let i = 0; i < 22; i++) {
    raw.writeTxRequest(index++, { gref: raw.grant(true), offset: 0, flags: i < 21 ? NETTXF_MORE_DATA : 0, id: 100 + i, size: i === 0 ? 22 * 100 : 100 });
  }
  raw.writeTxRequest(index++, { gref: raw.grant(true), offset: 0, flags: NETTXF_EXTRA_INFO, id: 200, size: 60 });
  raw.writeTxSlot(index++, new Uint8Array(12)); // extra type 0: XEN_NETIF_EXTRA_TYPE_NONE is invalid
  raw.setTxReqProd(index);
  raw.notifyTx();
}

function pick(counters: Record<string, number>, pattern: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(counters)) if (pattern.test(name) && value !== 0) out[name] = value;
  return out;
}

const total = (counters: Record<string, number>) => Object.values(counters).reduce((a, b) => a + b, 0);

export function summarize(vifs: VifSnapshot[], traffic: GuestTrafficStats[], hostileDomid: number | undefined, seconds: number,
  mode: 'bridge' | 'tap', options: SimOptions, bridge: SimSummary['bridge']): SimSummary {
  let unexpectedDrops = 0;
  const problems: string[] = [];
  const out = vifs.map((vif): VifSummary => {
    const c = vif.counters;
    const drops = pick(c, DROP_COUNTER);
    const errors = pick(c, ERROR_COUNTER);
    const hostile = vif.domid === hostileDomid;
    const packets = { tx: c.tx_ring_packets ?? 0, rx: c.rx_ring_packets ?? 0 };
    const bytes = { tx: c.tx_ring_bytes ?? 0, rx: c.rx_ring_bytes ?? 0 };
    const guest = traffic.find((t) => t.domid === vif.domid) ?? null;
    if (!hostile) {
      unexpectedDrops += total(drops) + total(errors);
      const wrong: string[] = [];
      if (vif.disabled !== null) wrong.push(`disabled (${vif.disabled})`);
      else if (vif.state !== 'Connected') wrong.push(`${vif.state}, not Connected`);
      if (packets.tx === 0) wrong.push('no frame from the guest');
      if (packets.rx === 0) wrong.push('no frame to the guest');
      if (guest !== null && guest.pongsReceived === 0) wrong.push(`no ping to dom${guest.peer} answered`);
      if (guest !== null && guest.bulkBytesReceived === 0) wrong.push('no bulk data received');
      if (wrong.length > 0) problems.push(`${vif.name}: ${wrong.join(', ')}`);
    }
    return {
      name: vif.name, domid: vif.domid, hostile, state: vif.state, carrier: vif.carrier, disabled: vif.disabled,
      features: vif.features, queues: vif.queues.length, packets, bytes,
      drops: { total: total(drops), byCounter: drops }, errors: { total: total(errors), byCounter: errors },
      throughput: { txMbps: mbps(bytes.tx, seconds), rxMbps: mbps(bytes.rx, seconds) },
      traffic: guest,
    };
  });
  if (unexpectedDrops !== 0) problems.push(`${unexpectedDrops} unexpected drops/errors`);
  if (mode === 'tap' && problems.length > 0) problems.push('with --tap, traffic crosses only once the TAPs are on a bridge');
  return {
    seconds: Math.round(seconds * 1000) / 1000, mode, guests: options.guests, queues: options.queues, vifs: out, bridge,
    unexpectedDrops, ok: problems.length === 0, problems,
  };
}

export function formatSummary(summary: SimSummary): string {
  // each line short enough for an 80-column terminal with ordinary figures
  const lines = [`summary after ${summary.seconds.toFixed(1)} s (${summary.mode}):`];
  for (const vif of summary.vifs) {
    const f = vif.features === null ? '-' : Object.entries(vif.features).filter(([, on]) => on).map(([name]) => name).join(',');
    lines.push(`  ${vif.name}${vif.hostile ? ' (hostile)' : ''}: ${vif.disabled !== null ? `disabled: ${vif.disabled}` : vif.state}, carrier ${vif.carrier ? 'on' : 'off'}, ${vif.queues} queue(s)`);
    lines.push(`    features ${f}`);
    lines.push(`    guest tx ${vif.packets.tx} pkts ${formatBytes(vif.bytes.tx)}, ${formatMbps(vif.throughput.txMbps)} Mbit/s`);
    lines.push(`    guest rx ${vif.packets.rx} pkts ${formatBytes(vif.bytes.rx)}, ${formatMbps(vif.throughput.rxMbps)} Mbit/s`);
    lines.push(`    drops ${vif.drops.total}${vif.drops.total ? ` ${JSON.stringify(vif.drops.byCounter)}` : ''}, errors ${vif.errors.total}${vif.errors.total ? ` ${JSON.stringify(vif.errors.byCounter)}` : ''}`);
    if (vif.traffic !== null) {
      const t = vif.traffic;
      lines.push(`    ping → dom${t.peer}: ${t.pongsReceived}/${t.pingsSent} answered, rtt ${t.rttMs.toFixed(2)} ms`);
      lines.push(`    bulk sent ${formatBytes(t.bulkBytesSent)}, received ${formatBytes(t.bulkBytesReceived)}`);
    }
  }
  if (summary.ok) lines.push('ok: traffic both ways on every guest vif, no unexpected drops');
  else lines.push(...summary.problems.map((problem) => `NOT OK: ${problem}`));
  return lines.join('\n');
}

