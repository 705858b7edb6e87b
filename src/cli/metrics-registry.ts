// What `--metrics` exposes, as a prom-client registry filled from one host snapshot per scrape.
// The counters come from statsView and the vif states from listView (control-protocol.ts), the
// views `wasm-netback stats|list --json` print, so a scrape and `stats --json` agree wherever the
// counters live. prom-client writes the exposition format (escaping, HELP/TYPE lines) and the
// process figures every Node exporter has (process_resident_memory_bytes, nodejs_eventloop_lag_*).
//
//   wasm_netback_<counter>_total{domid,devid,vif,queue}  a queue's counter (tx_ring_packets...)
//   wasm_netback_<counter>_total{domid,devid,vif}        a counter of the vif itself (rx_carrier_drops...)
//   wasm_netback_vif_xenbus_state / _carrier / _disabled / _queues      one series per vif
//   wasm_netback_queue_rx_backlog_frames / _stalled                     one series per queue
//   wasm_netback_workers, wasm_netback_worker_active_seconds_total{worker}, wasm_netback_event_loop_active_seconds_total
//
// The vif's total of a queue counter (what `stats` prints in its total column) is
// sum by (vif) (wasm_netback_<counter>_total): it is not exposed a second time, so sum() over a
// metric never counts a frame twice.

import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { XenbusState } from '../backend/xenbus-state.js';
import type { HostSnapshot } from '../viz/snapshot.js';
import { listView, statsView } from './control-protocol.js';

export const METRIC_PREFIX = 'wasm_netback_';

/** One thread that serves queues, as the host that runs it reports it. */
export interface WorkerLoad {
  /** Stable within a run: the worker's index. */
  id: string;
  /** Seconds its event loop was busy since it started (EventLoopUtilization.active / 1000). */
  activeSeconds: number;
}

export interface MetricsSource {
  snapshot: () => HostSnapshot;
  /** The worker threads serving queues; absent or empty when the main thread serves them all. */
  workers?: () => readonly WorkerLoad[];
}

const VIF_LABELS = ['domid', 'devid', 'vif'] as const;
const QUEUE_LABELS = [...VIF_LABELS, 'queue'] as const;

/** How a `stats` counter is exposed: its metric name and the factor from its value to the metric's. */
export interface CounterMetric { name: string; scale: number }

/**
 * `rx_ring_packets` (a Wasm counter) → `wasm_netback_rx_ring_packets_total`; `rxBacklogDrops` (a
 * host one) → `wasm_netback_rx_backlog_drops_total`; a time in milliseconds (`busyMs`) is exposed
 * in seconds, Prometheus's base unit (`wasm_netback_busy_seconds_total`, the value / 1000).
 */
export function counterMetric(counter: string): CounterMetric {
  const snake = counter.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/[^a-zA-Z0-9_]/g, '_');
  const ms = /_ms$/.exec(snake);
  return ms === null ? { name: `${METRIC_PREFIX}${snake}_total`, scale: 1 } : { name: `${METRIC_PREFIX}${snake.slice(0, ms.index)}_seconds_total`, scale: 1 / 1000 };
}

/** XenbusState's number for a state name from the snapshot (`Invalid(9)` → 9). */
export function xenbusStateNumber(name: string): number {
  const known = (XenbusState as unknown as Record<string, number | undefined>)[name];
  if (typeof known === 'number') return known;
  const invalid = /^Invalid\((-?[0-9]+)\)$/.exec(name);
  return invalid === null ? Number.NaN : Number(invalid[1]);
}

/**
 * prom-client's gauges that carry a counter's `_total` suffix (promtool check metrics flags them);
 * nodejs_active_handles and nodejs_active_resources carry the same figures per type.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

// Once per process: the figures are the process's, and prom-client's event-loop and GC monitors
// are process-wide, so every metrics server of the process shares this registry. Its CPU counter
// counts from here, so it is made when the first server starts rather than at the first scrape.
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    for (const name of MISNAMED_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

export class NetbackMetrics {
  private readonly registry = new Registry();
  private readonly counters = new Map<string, Counter<string>>();
  private readonly xenbusState = this.gauge('vif_xenbus_state', 'xenbus state of the vif backend (XenbusState: 1 Initialising, 2 InitWait, 3 Initialised, 4 Connected, 5 Closing, 6 Closed)', VIF_LABELS);
  private readonly carrier = this.gauge('vif_carrier', 'carrier of the vif: 1 on, 0 off (stalled, not connected or disabled)', VIF_LABELS);
  private readonly disabled = this.gauge('vif_disabled', '1 when the frontend was disabled by a fatal rule (the log names the rule), else 0', VIF_LABELS);
  private readonly queues = this.gauge('vif_queues', 'queues the vif runs', VIF_LABELS);
  private readonly backlog = this.gauge('queue_rx_backlog_frames', 'frames for the guest waiting for ring space', QUEUE_LABELS);
  private readonly stalled = this.gauge('queue_stalled', '1 while the queue is stalled (the guest posts no RX buffers), else 0', QUEUE_LABELS);
  private readonly workers = this.gauge('workers', 'worker threads serving queues (0: the main thread serves every queue)', []);
  private readonly workerActive = new Counter({
    name: `${METRIC_PREFIX}worker_active_seconds_total`, help: 'seconds the worker thread was busy; rate() is its utilisation', labelNames: ['worker'], registers: [this.registry],
  });
  private readonly mainActive = new Counter({
    name: `${METRIC_PREFIX}event_loop_active_seconds_total`, help: "seconds the main thread's event loop was busy; rate() is its utilisation", registers: [this.registry],
  });

  private readonly process = processMetrics();

  constructor(private readonly source: MetricsSource) {}

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  /** The exposition text of this moment: one snapshot, every metric. */
  async scrape(): Promise<string> {
    this.update(this.source.snapshot());
    return Registry.merge([this.registry, this.process]).metrics();
  }

  private gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
    return new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames: [...labelNames], registers: [this.registry] });
  }

  /** Sets the series of one `stats` counter. */
  private count(name: string, scope: 'queue' | 'vif', labels: Record<string, string | number>, value: number): void {
    const metric = counterMetric(name);
    let counter = this.counters.get(metric.name);
    if (counter === undefined) {
      counter = new Counter({
        name: metric.name,
        help: `${scope === 'queue' ? "a queue's" : "a vif's own"} counter ${name} (wasm-netback stats)`,
        labelNames: [...(scope === 'queue' ? QUEUE_LABELS : VIF_LABELS)],
        registers: [this.registry],
      });
      this.counters.set(metric.name, counter);
    }
    counter.inc(labels, value * metric.scale);
  }

  private update(snapshot: HostSnapshot): void {
    // a vif or queue that went away since the last scrape has no series in this one
    for (const metric of [...this.counters.values(), this.xenbusState, this.carrier, this.disabled, this.queues, this.backlog, this.stalled, this.workerActive]) metric.reset();
    const stats = statsView(snapshot);
    for (const vif of stats.vifs) {
      const labels = { domid: vif.domid, devid: vif.devid, vif: vif.name };
      const perQueue = new Set(vif.queues.flatMap((queue) => Object.keys(queue.counters)));
      for (const queue of vif.queues) {
        for (const [name, value] of Object.entries(queue.counters)) this.count(name, 'queue', { ...labels, queue: queue.name }, value);
      }
      for (const [name, value] of Object.entries(vif.counters)) if (!perQueue.has(name)) this.count(name, 'vif', labels, value);
    }
    for (const vif of listView(snapshot).vifs) {
      const labels = { domid: vif.domid, devid: vif.devid, vif: vif.name };
      const state = xenbusStateNumber(vif.state);
      if (!Number.isNaN(state)) this.xenbusState.set(labels, state);
      this.carrier.set(labels, vif.carrier ? 1 : 0);
      this.disabled.set(labels, vif.disabled === null ? 0 : 1);
      this.queues.set(labels, vif.queues);
    }
    for (const vif of snapshot.vifs) {
      for (const queue of vif.queues) {
        const labels = { domid: vif.domid, devid: vif.devid, vif: vif.name, queue: queue.name };
        this.backlog.set(labels, queue.backlog);
        this.stalled.set(labels, queue.stalled ? 1 : 0);
      }
    }
    const workers = this.source.workers?.() ?? [];
    this.workers.set(workers.length);
    for (const worker of workers) this.workerActive.inc({ worker: worker.id }, worker.activeSeconds);
    this.mainActive.reset();
    this.mainActive.inc(performance.eventLoopUtilization().active / 1000);
  }
}
