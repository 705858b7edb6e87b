// Draws HostSnapshot objects: per vif a card (state, features, carrier, disabled), per queue the
// TX and RX rings as 256 slots with their indices, the slots of the last batch, the last TX
// grant-copy plan, and plots of throughput and counters over time. Plain DOM and canvas. Whatever
// the source (the in-page SimHost or an attached sim/daemon), the page only sees snapshots.

import type { HostSnapshot, QueueSnapshot, RingSnapshot, SlotSnapshot, VifSnapshot } from './snapshot.js';

const RING_SLOTS = 256;
const HISTORY = 120;
const COLORS = { pending: '#f0a030', inflight: '#4f8fe0', batch: '#3fae6a', free: '#d9dee5', req: '#c0392b', cons: '#1c6fd1', rsp: '#1d8a4a', ev: '#7d3cc8' };
const EXTRA_NAMES: Record<number, string> = { 1: 'GSO', 2: 'MCAST+', 3: 'MCAST-', 4: 'HASH', 5: 'XDP' };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, parent?: HTMLElement): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== undefined) node.className = className;
  parent?.appendChild(node);
  return node;
}

function canvas(parent: HTMLElement, width: number, height: number): CanvasRenderingContext2D {
  const c = el('canvas', undefined, parent);
  const ratio = 2;
  c.width = width * ratio;
  c.height = height * ratio;
  const ctx = c.getContext('2d')!;
  ctx.scale(ratio, ratio);
  return ctx;
}

/** Offset of `index` from `base` on the ring, as an unsigned distance. */
const dist = (index: number, base: number): number => (index - base) >>> 0;

function drawRing(ctx: CanvasRenderingContext2D, label: string, ring: RingSnapshot): void {
  const size = 180;
  const cx = size / 2;
  const cy = size / 2;
  const outer = 80;
  const inner = 58;
  const band = 50; // the last batch's slots, drawn inside the ring so they show over posted requests
  ctx.clearRect(0, 0, size, size);
  const pending = dist(ring.reqProd, ring.reqCons);
  const inflight = dist(ring.reqCons, ring.rspProdPvt);
  const batch = new Set(ring.batch.map((s) => s.index % RING_SLOTS));
  const angle = (slot: number): number => -Math.PI / 2 + (slot / RING_SLOTS) * 2 * Math.PI;
  for (let slot = 0; slot < RING_SLOTS; slot++) {
    let color = COLORS.free;
    if (pending <= RING_SLOTS && dist(slot, ring.reqCons % RING_SLOTS) % RING_SLOTS < pending && pending > 0) color = COLORS.pending;
    else if (inflight > 0 && dist(slot, ring.rspProdPvt % RING_SLOTS) % RING_SLOTS < inflight) color = COLORS.inflight;
    ctx.beginPath();
    ctx.arc(cx, cy, outer, angle(slot) + 0.003, angle(slot + 1) - 0.003);
    ctx.arc(cx, cy, inner, angle(slot + 1) - 0.003, angle(slot) + 0.003, true);
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.fill();
    if (batch.has(slot)) {
      ctx.beginPath();
      ctx.arc(cx, cy, inner - 2, angle(slot), angle(slot + 1));
      ctx.arc(cx, cy, band, angle(slot + 1), angle(slot), true);
      ctx.closePath();
      ctx.fillStyle = COLORS.batch;
      ctx.fill();
    }
  }
  const tick = (index: number, color: string, from: number, to: number, width: number): void => {
    const a = angle((index % RING_SLOTS) + 0.5);
    ctx.beginPath();
    ctx.moveTo(cx + Math.cos(a) * from, cy + Math.sin(a) * from);
    ctx.lineTo(cx + Math.cos(a) * to, cy + Math.sin(a) * to);
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.stroke();
  };
  tick(ring.reqEvent, COLORS.ev, outer + 1, outer + 8, 2);
  tick(ring.rspEvent, COLORS.ev, band - 8, band - 1, 2);
  tick(ring.reqProd, COLORS.req, band - 4, outer + 6, 2);
  tick(ring.reqCons, COLORS.cons, band - 2, outer + 2, 2);
  tick(ring.rspProd, COLORS.rsp, band, outer, 2);
  ctx.fillStyle = '#1d232b';
  ctx.textAlign = 'center';
  ctx.font = '600 15px system-ui, sans-serif';
  ctx.fillText(label, cx, cy - 4);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#44516a';
  ctx.fillText(`${pending} ${label.startsWith('RX') ? 'posted' : 'waiting'}`, cx, cy + 12);
}

function slotChip(slot: SlotSnapshot, direction: 'tx' | 'rx'): HTMLElement {
  const chip = document.createElement('span');
  const bad = slot.kind !== 'extra' && (slot.status ?? 0) < 0;
  chip.className = `slot${slot.kind === 'extra' ? ' extra' : ''}${bad ? ' err' : ''}`;
  const at = `#${slot.index % RING_SLOTS}`;
  if (slot.kind === 'extra') {
    chip.textContent = `${at} ${EXTRA_NAMES[slot.extraType ?? 0] ?? `extra ${slot.extraType}`}${slot.gsoSize !== undefined ? ` mss ${slot.gsoSize}` : ''}`;
  } else if (direction === 'tx') {
    chip.textContent = `${at} id ${slot.id} ${slot.size}B f${(slot.flags ?? 0).toString(16)} → ${slot.status}`;
    chip.title = `request: gref ${slot.gref} offset ${slot.offset} flags 0x${(slot.flags ?? 0).toString(16)} size ${slot.size}; response status ${slot.status}`;
  } else {
    chip.textContent = `${at} id ${slot.id} ${(slot.status ?? 0) >= 0 ? `${slot.status}B` : `err ${slot.status}`} f${(slot.flags ?? 0).toString(16)}`;
    chip.title = `response: id ${slot.id} offset ${slot.offset} flags 0x${(slot.flags ?? 0).toString(16)} status ${slot.status}; request gref ${slot.gref}`;
  }
  return chip;
}

class QueueView {
  readonly root: HTMLElement;
  private readonly txCtx: CanvasRenderingContext2D;
  private readonly rxCtx: CanvasRenderingContext2D;
  private readonly txIdx: HTMLElement;
  private readonly rxIdx: HTMLElement;
  private readonly txSlots: HTMLElement;
  private readonly copies: HTMLElement;
  private readonly copyTitle: HTMLElement;
  private readonly rxSlots: HTMLElement;

  constructor(parent: HTMLElement) {
    this.root = el('div', 'queue', parent);
    const tx = el('div', 'ring', this.root);
    this.txCtx = canvas(tx, 180, 180);
    this.txIdx = el('div', 'idx', tx);
    const rx = el('div', 'ring', this.root);
    this.rxCtx = canvas(rx, 180, 180);
    this.rxIdx = el('div', 'idx', rx);
    const detail = el('div', 'detail', this.root);
    el('h3', undefined, detail).textContent = 'last TX batch: requests (private copies) and extras → response status; then requests still waiting';
    this.txSlots = el('div', 'slots', detail);
    this.copyTitle = el('h3', undefined, detail);
    this.copies = el('div', 'copies', detail);
    el('h3', undefined, detail).textContent = 'last RX slots: responses (bytes or error) and extras';
    this.rxSlots = el('div', 'slots', detail);
  }

  update(q: QueueSnapshot): void {
    const d = this.root.dataset;
    d.queue = q.name;
    d.txReqProd = String(q.tx.reqProd);
    d.txReqCons = String(q.tx.reqCons);
    d.txRspProd = String(q.tx.rspProd);
    d.rxReqProd = String(q.rx.reqProd);
    d.rxReqCons = String(q.rx.reqCons);
    d.rxRspProd = String(q.rx.rspProd);
    d.txBatches = String(q.counters.txBatches ?? 0);
    d.rxBatches = String(q.counters.rxBatches ?? 0);
    drawRing(this.txCtx, `TX ${q.name.replace(/^.*-/, '')}`, q.tx);
    drawRing(this.rxCtx, `RX ${q.name.replace(/^.*-/, '')}`, q.rx);
    this.txIdx.textContent = indexText(q.tx);
    this.rxIdx.textContent = indexText(q.rx) + `\nbacklog    ${q.backlog}${q.stalled ? ' STALLED' : ''}`;
    const pending = q.tx.pending ?? [];
    this.txSlots.replaceChildren(...q.tx.batch.map((s) => slotChip(s, 'tx')), ...pending.map((s) => {
      const chip = slotChip(s, 'tx');
      chip.classList.add('waiting');
      chip.textContent = `${chip.textContent?.replace(/ → .*$/, '')} (waiting)`;
      return chip;
    }));
    this.rxSlots.replaceChildren(...q.rx.batch.slice(-16).map((s) => slotChip(s, 'rx')));
    const bytes = q.txCopies.reduce((n, c) => n + c.len, 0);
    this.copyTitle.textContent = `last TX grant-copy batch: ${q.txCopyCount} ops${q.txCopyCount > q.txCopies.length ? ` (first ${q.txCopies.length}: ${bytes} B)` : `, ${bytes} B`}`;
    this.copies.replaceChildren(...q.txCopies.map((c) => {
      const bar = document.createElement('div');
      bar.style.height = `${Math.max(2, Math.round((c.len / 4096) * 28))}px`;
      if (c.status !== 0) bar.className = 'err';
      bar.title = `gref ${c.gref} +${c.offset} len ${c.len} status ${c.status}`;
      return bar;
    }));
  }
}

function indexText(r: RingSnapshot): string {
  return [
    `req_prod   ${r.reqProd}`, `req_cons   ${r.reqCons}`, `rsp_prod   ${r.rspProd}`,
    `req_event  ${r.reqEvent}`, `rsp_event  ${r.rspEvent}`,
  ].join('\n');
}

interface Sample { time: number; counters: Record<string, number> }

/** Rate series drawn on one plot: a counter, its colour and a unit scale. */
interface Series { counter: string; label: string; color: string; scale: number }

const THROUGHPUT: Series[] = [
  { counter: 'tx_ring_bytes', label: 'guest TX Mbit/s', color: '#c0392b', scale: 8 / 1e6 },
  { counter: 'rx_ring_bytes', label: 'guest RX Mbit/s', color: '#1c6fd1', scale: 8 / 1e6 },
];
const PACKETS: Series[] = [
  { counter: 'tx_ring_packets', label: 'TX pkt/s', color: '#c0392b', scale: 1 },
  { counter: 'rx_ring_packets', label: 'RX pkt/s', color: '#1c6fd1', scale: 1 },
  { counter: 'rxSoftwareSegments', label: 'Wasm segments/s', color: '#3fae6a', scale: 1 },
];

function drawPlot(ctx: CanvasRenderingContext2D, history: Sample[], series: Series[]): void {
  const w = 300;
  const h = 90;
  ctx.clearRect(0, 0, w, h);
  const rates = series.map((s) => {
    const out: number[] = [];
    for (let i = 1; i < history.length; i++) {
      const dt = (history[i]!.time - history[i - 1]!.time) / 1000;
      const dv = (history[i]!.counters[s.counter] ?? 0) - (history[i - 1]!.counters[s.counter] ?? 0);
      out.push(dt > 0 ? Math.max(0, (dv / dt) * s.scale) : 0);
    }
    return out;
  });
  const max = Math.max(1, ...rates.flat());
  ctx.strokeStyle = '#e3e7ec';
  ctx.lineWidth = 1;
  for (const f of [0.25, 0.5, 0.75]) {
    ctx.beginPath();
    ctx.moveTo(0, h - 4 - f * (h - 20));
    ctx.lineTo(w, h - 4 - f * (h - 20));
    ctx.stroke();
  }
  rates.forEach((values, k) => {
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = w - (values.length - 1 - i) * (w / (HISTORY - 1));
      const y = h - 4 - (v / max) * (h - 20);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = series[k]!.color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  });
  ctx.font = '10px system-ui, sans-serif';
  let x = 4;
  series.forEach((s, k) => {
    const last = rates[k]!.at(-1) ?? 0;
    const text = `${s.label} ${last >= 100 ? last.toFixed(0) : last.toFixed(1)}`;
    ctx.fillStyle = s.color;
    ctx.fillText(text, x, 11);
    x += ctx.measureText(text).width + 10;
  });
  ctx.fillStyle = '#8a94a3';
  ctx.textAlign = 'right';
  ctx.fillText(`max ${max >= 100 ? max.toFixed(0) : max.toFixed(1)}`, w - 4, h - 6);
  ctx.textAlign = 'left';
}

class VifView {
  readonly root: HTMLElement;
  private readonly title: HTMLElement;
  private readonly queuesEl: HTMLElement;
  private readonly queues: QueueView[] = [];
  private readonly throughput: CanvasRenderingContext2D;
  private readonly packets: CanvasRenderingContext2D;
  private readonly countersEl: HTMLElement;
  private readonly history: Sample[] = [];

  constructor(parent: HTMLElement) {
    this.root = el('div', 'vif', parent);
    this.title = el('h2', undefined, this.root);
    this.queuesEl = el('div', undefined, this.root);
    const plots = el('div', 'plots', this.root);
    this.throughput = canvas(plots, 300, 90);
    this.packets = canvas(plots, 300, 90);
    this.countersEl = el('div', 'counters', this.root);
  }

  update(v: VifSnapshot, time: number): void {
    const d = this.root.dataset;
    d.vif = v.name;
    d.state = v.state;
    d.carrier = String(v.carrier);
    d.disabled = v.disabled ?? '';
    d.rxSoftwareSegments = String(v.counters.rxSoftwareSegments ?? 0);
    this.root.classList.toggle('disabled', v.disabled !== null);
    const badges = [
      `<span class="badge">dom ${v.domid} dev ${v.devid}</span>`,
      `<span class="badge">${v.state}</span>`,
      `<span class="badge ${v.carrier ? 'on' : 'off'}">carrier</span>`,
      ...Object.entries(v.features).filter(([name]) => name !== 'rxCopy').map(([name, on]) => `<span class="badge ${on ? 'on' : 'off'}">${name}</span>`),
      v.disabled !== null ? `<span class="badge bad">DISABLED: ${v.disabled}</span>` : '',
    ];
    this.title.innerHTML = `${v.name} ${badges.join(' ')}`;
    while (this.queues.length < v.queues.length) this.queues.push(new QueueView(this.queuesEl));
    while (this.queues.length > v.queues.length) this.queues.pop()!.root.remove();
    v.queues.forEach((q, i) => this.queues[i]!.update(q));
    const previous = this.history.at(-1);
    if (previous === undefined || previous.time !== time) this.history.push({ time, counters: v.counters });
    if (this.history.length > HISTORY) this.history.shift();
    drawPlot(this.throughput, this.history, THROUGHPUT);
    drawPlot(this.packets, this.history, PACKETS);
    const before = this.history.length > 1 ? this.history[this.history.length - 2]!.counters : {};
    this.countersEl.innerHTML = Object.entries(v.counters)
      .filter(([, value]) => value !== 0)
      .map(([name, value]) => `<div class="${value !== before[name] ? 'moving' : ''}" data-counter="${name}">${name} ${Math.round(value)}</div>`)
      .join('');
  }
}

/** Keeps one card per vif name and redraws them from each snapshot. */
export class HostView {
  private readonly parent: HTMLElement;
  private readonly vifs = new Map<string, VifView>();

  constructor(parent: HTMLElement) {
    this.parent = parent;
  }

  render(snapshot: HostSnapshot): void {
    const seen = new Set<string>();
    for (const vif of snapshot.vifs) {
      seen.add(vif.name);
      let view = this.vifs.get(vif.name);
      if (view === undefined) {
        view = new VifView(this.parent);
        this.vifs.set(vif.name, view);
      }
      view.update(vif, snapshot.time);
    }
    for (const [name, view] of this.vifs) {
      if (!seen.has(name)) {
        view.root.remove();
        this.vifs.delete(name);
      }
    }
  }
}
