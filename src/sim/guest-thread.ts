// A simulated guest on a thread of its own, as a real guest runs on its own vCPUs: its netfront
// (and, once asked, the guest TAP that gives it a Linux stack, guest-tap.ts) run in a worker
// thread over the cross-thread simulated Xen (src/xen/sim/shared/). The backend, on the thread
// that made the SharedXen, sees the guest only through grants, ring pages and event channels.
// This file is the backend thread's handle; guest-thread-worker.ts is the guest's side.
// Node only (worker_threads, the addon's memfd).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GuestTapStats } from './guest-tap.js';
import type { RemoteNetfront } from './host.js';
import type { NetfrontFeatures, NetfrontQueueKeys, NetfrontStats } from '../xen/sim/netfront.js';
import type { SharedXen, SharedXenHandle } from '../xen/sim/shared/shared-xen.js';

export interface GuestThreadOptions {
  xen: SharedXen;
  domid: number;
  backendDomid?: number;
  queues?: number;
  /** Split TX/RX event channels (default true, as the backend offers by default). */
  split?: boolean;
  features?: Partial<NetfrontFeatures>;
}

/** What the worker is started with. */
export interface GuestThreadData {
  xen: SharedXenHandle;
  domid: number;
  backendDomid: number;
  queues: number;
  split: boolean;
  features: Partial<NetfrontFeatures>;
}

export type GuestThreadRequest =
  | { kind: 'start' }
  | { kind: 'openTap'; name: string; mtu: number }
  | { kind: 'stats' }
  | { kind: 'close' };

export interface GuestThreadStats {
  netfront: NetfrontStats;
  tap: GuestTapStats | undefined;
}

/** The worker's first message, then one reply per request (in order). */
export type GuestThreadMessage =
  | { kind: 'ready'; tid: number; queueKeys: NetfrontQueueKeys[] }
  | { kind: 'reply'; stats?: GuestThreadStats }
  | { kind: 'error'; message: string };

/** The compiled worker script: beside this file in dist/, or dist/'s copy when run from src/ (tests). */
function workerScript(): URL {
  const here = new URL('./guest-thread-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/src/sim/guest-thread-worker.js', import.meta.url);
}

export class GuestThread implements RemoteNetfront {
  readonly split: boolean;
  readonly queueKeys: readonly NetfrontQueueKeys[];
  /** The guest thread's kernel thread id (for its CPU time). */
  readonly tid: number;
  private readonly worker: Worker;
  private readonly waiting: Array<{ resolve: (m: GuestThreadMessage) => void; reject: (e: Error) => void }> = [];
  private exited: Error | undefined;

  private constructor(worker: Worker, split: boolean, ready: Extract<GuestThreadMessage, { kind: 'ready' }>) {
    this.worker = worker;
    this.split = split;
    this.queueKeys = ready.queueKeys;
    this.tid = ready.tid;
    worker.on('message', (message: GuestThreadMessage) => {
      const next = this.waiting.shift();
      if (next === undefined) return;
      if (message.kind === 'error') next.reject(new Error(`guest thread: ${message.message}`));
      else next.resolve(message);
    });
  }

  /** Starts the guest thread; resolves once its netfront has made its rings and ports. */
  static async spawn(options: GuestThreadOptions): Promise<GuestThread> {
    const split = options.split ?? true;
    const data: GuestThreadData = {
      xen: options.xen.handle, domid: options.domid, backendDomid: options.backendDomid ?? 0,
      queues: options.queues ?? 1, split, features: options.features ?? {},
    };
    const worker = new Worker(workerScript(), { workerData: data });
    const ready = await new Promise<GuestThreadMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`guest thread exited (${code}) before it was ready`)));
    });
    worker.removeAllListeners('error').removeAllListeners('exit');
    if (ready.kind !== 'ready') {
      await worker.terminate();
      throw new Error(`guest thread: ${ready.kind === 'error' ? ready.message : 'no ready message'}`);
    }
    const thread = new GuestThread(worker, split, ready);
    const fail = (error: Error) => {
      thread.exited ??= error;
      for (const w of thread.waiting.splice(0)) w.reject(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`guest thread exited (${code})`)));
    return thread;
  }

  async start(): Promise<void> {
    await this.request({ kind: 'start' });
  }

  /** Opens the guest TAP on the guest's thread (see GuestTap.open; it starts down). */
  async openTap(name: string, mtu: number): Promise<void> {
    await this.request({ kind: 'openTap', name, mtu });
  }

  async stats(): Promise<GuestThreadStats> {
    const reply = await this.request({ kind: 'stats' });
    return (reply as { stats: GuestThreadStats }).stats;
  }

  /** Closes the guest TAP and the netfront (grants ended, ports closed), then ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.exited !== undefined) return;
    await this.request({ kind: 'close' });
    await this.worker.terminate();
  }

  private request(request: GuestThreadRequest): Promise<GuestThreadMessage> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage(request);
    });
  }
}
