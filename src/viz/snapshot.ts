// A read-only, JSON-serialisable picture of a running simulated host (and later the daemon): per
// vif its xenbus state, negotiated features, carrier, and per queue the TX and RX ring indices as
// they lie in the queue's Wasm memory plus the counters. The visualizer draws it and `sim --viz`
// serves it over HTTP. Nothing here writes; no Node module, so the browser page can use it too.
// see: xen-netback debugfs io_ring_qN (the same indices, per queue)

import type { EngineDataPath } from '../backend/datapath.js';
import type { NetbackQueue } from '../backend/queue.js';
import type { Vif } from '../backend/vif.js';
import { xenbusStateName } from '../backend/xenbus-state.js';
import type { SimHost } from '../sim/host.js';

/** Bumped whenever a field changes meaning or disappears (adding fields keeps it). */
export const SNAPSHOT_VERSION = 1;

/** The shared-ring header (ring.h) plus the backend's private consumer index. */
export interface RingSnapshot {
  req_prod: number;
  req_event: number;
  rsp_prod: number;
  rsp_event: number;
  /** The backend's req_cons (private, in the queue state). */
  req_cons: number;
  /** The backend's rsp_prod_pvt: responses written but maybe not yet pushed. */
  rsp_prod_pvt: number;
}

export interface QueueSnapshot {
  index: number;
  name: string;
  tx: RingSnapshot;
  rx: RingSnapshot;
  /** Frames waiting for guest RX buffers. */
  rxBacklog: number;
  stalled: boolean;
  /** The fatal error code that stopped this queue, if any. */
  fatal: string | null;
  counters: Record<string, number>;
}

export interface VifSnapshot {
  name: string;
  domid: number;
  devid: number;
  /** XenbusState number and its name (Connected...). */
  state: number;
  stateName: string;
  features: Record<string, boolean> | null;
  carrier: boolean;
  /** The fatal error code that disabled the vif (every queue stopped), or null. */
  disabled: string | null;
  queues: QueueSnapshot[];
  /** Sum over the queues plus the vif's own (EngineDataPath.counters()). */
  counters: Record<string, number>;
}

export interface HostSnapshot {
  version: number;
  /** Milliseconds since the epoch when taken. */
  time: number;
  backendDomid: number;
  vifs: VifSnapshot[];
}

const RING_REQ_PROD = 0;
const RING_REQ_EVENT = 4;
const RING_RSP_PROD = 8;
const RING_RSP_EVENT = 12;

function ringSnapshot(queue: NetbackQueue, ringOffset: string, reqConsField: string, rspProdPvtField: string): RingSnapshot {
  const instance = queue.instance;
  const view = instance.view;
  const ring = instance.constant(ringOffset);
  const state = instance.constant('QUEUE_STATE_OFFSET');
  return {
    req_prod: view.getUint32(ring + RING_REQ_PROD, true),
    req_event: view.getUint32(ring + RING_REQ_EVENT, true),
    rsp_prod: view.getUint32(ring + RING_RSP_PROD, true),
    rsp_event: view.getUint32(ring + RING_RSP_EVENT, true),
    req_cons: view.getUint32(state + instance.constant(reqConsField), true),
    rsp_prod_pvt: view.getUint32(state + instance.constant(rspProdPvtField), true),
  };
}

export function snapshotQueue(queue: NetbackQueue, index: number): QueueSnapshot {
  return {
    index,
    name: queue.name,
    tx: ringSnapshot(queue, 'TX_RING_OFFSET', 'QS_TX_REQ_CONS', 'QS_TX_RSP_PROD_PVT'),
    rx: ringSnapshot(queue, 'RX_RING_OFFSET', 'QS_RX_REQ_CONS', 'QS_RX_RSP_PROD_PVT'),
    rxBacklog: queue.backlogLength,
    stalled: queue.stalled,
    fatal: queue.fatal?.code ?? null,
    counters: queue.counters(),
  };
}

export function snapshotVif(name: string, path: EngineDataPath, vif: Vif | undefined): VifSnapshot {
  const features = vif?.config?.features;
  return {
    name,
    domid: path.identity.frontendDomid,
    devid: path.identity.devid,
    state: vif?.state ?? 0,
    stateName: xenbusStateName(vif?.state ?? 0),
    features: features === undefined ? null : {
      rxNotify: features.rxNotify, sg: features.sg, gsoTcpv4: features.gsoTcpv4, gsoTcpv6: features.gsoTcpv6,
      ipCsum: features.ipCsum, ipv6Csum: features.ipv6Csum,
    },
    carrier: path.carrier,
    disabled: path.disabled?.code ?? null,
    queues: path.queues.map((queue, index) => snapshotQueue(queue, index)),
    counters: path.counters(),
  };
}

export function snapshotHost(host: SimHost): HostSnapshot {
  const vifs: VifSnapshot[] = [];
  for (const [name, path] of host.dataPaths) {
    const vif = host.watcher.vifs.get(`${path.identity.frontendDomid}/${path.identity.devid}`);
    vifs.push(snapshotVif(name, path, vif));
  }
  vifs.sort((a, b) => a.domid - b.domid || a.devid - b.devid);
  return { version: SNAPSHOT_VERSION, time: Date.now(), backendDomid: host.backendDomid, vifs };
}
