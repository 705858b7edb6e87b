// What crosses between the main thread and a pool worker: control messages only (connect,
// disconnect, live settings, logs) and two kinds of shared memory the main thread reads without
// asking: each vif's published counters and ring indices, and each worker's table of open fds
// (fds belong to the process and outlive a thread that dies). Never a frame. Node only.

import type { FrontendConfig, RateLimit } from '../backend/frontend-config.js';
import type { HostCallback } from '../backend/containment.js';
import type { LogLevel } from '../log.js';

/** The engine settings every worker's data paths get (EngineContext's tunables). */
export interface PoolEngineSettings {
  fatalSlots: number;
  rxStallTimeoutMs: number;
  rxDrainTimeoutMs: number;
}

/** The vif as the worker needs to know it: no xenstore, no interface object. */
export interface PoolVifIdentity {
  backendDomid: number;
  frontendDomid: number;
  devid: number;
  handle: number;
  backendPath: string;
  frontendPath: string;
  /** The TAP whose queues the worker attaches. */
  name: string;
}

export interface WorkerInit {
  kernels: WebAssembly.Module;
  index: number;
  engine: PoolEngineSettings;
  /** Where the worker writes the fds it holds (-1: free slot). */
  fds: SharedArrayBuffer;
  /** A module exporting openDevices() (see worker-devices.ts); the real Xen devices by default. */
  devices: string;
  /** What that module's openDevices() is given (structured-cloned). */
  devicesOptions: unknown;
}

export type ToWorker =
  | { type: 'connect'; vif: number; identity: PoolVifIdentity; config: FrontendConfig }
  | { type: 'disconnect'; vif: number }
  | { type: 'rate'; vif: number; rate: RateLimit }
  | { type: 'multicast'; vif: number; enabled: boolean }
  | { type: 'xdp-headroom'; vif: number; headroom: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'connected'; vif: number; stats: SharedArrayBuffer; names: string[]; queues: string[] }
  | { type: 'connect-failed'; vif: number; code: string; message: string }
  | { type: 'disconnected'; vif: number }
  | { type: 'disabled'; vif: number; code: string }
  /** The vif's data path faulted (backend/containment.ts): what was thrown, for the main thread's VifFaultError. */
  | { type: 'faulted'; vif: number; where: HostCallback; name: string; message: string; stack: string }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> };

/** Slots of a worker's fd table. */
export const FD_TABLE_SLOTS = 1024;

// A vif's published state: a Float64Array. The vif's own fields, then per queue QUEUE_FIXED
// fields and its counters in the order of the `names` the worker sent with `connected`.
export const VIF_CARRIER = 0;
export const VIF_RX_MULTICAST_DROPS = 1;
export const VIF_RX_CARRIER_DROPS = 2;
export const VIF_CARRIER_CHANGES = 3;
export const VIF_HOST_ERRORS = 4;
export const VIF_FAULTS = 5;
export const VIF_FIELDS = 6;
/** Per queue: backlog, stalled, the TX and RX ring indices (6 each), the last TX batch's slots and ops. */
export const Q_BACKLOG = 0;
export const Q_STALLED = 1;
export const Q_TX = 2;
export const Q_RX = 8;
export const Q_LAST_TX_SLOTS = 14;
export const Q_LAST_TX_OPS = 15;
export const QUEUE_FIXED = 16;
/** reqProd, reqEvent, rspProd, rspEvent, reqCons, rspProdPvt: the order of RingIndices. */
export const RING_INDEX_FIELDS = ['reqProd', 'reqEvent', 'rspProd', 'rspEvent', 'reqCons', 'rspProdPvt'] as const;

export function vifStatsLength(queues: number, counters: number): number {
  return VIF_FIELDS + queues * (QUEUE_FIXED + counters);
}

export function queueBase(queue: number, counters: number): number {
  return VIF_FIELDS + queue * (QUEUE_FIXED + counters);
}
