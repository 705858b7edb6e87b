// A guest's netfront as the control plane sees it. By default Linux netfront: Initialising, wait
// for the backend's InitWait, publish everything in one transaction, straight to Connected; close
// on backend Closing (or a Closed it missed Closing for); the removal handshake with 5 s retries.
// `windows` first runs the close cycle Windows PV drivers do (Closing, wait; Closed, wait) and goes
// through Initialised; `jump-closed` closes by writing Closed without Closing.
// see: xen-netfront.c netback_changed, talk_to_netback, xennet_bus_close; win-xenvif PR #36

import { systemClock, type Clock } from '../../backend/clock.js';
import { silentLogger, type Logger } from '../../log.js';
import { SerialChain } from '../../backend/serial-chain.js';
import { XenbusState } from '../../backend/xenbus-state.js';
import { NetbackError } from '../../errors.js';
import type { XenStore, XenStoreWatch } from '../types.js';

/** see: xen-netfront.c XENNET_TIMEOUT (5 * HZ) */
export const XENNET_TIMEOUT_MS = 5_000;
/** see: include/uapi/linux/bpf.h XDP_PACKET_HEADROOM */
export const XDP_PACKET_HEADROOM = 256;

export interface FrontendQueueResources {
  readonly txRingRef: number;
  readonly rxRingRef: number;
  readonly txEventChannel: number;
  /** Same as txEventChannel when not split. */
  readonly rxEventChannel: number;
}

/** Grants and event channels; the grant-table and event-channel simulations plug in here. */
export interface FrontendRingProvider {
  setupQueue(queue: number, split: boolean): FrontendQueueResources | Promise<FrontendQueueResources>;
  releaseQueue(queue: number): void | Promise<void>;
}

/** Plain counters: grant refs from 8 up (0–7 are reserved), ports from 1 up. */
export function sequentialRingProvider(): FrontendRingProvider & { readonly live: number } {
  let gref = 8;
  let port = 1;
  let live = 0;
  return {
    get live() {
      return live;
    },
    setupQueue(_queue, split) {
      live++;
      const tx = port++;
      return { txRingRef: gref++, rxRingRef: gref++, txEventChannel: tx, rxEventChannel: split ? port++ : tx };
    },
    releaseQueue() {
      live--;
    },
  };
}

export type FrontendMode = 'linux' | 'windows' | 'jump-closed';

export interface SimFrontendOptions {
  xs: XenStore;
  domid: number;
  devid: number;
  mode?: FrontendMode;
  rings?: FrontendRingProvider;
  clock?: Clock;
  log?: Logger;
  /** xennet_max_queues: the frontend's own cap (default 1). */
  maxQueues?: number;
  /** netfront_xdp_enabled: the headroom asked for when the backend offers it. */
  xdp?: boolean;
  /** Written inside the talk_to_netback transaction after the standard keys (other or hostile frontends). */
  extraKeys?: Record<string, string>;
  /** Standard keys to leave out (relative to the device directory). */
  omitKeys?: string[];
}

export class FrontendSimError extends NetbackError {}

type CyclePhase = 'none' | 'closing' | 'closed' | 'done';

export class SimFrontendXenbus {
  readonly path: string;
  readonly mode: FrontendMode;
  private readonly xs: XenStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly rings: FrontendRingProvider;
  private readonly options: SimFrontendOptions;
  private backendPathValue: string | undefined;
  private stateWatch: XenStoreWatch | undefined;
  private readonly chain = new SerialChain();
  private pendingCheck = false;
  private current: XenbusState = XenbusState.Unknown;
  private cycle: CyclePhase = 'none';
  private closingDown = false;
  private queuesHeld = 0;
  private waitWatches = 0;
  private waitTimers = 0;
  /** Every state this frontend published, in order. */
  readonly history: XenbusState[] = [];
  /** Times talk_to_netback ran. */
  connects = 0;
  /** Gratuitous ARP/ND announcements (backend Connected). */
  peerNotifications = 0;

  constructor(options: SimFrontendOptions) {
    this.options = options;
    this.xs = options.xs;
    this.mode = options.mode ?? 'linux';
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.rings = options.rings ?? sequentialRingProvider();
    this.path = `${options.xs.domainPath(options.domid)}/device/vif/${options.devid}`;
  }

  get state(): XenbusState {
    return this.current;
  }

  get backendPath(): string | undefined {
    return this.backendPathValue;
  }

  get openWatches(): number {
    return (this.stateWatch === undefined ? 0 : 1) + this.waitWatches;
  }

  get openTimers(): number {
    return this.waitTimers;
  }

  /** Probe: Initialising, then follow the backend. see: xen-netfront.c xennet_create_dev */
  async start(): Promise<void> {
    const backend = await this.xs.read(`${this.path}/backend`);
    if (backend === undefined) throw new FrontendSimError('NETBACK_SIM_NO_BACKEND', `${this.path}/backend is missing`);
    this.backendPathValue = backend;
    this.cycle = this.mode === 'windows' ? 'closing' : 'done';
    await this.publish(XenbusState.Initialising);
    this.stateWatch = await this.xs.watch(`${backend}/state`, `${this.path}:backend-state`, () => this.schedule());
  }

  /** Resolves when every queued reaction has run. */
  whenIdle(): Promise<void> {
    return this.chain.whenIdle();
  }

  /** Re-probe after a close (a driver reload in the guest): Initialising again. */
  async restart(): Promise<void> {
    await this.whenIdle();
    this.closingDown = false;
    this.cycle = this.mode === 'windows' ? 'closing' : 'done';
    await this.publish(XenbusState.Initialising);
  }

  /**
   * Device removal in the guest: Closing, wait (5 s rounds) for the backend Closing/Closed; then
   * Closed, wait for backend Closed. `jump-closed` skips Closing. see: xen-netfront.c xennet_bus_close
   */
  async close(): Promise<void> {
    if (this.backendPathValue === undefined) return; // never probed (its vif failed to attach): nothing to close
    await this.whenIdle();
    this.closingDown = true;
    const backendState = async () => this.readBackendState();
    if ((await backendState()) === XenbusState.Closed) return this.releaseQueues();
    if (this.mode !== 'jump-closed') {
      do {
        await this.publish(XenbusState.Closing);
      } while (!(await this.waitBackend((s) => s === XenbusState.Closing || s === XenbusState.Closed || s === XenbusState.Unknown)));
      if ((await backendState()) === XenbusState.Closed) {
        await this.publish(XenbusState.Closed);
        return this.releaseQueues();
      }
    }
    do {
      await this.publish(XenbusState.Closed);
    } while (!(await this.waitBackend((s) => s === XenbusState.Closed || s === XenbusState.Unknown)));
    await this.releaseQueues();
  }

  /** Writes Closed at once, whatever the backend is doing (a crashed or impatient guest). */
  async jumpToClosed(): Promise<void> {
    await this.whenIdle();
    await this.publish(XenbusState.Closed);
  }

  /** The guest went away: drop the watch without any protocol. */
  async stop(): Promise<void> {
    this.closingDown = true;
    const watch = this.stateWatch;
    this.stateWatch = undefined;
    await watch?.close();
    await this.whenIdle();
    await this.releaseQueues();
  }

  private schedule(): void {
    if (this.pendingCheck) return;
    this.pendingCheck = true;
    void this.chain.run(async () => {
      this.pendingCheck = false;
      try {
        await this.backendChanged();
      } catch (err) {
        if (!(err instanceof NetbackError)) throw err;
        this.log('error', `frontend ${this.path}: ${err.message}`, { 'err.code': err.code });
      }
    });
  }

  private async readBackendState(): Promise<XenbusState> {
    const raw = await this.xs.read(`${this.backendPathValue!}/state`);
    return raw !== undefined && /^[0-9]+$/.test(raw) ? (Number(raw) as XenbusState) : XenbusState.Unknown;
  }

  private async backendChanged(): Promise<void> { // see: xen-netfront.c netback_changed
    if (this.closingDown) return;
    const backend = await this.readBackendState();
    if (this.cycle === 'closing' || this.cycle === 'closed') return this.closeCycle(backend);
    switch (backend) {
      case XenbusState.InitWait:
        if (this.current !== XenbusState.Initialising) break;
        if (!(await this.talkToNetback())) break;
        if (this.mode === 'windows') await this.publish(XenbusState.Initialised);
        await this.publish(XenbusState.Connected);
        break;
      case XenbusState.Connected:
        this.peerNotifications++;
        break;
      case XenbusState.Closed:
        if (this.current === XenbusState.Closed) break;
        await this.closed(); // missed the backend's Closing
        break;
      case XenbusState.Closing:
        await this.closed();
        break;
      default:
        break;
    }
  }

  /** xenbus_frontend_closed */
  private async closed(): Promise<void> {
    await this.publish(XenbusState.Closed);
    await this.releaseQueues();
  }

  /** Windows PV: before connecting, go Closing and wait for the echo, then Closed and wait, then Initialising. */
  private async closeCycle(backend: XenbusState): Promise<void> {
    if (this.cycle === 'closing') {
      if (this.current !== XenbusState.Closing) {
        if (backend === XenbusState.InitWait || backend === XenbusState.Connected || backend === XenbusState.Initialising) await this.publish(XenbusState.Closing);
        return;
      }
      if (backend === XenbusState.Closing || backend === XenbusState.Closed) {
        this.cycle = 'closed';
        await this.publish(XenbusState.Closed);
      }
      return;
    }
    if (backend === XenbusState.Closed) {
      this.cycle = 'done';
      await this.publish(XenbusState.Initialising);
    }
  }

  /** Publishes what netback reads at connect; false when the backend cannot be used. see: xen-netfront.c talk_to_netback */
  private async talkToNetback(): Promise<boolean> {
    const be = this.backendPathValue!;
    const readU = async (key: string, fallback: number) => {
      const raw = await this.xs.read(`${be}/${key}`);
      return raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : fallback;
    };
    if ((await readU('feature-rx-copy', 0)) === 0) {
      this.log('error', `backend ${be} does not support rx-copy; not connecting`); // see: xen-netfront.c xennet_connect
      return false;
    }
    const maxAdvertised = await this.xs.read(`${be}/multi-queue-max-queues`);
    const numQueues = Math.max(1, Math.min(await readU('multi-queue-max-queues', 1), this.options.maxQueues ?? 1));
    const split = (await readU('feature-split-event-channels', 0)) !== 0;
    if ((await readU('feature-xdp-headroom', 0)) !== 0) {
      await this.xs.write(`${this.path}/xdp-headroom`, String(this.options.xdp === true ? XDP_PACKET_HEADROOM : 0));
    }
    await this.releaseQueues();
    const queues: FrontendQueueResources[] = [];
    for (let q = 0; q < numQueues; q++) {
      queues.push(await this.rings.setupQueue(q, split));
      this.queuesHeld++;
    }
    const omit = new Set(this.options.omitKeys ?? []);
    const keys: [string, string][] = [];
    if (maxAdvertised !== undefined) keys.push(['multi-queue-num-queues', String(numQueues)]);
    queues.forEach((res, q) => {
      const dir = numQueues === 1 ? '' : `queue-${q}/`;
      keys.push([`${dir}tx-ring-ref`, String(res.txRingRef)], [`${dir}rx-ring-ref`, String(res.rxRingRef)]);
      if (split) keys.push([`${dir}event-channel-tx`, String(res.txEventChannel)], [`${dir}event-channel-rx`, String(res.rxEventChannel)]);
      else keys.push([`${dir}event-channel`, String(res.txEventChannel)]);
    });
    keys.push(
      ['request-rx-copy', '1'], ['feature-rx-notify', '1'], ['feature-sg', '1'],
      ['feature-gso-tcpv4', '1'], ['feature-gso-tcpv6', '1'], ['feature-ipv6-csum-offload', '1'],
    );
    for (const [key, value] of Object.entries(this.options.extraKeys ?? {})) keys.push([key, value]);
    await this.xs.transaction(async (tx) => {
      for (const [key, value] of keys) if (!omit.has(key)) await this.xs.write(`${this.path}/${key}`, value, tx);
    });
    this.connects++;
    return true;
  }

  private async releaseQueues(): Promise<void> {
    while (this.queuesHeld > 0) {
      this.queuesHeld--;
      await this.rings.releaseQueue(this.queuesHeld);
    }
  }

  /** Like xenbus_switch_state: a state equal to the one already published is not written again. */
  private async publish(state: XenbusState): Promise<void> {
    if (state === this.current) return;
    this.current = state;
    this.history.push(state);
    await this.xs.write(`${this.path}/state`, String(state));
  }

  /** True once `accept(backend state)` holds; false after XENNET_TIMEOUT on the clock. */
  private async waitBackend(accept: (state: XenbusState) => boolean): Promise<boolean> {
    const be = this.backendPathValue!;
    let settle!: (ok: boolean) => void;
    const done = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      settle(ok);
    };
    this.waitWatches++;
    const watch = await this.xs.watch(`${be}/state`, `${this.path}:wait`, () => {
      void this.readBackendState().then((s) => {
        if (accept(s)) finish(true);
      });
    });
    this.waitTimers++;
    const timer = this.clock.setTimeout(() => finish(false), XENNET_TIMEOUT_MS);
    try {
      return await done;
    } finally {
      this.clock.clearTimeout(timer);
      this.waitTimers--;
      await watch.close();
      this.waitWatches--;
    }
  }
}
