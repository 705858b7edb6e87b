// A read-only picture of a running host for the visualizer (the successor of the kernel's
// debugfs io_ring_qN): per vif its xenbus state, negotiated features, carrier, and per queue the
// ring indices read from the ring pages inside the queue's Wasm memory, the backend's private
// shadows (req_cons, rsp_prod_pvt), the slots of the last batch and the counters. Plain JSON, so
// the in-page simulation, `/snapshot` and the `/events` SSE stream hand the page the same object.
// see: xen-netback/xenbus.c xenvif_read_io_ring (debugfs io_ring_qN)

import type { EngineDataPath } from '../backend/datapath.js';
import type { NetbackQueue } from '../backend/queue.js';
import { xenbusStateName } from '../backend/xenbus-state.js';
import type { KernelInstance } from '../wasm/module.js';
import type { SimHost } from '../sim/host.js';

export const SNAPSHOT_VERSION = 1;

/** One shared ring as both ends see it (free-running u32 indices). */
export interface RingSnapshot {
  /** From the shared page: what the frontend published and asked for. */
  reqProd: number;
  reqEvent: number;
  /** From the shared page: what the backend published and what the frontend asked for. */
  rspProd: number;
  rspEvent: number;
  /** The backend's private shadows (QUEUE_STATE): requests consumed, responses written. */
  reqCons: number;
  rspProdPvt: number;
  /** The slots of the last batch, oldest first (at most SLOTS_SHOWN). */
  batch: SlotSnapshot[];
  /** TX only: requests published and not consumed yet, as the shared page holds them (at most SLOTS_SHOWN). */
  pending?: SlotSnapshot[];
}

/**
 * One ring slot of the last batch. TX: the backend's private copy of the request (or extra) and
 * the response now in the shared slot. RX: the response in the shared slot (or extra).
 */
export interface SlotSnapshot {
  index: number;
  kind: 'request' | 'extra' | 'response';
  id?: number;
  gref?: number;
  offset?: number;
  flags?: number;
  size?: number;
  /** NETIF_RSP_* (TX) or the byte count / NETIF_RSP_* (RX, when negative). */
  status?: number;
  /** XEN_NETIF_EXTRA_TYPE_* and, for GSO, the MSS. */
  extraType?: number;
  gsoSize?: number;
}

/** One grant-copy op of the last TX plan. */
export interface CopySnapshot {
  gref: number;
  offset: number;
  len: number;
  status: number;
}

export interface QueueSnapshot {
  name: string;
  tx: RingSnapshot;
  rx: RingSnapshot;
  /** The last TX batch's grant-copy plan (at most SLOTS_SHOWN ops) and its size. */
  txCopies: CopySnapshot[];
  txCopyCount: number;
  backlog: number;
  stalled: boolean;
  counters: Record<string, number>;
}

export interface VifSnapshot {
  name: string;
  domid: number;
  devid: number;
  /** xenbus state of the backend (Connected, InitWait...). */
  state: string;
  features: Record<string, boolean>;
  carrier: boolean;
  /** The fatal rule that disabled the vif (NETBACK_FATAL_*), or null. */
  disabled: string | null;
  queues: QueueSnapshot[];
  /** Sums over queues plus the vif's own (carrier drops...). */
  counters: Record<string, number>;
}

export interface HostSnapshot {
  version: number;
  /** Milliseconds (Date.now()) when taken. */
  time: number;
  vifs: VifSnapshot[];
}

const SLOTS_SHOWN = 32;
const RING_SLOTS = 256;
const TX_ENTRY = 12;
const RING_HEADER = 64;
// netif.h
const NETTXF_EXTRA_INFO = 0x8;
const NETRXF_EXTRA_INFO = 0x8;
const XEN_NETIF_EXTRA_FLAG_MORE = 0x1;
const XEN_NETIF_EXTRA_TYPE_GSO = 1;

/**
 * A data path whose queues run on another thread (a pool worker, src/pool/): it gives its
 * queues' snapshots from what the worker published, without the slot-level detail.
 */
export interface PublishedDataPath {
  readonly carrier: boolean;
  readonly disabled: { readonly code: string } | undefined;
  counters(): Record<string, number>;
  queueSnapshots(): QueueSnapshot[];
}

/** What a snapshot reads: the vifs a watcher serves and their data paths by name (a SimHost, or the daemon). */
export interface SnapshotSource {
  readonly watcher: Pick<SimHost['watcher'], 'vifs'>;
  readonly dataPaths: ReadonlyMap<string, EngineDataPath | PublishedDataPath>;
}

export function snapshotHost(host: SnapshotSource): HostSnapshot {
  const vifs: VifSnapshot[] = [];
  for (const vif of host.watcher.vifs.values()) {
    const name = vif.iface?.name ?? `vif${vif.frontendDomid}.${vif.devid}`;
    const path = host.dataPaths.get(name);
    vifs.push({
      name,
      domid: vif.frontendDomid,
      devid: vif.devid,
      state: xenbusStateName(vif.state),
      features: { ...(vif.config?.features ?? {}) },
      carrier: path?.carrier ?? false,
      disabled: path?.disabled?.code ?? null,
      queues: path === undefined ? [] : 'queueSnapshots' in path ? path.queueSnapshots() : path.queues.map(snapshotQueue),
      counters: path?.counters() ?? {},
    });
  }
  vifs.sort((a, b) => a.domid - b.domid || a.devid - b.devid);
  return { version: SNAPSHOT_VERSION, time: Date.now(), vifs };
}

/** A data path's snapshot without the xenbus side (for hosts other than SimHost). */
export function snapshotDataPath(path: EngineDataPath): QueueSnapshot[] {
  return path.queues.map(snapshotQueue);
}

function snapshotQueue(queue: NetbackQueue): QueueSnapshot {
  const k = queue.kernels;
  const copies = txCopies(k, queue.lastTxBatch.ops);
  return {
    name: queue.name,
    tx: txRing(k, queue.lastTxBatch.slots),
    rx: rxRing(k),
    txCopies: copies.shown,
    txCopyCount: copies.count,
    backlog: queue.backlogLength,
    stalled: queue.stalled,
    counters: queue.counters(),
  };
}

export type RingIndices = Omit<RingSnapshot, 'batch' | 'pending'>;

/** Both rings' indices of a queue, without the slots (what a pool worker publishes). */
export function ringIndices(queue: NetbackQueue): { tx: RingIndices; rx: RingIndices } {
  const k = queue.kernels;
  return { tx: indices(k, 'TX', 'QS_TX_REQ_CONS', 'QS_TX_RSP_PROD_PVT'), rx: indices(k, 'RX', 'QS_RX_REQ_CONS', 'QS_RX_RSP_PROD_PVT') };
}

function indices(k: KernelInstance, ring: string, cons: string, pvt: string): RingIndices {
  const view = k.view;
  const page = k.constant(`${ring}_RING_OFFSET`);
  const state = k.constant('QUEUE_STATE_OFFSET');
  return {
    reqProd: view.getUint32(page, true),
    reqEvent: view.getUint32(page + 4, true),
    rspProd: view.getUint32(page + 8, true),
    rspEvent: view.getUint32(page + 12, true),
    reqCons: view.getUint32(state + k.constant(cons), true),
    rspProdPvt: view.getUint32(state + k.constant(pvt), true),
  };
}

// The last TX batch that consumed slots: `slots` requests ending at rsp_prod_pvt, their private
// copies (indexed by batch position) and the responses commit wrote over the shared slots.
function txRing(k: KernelInstance, slots: number): RingSnapshot {
  const ring = indices(k, 'TX', 'QS_TX_REQ_CONS', 'QS_TX_RSP_PROD_PVT');
  const view = k.view;
  const start = (ring.rspProdPvt - slots) >>> 0;
  const copies = k.constant('TX_REQ_COPY_OFFSET');
  const stride = k.constant('TX_REQ_COPY_STRIDE');
  const page = k.constant('TX_RING_OFFSET');
  const batch: SlotSnapshot[] = [];
  let extraNext = false;
  for (let pos = 0; pos < Math.min(slots, SLOTS_SHOWN); pos++) {
    const c = copies + pos * stride;
    const index = (start + pos) >>> 0;
    const rsp = page + RING_HEADER + (index % RING_SLOTS) * TX_ENTRY;
    const status = view.getInt16(rsp + 2, true);
    if (extraNext) {
      const type = view.getUint8(c);
      const flags = view.getUint8(c + 1);
      batch.push({ index, kind: 'extra', extraType: type, flags, status, ...(type === XEN_NETIF_EXTRA_TYPE_GSO && { gsoSize: view.getUint16(c + 2, true) }) });
      extraNext = (flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      continue;
    }
    const flags = view.getUint16(c + 6, true);
    batch.push({
      index, kind: 'request', gref: view.getUint32(c, true), offset: view.getUint16(c + 4, true), flags,
      id: view.getUint16(c + 8, true), size: view.getUint16(c + 10, true), status,
    });
    extraNext = (flags & NETTXF_EXTRA_INFO) !== 0;
  }
  const pending: SlotSnapshot[] = [];
  const waiting = (ring.reqProd - ring.reqCons) >>> 0;
  for (let i = 0; i < Math.min(waiting, SLOTS_SHOWN); i++) {
    const index = (ring.reqCons + i) >>> 0;
    const r = page + RING_HEADER + (index % RING_SLOTS) * TX_ENTRY;
    pending.push({
      index, kind: 'request', gref: view.getUint32(r, true), offset: view.getUint16(r + 4, true), flags: view.getUint16(r + 6, true),
      id: view.getUint16(r + 8, true), size: view.getUint16(r + 10, true),
    });
  }
  return { ...ring, batch, pending };
}

// The last RX slots: the backend's private staging (indexed by ring slot) keeps each request's id
// and gref and the response or extra written for it; the shared slots themselves are reposted by
// the guest as soon as it has read them.
function rxRing(k: KernelInstance): RingSnapshot {
  const ring = indices(k, 'RX', 'QS_RX_REQ_CONS', 'QS_RX_RSP_PROD_PVT');
  const view = k.view;
  const stage = k.constant('RX_SLOT_STAGE_OFFSET');
  const stride = k.constant('RX_SLOT_STAGE_STRIDE');
  const rspAt = k.constant('RX_STAGE_RSP');
  const shown = Math.min(SLOTS_SHOWN, ring.rspProdPvt); // a fresh ring (Linux starts at 0) has none yet
  const start = (ring.rspProdPvt - shown) >>> 0;
  const batch: SlotSnapshot[] = [];
  let extraNext = false;
  for (let i = 0; i < shown; i++) {
    const index = (start + i) >>> 0;
    const s = stage + (index % RING_SLOTS) * stride;
    const r = s + rspAt;
    if (extraNext) {
      const type = view.getUint8(r);
      const flags = view.getUint8(r + 1);
      batch.push({ index, kind: 'extra', extraType: type, flags, ...(type === XEN_NETIF_EXTRA_TYPE_GSO && { gsoSize: view.getUint16(r + 2, true) }) });
      extraNext = (flags & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      continue;
    }
    const flags = view.getUint16(r + 4, true);
    batch.push({
      index, kind: 'response', id: view.getUint16(r, true), gref: view.getUint32(s + k.constant('RX_STAGE_REQ_GREF'), true),
      offset: view.getUint16(r + 2, true), flags, status: view.getInt16(r + 6, true),
    });
    extraNext = (flags & NETRXF_EXTRA_INFO) !== 0;
  }
  return { ...ring, batch };
}

function txCopies(k: KernelInstance, count: number): { shown: CopySnapshot[]; count: number } {
  const view = k.view;
  const ops = k.constant('TX_OPS_OFFSET');
  const size = k.constant('GNTOP_SIZE');
  const shown: CopySnapshot[] = [];
  for (let i = 0; i < Math.min(count, SLOTS_SHOWN); i++) {
    const p = ops + i * size;
    shown.push({
      gref: view.getUint32(p + k.constant('GNTOP_GREF'), true),
      offset: view.getUint16(p + k.constant('GNTOP_GUEST_OFF'), true),
      len: view.getUint16(p + k.constant('GNTOP_LEN'), true),
      status: view.getInt16(p + k.constant('GNTOP_STATUS'), true),
    });
  }
  return { shown, count };
}
