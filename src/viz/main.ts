// The page: runs the real engine over a simulated host in the browser (the same .wasm kernels,
// SimHost, Linux-like netfronts), or draws the snapshots a running `wasm-netback sim` or daemon
// streams on /events (Server-Sent Events; /snapshot polled when the stream is unavailable).
// Either way the drawing only ever sees HostSnapshot objects. Which one:
//   ?attach=BASE   the sim or daemon at BASE (its --viz URL);
//   ?in-page       the simulation in this page;
//   neither        the sim or daemon that serves this page, when one does (its ./snapshot answers
//                  with a snapshot), else the simulation in this page.
// A link in the header switches between the serving sim and the in-page simulation.

import wasmUrl from '../../build/netback.wasm?url';
import { compileKernels } from '../wasm/module.js';
import { runBrowserBenches, type BrowserBenchRow } from './bench.js';
import { VizSim, type TrafficMix } from './driver.js';
import { HostView } from './render.js';
import type { HostSnapshot } from './snapshot.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const body = document.body;
const view = new HostView($('vifs'));
let kernels: Promise<WebAssembly.Module> | undefined;

function loadKernels(): Promise<WebAssembly.Module> {
  kernels ??= fetch(wasmUrl)
    .then((response) => {
      if (!response.ok) throw new Error(`${wasmUrl}: HTTP ${response.status}`);
      return response.arrayBuffer();
    })
    .then((bytes) => compileKernels(bytes))
    .then((module) => {
      body.dataset.wasm = 'loaded';
      return module;
    });
  return kernels;
}

function fail(error: unknown): void {
  body.dataset.status = 'error';
  $('step-result').textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
  console.error(error);
}

function render(snapshot: HostSnapshot): void {
  view.render(snapshot);
  body.dataset.snapshots = String(Number(body.dataset.snapshots ?? 0) + 1);
}

// ---- tabs --------------------------------------------------------------------------------------
for (const tab of Array.from(document.querySelectorAll<HTMLButtonElement>('nav .tab'))) {
  tab.addEventListener('click', () => {
    for (const other of Array.from(document.querySelectorAll<HTMLButtonElement>('nav .tab'))) other.classList.toggle('active', other === tab);
    for (const panel of Array.from(document.querySelectorAll<HTMLElement>('.panel'))) panel.hidden = panel.id !== tab.dataset.tab;
  });
}

// ---- benchmark tab -----------------------------------------------------------------------------
$('bench-run').addEventListener('click', () => {
  const button = $<HTMLButtonElement>('bench-run');
  const tbody = $('bench-table').querySelector('tbody')!;
  button.disabled = true;
  body.dataset.bench = 'running';
  tbody.replaceChildren();
  $('bench-status').textContent = `running in ${navigator.userAgent.match(/(Chrom\w+|Firefox|Safari)\/[\d.]+/)?.[0] ?? 'this browser'}…`;
  const addRow = (r: BrowserBenchRow): void => {
    const tr = document.createElement('tr');
    tr.dataset.kernel = r.kernel;
    tr.dataset.size = String(r.size);
    tr.dataset.gbps = String(r.GBps);
    tr.dataset.mops = String(r.Mops);
    for (const cell of [r.group, r.kernel, String(r.size), r.GBps.toFixed(2), r.Mops.toFixed(3), r.ns_per_op.toFixed(1)]) {
      tr.appendChild(document.createElement('td')).textContent = cell;
    }
    tbody.appendChild(tr);
  };
  loadKernels()
    .then((module) => runBrowserBenches(module, addRow))
    .then(() => {
      body.dataset.bench = 'done';
      $('bench-status').textContent += ' done';
    })
    .catch(fail)
    .finally(() => { button.disabled = false; });
});

// ---- attached to a running sim / daemon --------------------------------------------------------
function attach(base: string): void {
  const url = base.replace(/\/$/, '');
  $('source').textContent = `attached to ${url} (read-only)`;
  for (const id of ['pause', 'step', 'mix', 'rx-gso']) $<HTMLInputElement>(id).disabled = true;
  body.dataset.status = 'attached';
  let received = false;
  const events = new EventSource(`${url}/events`);
  // `wasm-netback sim` names its events `snapshot`; a plain stream sends unnamed messages
  const onSnapshot = (message: MessageEvent): void => {
    received = true;
    render(JSON.parse(message.data as string) as HostSnapshot);
  };
  events.onmessage = onSnapshot;
  events.addEventListener('snapshot', onSnapshot);
  events.onerror = () => {
    if (received) return; // EventSource reconnects by itself
    events.close();
    const poll = (): void => {
      fetch(`${url}/snapshot`)
        .then((r) => r.json() as Promise<HostSnapshot>)
        .then(render)
        .catch(() => { $('step-result').textContent = `cannot reach ${url}`; })
        .finally(() => setTimeout(poll, 500));
    };
    poll();
  };
}

// ---- the in-page simulation --------------------------------------------------------------------
async function simulate(): Promise<void> {
  const sim = await VizSim.create({ kernels: await loadKernels(), mix: $<HTMLSelectElement>('mix').value as TrafficMix, rxGso: $<HTMLInputElement>('rx-gso').checked });
  (globalThis as { vizSim?: VizSim }).vizSim = sim; // for the console
  const pause = $<HTMLButtonElement>('pause');
  const step = $<HTMLButtonElement>('step');
  let busy = false;
  const guarded = (action: () => Promise<void> | void) => async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      await action();
    } catch (error) {
      fail(error);
    } finally {
      busy = false;
      render(sim.snapshot());
    }
  };
  pause.addEventListener('click', guarded(async () => {
    if (sim.isPaused) {
      sim.run();
      pause.textContent = 'Pause';
      step.disabled = true;
      body.dataset.status = 'running';
    } else {
      await sim.pause();
      pause.textContent = 'Run';
      step.disabled = false;
      body.dataset.status = 'paused';
    }
  }));
  step.addEventListener('click', guarded(() => {
    const result = sim.step();
    body.dataset.steps = String(Number(body.dataset.steps ?? 0) + 1);
    body.dataset.stepBatches = String(result?.batches ?? 0);
    $('step-result').textContent = result === undefined ? 'nothing to run'
      : `step ${body.dataset.steps}: ${result.label} → ${result.batches} batch${result.batches === 1 ? '' : 'es'} on ${result.queues.join(', ')}`;
  }));
  $('mix').addEventListener('change', guarded(() => sim.setMix($<HTMLSelectElement>('mix').value as TrafficMix)));
  $('rx-gso').addEventListener('change', guarded(() => sim.setRxGso($<HTMLInputElement>('rx-gso').checked)));
  sim.run();
  body.dataset.status = 'running';
  setInterval(() => { if (!busy) render(sim.snapshot()); }, 100);
}

/** The base URL of the sim or daemon serving this page, or undefined (a static server). */
async function servingHost(): Promise<string | undefined> {
  const base = new URL('.', location.href);
  try {
    const response = await fetch(new URL('snapshot', base), { cache: 'no-store' });
    if (!response.ok || !(response.headers.get('content-type') ?? '').startsWith('application/json')) return undefined;
    const snapshot = await response.json() as Partial<HostSnapshot>;
    return typeof snapshot.version === 'number' && Array.isArray(snapshot.vifs) ? base.href : undefined;
  } catch {
    return undefined;
  }
}

function offerSwitch(text: string, href: string): void {
  const link = $<HTMLAnchorElement>('switch-source');
  link.textContent = text;
  link.href = href;
  link.hidden = false;
}

const params = new URLSearchParams(location.search);
const attachTo = params.get('attach');
if (attachTo !== null) {
  attach(attachTo);
  offerSwitch('run the simulation in this page instead', '?in-page');
} else if (params.has('in-page')) {
  simulate().catch(fail);
  void servingHost().then((base) => { if (base !== undefined) offerSwitch('show the sim serving this page', location.pathname); });
} else {
  void servingHost().then((base) => {
    if (base === undefined) {
      simulate().catch(fail);
      return;
    }
    attach(base);
    offerSwitch('run the simulation in this page instead', '?in-page');
  });
}
