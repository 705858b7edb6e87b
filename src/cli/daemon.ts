// `wasm-netback daemon`: serves every backend/vif of this domain in the foreground with the real
// device layer (xenstore socket or /dev/xen/xenbus, gntdev, evtchn) and the engine (one Wasm
// instance per queue, a TAP per vif). Logs JSON lines to stdout (human lines on a TTY) with
// domid/devid/vif/queue fields, prints a readiness line (and tells systemd when NOTIFY_SOCKET is
// set), answers `list`/`stats` on its control socket, closes every vif cleanly on SIGTERM/SIGINT
// and re-reads its configuration on SIGHUP. packaging/systemd/ has the unit.
//
// Options mirror Linux netback's module parameters; each is also read from a NETBACK_* variable
// and from the --config file (KEY=VALUE lines with the same NETBACK_* names, as a systemd
// EnvironmentFile). Precedence: command line, then environment, then the file, then defaults.
// Exit codes: 0 clean stop, 64 bad options, 69/77/78 failed preflight (see check.ts), 70 internal
// error or a shutdown that did not finish in time, 69 lost xenstore connection, 73 the control
// socket cannot be created (another instance serves it, or its directory is unsafe).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { Logger, LogLevel } from '../log.js';
import { EngineDataPath } from '../backend/datapath.js';
import { defaultMaxQueues, type FeatureOptions } from '../backend/features.js';
import type { VifIdentity } from '../backend/vif.js';
import { BackendWatcher } from '../backend/watcher.js';
import { loadNative } from '../native/addon.js';
import { tapInterfaces } from '../tap/port.js';
import { ownedTaps, removeLeftoverTap } from '../tap/tap.js';
import { NetbackError } from '../errors.js';
import { compileKernels } from '../wasm/module.js';
import { readKernels } from '../wasm/node-source.js';
import { RealEventChannels } from '../xen/real/event-channels.js';
import { RealGrantTable } from '../xen/real/grant-table.js';
import { defaultTransport, RealXenStore } from '../xen/real/xenstore.js';
import { snapshotHost, SNAPSHOT_VERSION, type HostSnapshot } from '../viz/snapshot.js';
import { EXIT, formatReport, hostEnvironment, runChecks } from './check.js';
import { backendDomainOf } from './backend-domain.js';
import { coarseClock } from './coarse-clock.js';
import { CONTROL_SOCKET_OFF, DEFAULT_CONTROL_SOCKET, MAX_SOCKET_PATH_BYTES } from './control-protocol.js';
import { ControlSocketError, startControlServer, type ControlServer } from './control-server.js';
import { MetricsAddressError, parseMetricsAddress, startMetricsServer, workerLoads, type MetricsAddress, type MetricsServer } from './metrics-server.js';
import { monotonicMicroseconds, sdNotify } from './sd-notify.js';
import { sweepLeftoverTaps } from './leftover-taps.js';
import { QueuePool, type PooledDataPath } from '../pool/pool.js';
import { startVizServer, type VizServer } from './viz-server.js';

export interface DaemonSettings {
  maxQueues: number;
  splitEventChannels: boolean;
  fatalSlots: number;
  rxStallTimeoutMs: number;
  rxDrainTimeoutMs: number;
  /** The domain we serve backends of; undefined: dom0 if control_d, else xenstore `domid`. */
  domid: number | undefined;
  logFormat: 'json' | 'human';
  config: string | undefined;
  preflight: boolean;
  /** Port of the read-only snapshot server for the visualizer (off when undefined). */
  viz: number | undefined;
  vizHost: string;
  /** The control socket for `list`/`stats`; null: --control-socket none. */
  controlSocket: string | null;
  /** Where GET /metrics is served (off when undefined). */
  metrics: MetricsAddress | undefined;
  /** Worker threads the queues run on; 0 runs them on the main thread. */
  workers: number;
}

export class DaemonOptionError extends NetbackError {
  constructor(message: string) {
    super('NETBACK_BAD_OPTION', message);
  }
}

/** Option name → NETBACK_* variable; the same names the --config file uses. */
const ENV_NAMES = {
  maxQueues: 'NETBACK_MAX_QUEUES',
  splitEventChannels: 'NETBACK_SPLIT_EVENT_CHANNELS',
  fatalSlots: 'NETBACK_FATAL_SLOTS',
  rxStallTimeoutMs: 'NETBACK_RX_STALL_TIMEOUT_MS',
  rxDrainTimeoutMs: 'NETBACK_RX_DRAIN_TIMEOUT_MS',
  domid: 'NETBACK_DOMID',
  logFormat: 'NETBACK_LOG_FORMAT',
  config: 'NETBACK_CONFIG',
  viz: 'NETBACK_VIZ',
  vizHost: 'NETBACK_VIZ_HOST',
  controlSocket: 'NETBACK_CONTROL_SOCKET',
  metrics: 'NETBACK_METRICS',
  workers: 'NETBACK_WORKERS',
} as const;

type RawOptions = Partial<Record<keyof typeof ENV_NAMES, string>> & { preflight?: boolean };

function integer(name: string, raw: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(raw.trim())) throw new DaemonOptionError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new DaemonOptionError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

function boolean(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'y', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'n', 'no', 'false', 'off'].includes(v)) return false;
  throw new DaemonOptionError(`${name} must be a boolean (1/0, yes/no, true/false, on/off), got ${JSON.stringify(raw)}`);
}

function controlSocketPath(name: string, raw: string): string | null {
  const path = raw.trim();
  if (path === CONTROL_SOCKET_OFF) return null;
  if (path === '' || Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new DaemonOptionError(`${name} must be a socket path of 1 to ${MAX_SOCKET_PATH_BYTES} bytes, or ${CONTROL_SOCKET_OFF}, got ${JSON.stringify(raw)}`);
  }
  return path;
}

function metricsAddress(name: string, raw: string): MetricsAddress {
  try {
    return parseMetricsAddress(raw);
  } catch (error) {
    if (error instanceof MetricsAddressError) throw new DaemonOptionError(`${name}: ${error.message}`);
    throw error;
  }
}

/** Parses KEY=VALUE lines (comments with #, optional quotes), as systemd's EnvironmentFile does. */
export function parseConfigFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^([A-Z_][A-Z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (m === null) throw new DaemonOptionError(`${file}:${i + 1}: expected NAME=value`);
    out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  });
  return out;
}

/**
 * Merges the command line, the environment and the config file into settings; every value is
 * validated here so a bad one stops the daemon before it touches any device.
 */
export function resolveDaemonSettings(cli: RawOptions, env: Record<string, string | undefined>, isTty: boolean, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): DaemonSettings {
  const configPath = cli.config ?? env[ENV_NAMES.config];
  let file: Record<string, string> = {};
  if (configPath !== undefined) {
    let text: string;
    try {
      text = readFile(configPath);
    } catch (error) {
      throw new DaemonOptionError(`cannot read --config ${configPath}: ${(error as Error).message}`);
    }
    file = parseConfigFile(text, configPath);
    for (const key of Object.keys(file)) {
      if (!(Object.values(ENV_NAMES) as string[]).includes(key)) throw new DaemonOptionError(`${configPath}: unknown setting ${key}`);
    }
  }
  const pick = (key: keyof typeof ENV_NAMES): string | undefined => cli[key] ?? env[ENV_NAMES[key]] ?? file[ENV_NAMES[key]];
  const opt = (key: keyof typeof ENV_NAMES) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const get = <T>(key: keyof typeof ENV_NAMES, parse: (name: string, raw: string) => T, fallback: T): T => {
    const raw = pick(key);
    return raw === undefined ? fallback : parse(`${opt(key)} (${ENV_NAMES[key]})`, raw);
  };
  const logFormat = get('logFormat', (name, raw) => {
    if (raw !== 'json' && raw !== 'human') throw new DaemonOptionError(`${name} must be json or human, got ${JSON.stringify(raw)}`);
    return raw;
  }, isTty ? 'human' as const : 'json' as const);
  return {
    maxQueues: get('maxQueues', (n, r) => integer(n, r, 1, 65535), defaultMaxQueues(availableParallelism())),
    splitEventChannels: get('splitEventChannels', boolean, true),
    fatalSlots: get('fatalSlots', (n, r) => integer(n, r, 1, 65535), 20),
    rxStallTimeoutMs: get('rxStallTimeoutMs', (n, r) => integer(n, r, 1, 86_400_000), 60_000),
    rxDrainTimeoutMs: get('rxDrainTimeoutMs', (n, r) => integer(n, r, 1, 86_400_000), 10_000),
    domid: get('domid', (n, r) => integer(n, r, 0, 0x7fef), undefined as number | undefined),
    logFormat,
    config: configPath,
    preflight: cli.preflight !== false,
    viz: get('viz', (n, r) => integer(n, r, 1, 65535), undefined as number | undefined),
    vizHost: get('vizHost', (_n, r) => r, '127.0.0.1'),
    controlSocket: get('controlSocket', controlSocketPath, DEFAULT_CONTROL_SOCKET as string | null),
    metrics: get('metrics', metricsAddress, undefined as MetricsAddress | undefined),
    workers: get('workers', (n, r) => integer(n, r, 0, 1024), availableParallelism()),
  };
}

/** JSON lines, or `time LEVEL msg k=v` lines for a person at a terminal. */
export function makeLogger(format: 'json' | 'human', write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  return (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    const clean: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) clean[k] = v;
    if (format === 'json') {
      write(`${JSON.stringify({ time: now().toISOString(), level, msg, ...clean })}\n`);
    } else {
      const extra = Object.entries(clean).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
      write(`${now().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${extra === '' ? '' : `  ${extra}`}\n`);
    }
  };
}

/** --workers 0: the devices every vif's queues share on the main thread. */
function openInThreadDevices(log: Logger): { grants: RealGrantTable; events: RealEventChannels; clock: ReturnType<typeof coarseClock> } {
  const grants = new RealGrantTable({ log });
  const events = new RealEventChannels({ log });
  grants.open();
  events.open();
  return { grants, events, clock: coarseClock(loadNative()) };
}

function featureOptions(s: DaemonSettings): FeatureOptions {
  return { maxQueues: s.maxQueues, splitEventChannels: s.splitEventChannels };
}

export async function runDaemon(initial: DaemonSettings, reload: () => DaemonSettings): Promise<number> {
  let settings = initial;
  const log = makeLogger(settings.logFormat, (line) => process.stdout.write(line));

  if (settings.preflight) {
    const report = runChecks(hostEnvironment());
    if (report.exitCode !== EXIT.ok) {
      for (const line of formatReport(report).split('\n')) log('error', `preflight: ${line}`);
      return report.exitCode;
    }
  }

  // The watcher exists once the devices are open; until then the socket answers with no vifs.
  let snapshot: () => HostSnapshot = () => ({ version: SNAPSHOT_VERSION, time: Date.now(), vifs: [] });
  let control: ControlServer | undefined;
  if (settings.controlSocket !== null) {
    // first of all: a live socket means another daemon serves these vifs, and two would fight
    try {
      control = await startControlServer({ path: settings.controlSocket, snapshot: () => snapshot(), log });
    } catch (error) {
      if (!(error instanceof ControlSocketError)) throw error;
      log('error', error.message, { event: 'control-socket', 'err.code': error.code });
      return error.exitCode;
    }
    log('info', `control socket: ${control.path}`, { event: 'control-socket', path: control.path });
  }
  let metrics: MetricsServer | undefined;
  let pool: QueuePool | undefined; // started once the devices are open
  if (settings.metrics !== undefined) {
    try {
      metrics = await startMetricsServer(settings.metrics, { snapshot: () => snapshot(), workers: () => workerLoads(pool?.threads ?? []) });
    } catch (error) {
      log('error', `cannot serve metrics on ${settings.metrics.host}:${settings.metrics.port}: ${(error as Error).message}`, { event: 'metrics' });
      await control?.close();
      return EXIT.unavailable;
    }
    log('info', `metrics: ${metrics.url}`, { event: 'metrics', url: metrics.url });
  }
  const notify = (fields: Record<string, string | number>) => {
    try {
      sdNotify(fields);
    } catch (error) {
      log('warn', `cannot notify systemd: ${(error as Error).message}`, { 'err.code': (error as NetbackError).code });
    }
  };

  let exiting: ((code: number) => void) | undefined;
  const finished = new Promise<number>((resolve) => { exiting = resolve; });
  const xs = RealXenStore.open({
    transport: defaultTransport(),
    onDisconnect: (reason) => {
      log('error', `lost the xenstore connection: ${reason}`);
      exiting?.(EXIT.unavailable);
    },
  });

  let backendDomid = settings.domid;
  if (backendDomid === undefined) {
    const caps = (() => { try { return readFileSync('/proc/xen/capabilities', 'utf8'); } catch { return ''; } })();
    backendDomid = await backendDomainOf(xs, caps);
  }
  if (backendDomid === undefined) {
    log('error', 'cannot tell which domain this is (no control_d, no xenstore `domid`): pass --domid');
    await control?.close();
    await metrics?.close();
    return EXIT.unavailable;
  }

  const leftovers = { xs, owned: ownedTaps, remove: removeLeftoverTap, log };
  await sweepLeftoverTaps(leftovers);
  const kernels = await compileKernels(await readKernels('release'));
  const dataPaths = new Map<string, EngineDataPath | PooledDataPath>();
  const features = featureOptions(settings);
  const engine = { fatalSlots: settings.fatalSlots, rxStallTimeoutMs: settings.rxStallTimeoutMs, rxDrainTimeoutMs: settings.rxDrainTimeoutMs };
  // The queues run on worker threads (src/pool/), each with its own device fds, or with
  // --workers 0 here on the main thread, with one gntdev and one evtchn fd for every vif.
  pool = settings.workers > 0 ? await QueuePool.start({ workers: settings.workers, kernels, engine, log }) : undefined;
  const inThread = pool === undefined ? openInThreadDevices(log) : undefined;
  const watcher = new BackendWatcher({
    xs, backendDomid, features, log,
    // persistent: a crash of this process leaves each TAP on its bridge for the restart to carry on with;
    // detached: with a pool, the workers attach the TAP queues that carry the frames
    interfaces: tapInterfaces({ persistent: true, detached: pool !== undefined }),
    dataPath: (vif: VifIdentity) => {
      const path = pool?.dataPath(vif) ?? new EngineDataPath({
        kernels, ...inThread!, busyClock: inThread!.clock.now, ...engine,
        log: (level, msg, fields) => log(level, msg, { domid: vif.frontendDomid, devid: vif.devid, vif: vif.name, ...fields }),
      }, vif);
      dataPaths.set(vif.name, path);
      return path;
    },
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      log('warn', `${signal} again: exiting without finishing the close`);
      exiting?.(EXIT.software);
      return;
    }
    stopping = true;
    notify({ STOPPING: 1, STATUS: `closing ${watcher.vifs.size} vif(s)` });
    log('info', `${signal}: closing ${watcher.vifs.size} vif(s)`);
    const deadline = setTimeout(() => {
      log('error', 'shutdown did not finish within 10 s');
      exiting?.(EXIT.software);
    }, 10_000);
    deadline.unref();
    try {
      await control?.close();
      await metrics?.close();
      await watcher.stop({ closeDevices: true });
      await pool?.close();
      inThread?.grants.close();
      inThread?.events.close();
      await xs.close();
      clearTimeout(deadline);
      log('info', 'stopped', { event: 'stopped' });
      exiting?.(EXIT.ok);
    } catch (error) {
      log('error', `shutdown failed: ${(error as Error).message}`);
      exiting?.(EXIT.software);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => { void stop(signal); };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    notify({ RELOADING: 1, MONOTONIC_USEC: monotonicMicroseconds() });
    try {
      settings = reload();
      Object.assign(features, featureOptions(settings));
      log('info', 'SIGHUP: configuration reloaded (applies to vifs connected from now on)', {
        maxQueues: settings.maxQueues, splitEventChannels: settings.splitEventChannels, fatalSlots: settings.fatalSlots,
      });
    } catch (error) {
      log('error', `SIGHUP: configuration not reloaded: ${(error as Error).message}`);
    }
    notify({ READY: 1 });
  });
  // A fault in one vif's data path or control plane is contained there (backend/containment.ts);
  // what still reaches here is a bug outside every vif, after which nothing is known to be sound.
  process.on('uncaughtException', (error) => {
    log('error', `internal error: ${error.stack ?? error.message}`);
    exiting?.(EXIT.software);
  });

  // a vif removed since the last snapshot is simply absent from the next
  snapshot = () => {
    for (const name of dataPaths.keys()) if (![...watcher.vifs.values()].some((v) => v.iface?.name === name)) dataPaths.delete(name);
    return snapshotHost({ watcher, dataPaths });
  };
  await watcher.start();
  await watcher.whenIdle();
  await sweepLeftoverTaps(leftovers, (name) => [...watcher.vifs.values()].some((vif) => vif.iface?.name === name));
  let viz: VizServer | undefined;
  if (settings.viz !== undefined) {
    // read-only snapshots for the visualizer (the successor of debugfs io_ring_qN), loopback only
    // unless told otherwise; its URLs carry the per-start token, so they go only to this log
    viz = await startVizServer({ host: settings.vizHost, port: settings.viz, snapshot });
    log('info', `visualizer: ${viz.url} (data: ${viz.url}snapshot, ${viz.url}events)`, { event: 'viz', url: viz.url });
  }
  log('info', 'ready', {
    event: 'ready', domid: backendDomid, pid: process.pid, maxQueues: settings.maxQueues, workers: settings.workers, viz: viz?.url,
    splitEventChannels: settings.splitEventChannels, fatalSlots: settings.fatalSlots,
  });
  notify({ READY: 1, MAINPID: process.pid, STATUS: `serving backend/vif of domain ${backendDomid}` });
  const code = await finished;
  await control?.close(); // also on the paths that end without stop(): a lost xenstore, an internal error
  await metrics?.close();
  return code;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('serve every vif of this domain in the foreground (JSON-lines logs; SIGTERM closes every vif; SIGHUP reloads)')
    .option('--max-queues <n>', 'multi-queue-max-queues advertised (NETBACK_MAX_QUEUES; default min(8, CPUs))')
    .option('--split-event-channels <bool>', 'advertise feature-split-event-channels (NETBACK_SPLIT_EVENT_CHANNELS; default 1)')
    .option('--fatal-slots <n>', 'slots per packet beyond which a frontend is disabled (NETBACK_FATAL_SLOTS; default 20)')
    .option('--rx-stall-timeout-ms <ms>', 'RX stall timeout (NETBACK_RX_STALL_TIMEOUT_MS; default 60000)')
    .option('--rx-drain-timeout-ms <ms>', 'RX drain timeout (NETBACK_RX_DRAIN_TIMEOUT_MS; default 10000)')
    .option('--domid <n>', 'the domain whose backends to serve (NETBACK_DOMID; default: this one)')
    .option('--log-format <json|human>', 'log format (NETBACK_LOG_FORMAT; default human on a TTY, else json)')
    .option('--config <file>', 'NETBACK_*=value settings, re-read on SIGHUP (NETBACK_CONFIG)')
    .option('--no-preflight', 'skip the `check` preflight')
    .option('--viz <port>', 'serve read-only snapshots for the visualizer on this port, at a URL with a per-start token the log prints (NETBACK_VIZ; off by default)')
    .option('--viz-host <address>', 'address of the snapshot server (NETBACK_VIZ_HOST; default 127.0.0.1)')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9470 (NETBACK_METRICS; off by default)')
    .option('--workers <n>', 'worker threads the queues run on, 0 for the main thread (NETBACK_WORKERS; default the CPUs available)')
    .option('--control-socket <path>', `socket for wasm-netback list|stats, or ${CONTROL_SOCKET_OFF} (NETBACK_CONTROL_SOCKET; default ${DEFAULT_CONTROL_SOCKET})`)
    .action(async (opts: RawOptions) => {
      const resolve = () => resolveDaemonSettings(opts, process.env, process.stdout.isTTY === true);
      let settings: DaemonSettings;
      try {
        settings = resolve();
      } catch (error) {
        if (!(error instanceof DaemonOptionError)) throw error;
        process.stderr.write(`wasm-netback daemon: ${error.message}\n`);
        process.exit(EXIT.usage);
      }
      const code = await runDaemon(settings, resolve);
      process.exit(code);
    });
}
