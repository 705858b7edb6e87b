// Test rig for the control plane: a xenstore that counts watches and records writes, a recording
// interface factory and data path, and a bounded wait that never depends on wall-clock time.

import type { FrontendConfig, RateLimit } from '../../src/backend/frontend-config.js';
import type { NetworkInterface, NetworkInterfaceFactory, VifDataPath, VifIdentity } from '../../src/backend/vif.js';
import { BackendWatcher } from '../../src/backend/watcher.js';
import type { FeatureOptions } from '../../src/backend/features.js';
import { ManualClock } from '../../src/xen/sim/clock.js';
import { SimFrontendXenbus, type SimFrontendOptions } from '../../src/xen/sim/frontend-xenbus.js';
import { SimToolstack } from '../../src/xen/sim/toolstack.js';
import { SimDomainXenStore, SimXenStore } from '../../src/xen/sim/xenstore.js';
import type { XenStore, XenStoreTransaction, XenStoreWatch, XenStoreWatchHandler } from '../../src/xen/types.js';

/** One macrotask: lets every queued microtask (watch deliveries, async steps) run. */
export const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Waits, one macrotask at a time, until `predicate` holds; fails after `rounds` rounds. */
export async function until(predicate: () => boolean | Promise<boolean>, what = 'condition', rounds = 500): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await predicate()) return;
    await tick();
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Runs macrotasks until nothing changes for a few rounds. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}

/** A SimXenStore seen through a wrapper that counts open watches and records every write. */
export class CountingXenStore implements XenStore {
  readonly inner = new SimXenStore();
  openWatches = 0;
  readonly writes: [path: string, value: string][] = [];
  /** Called for each write as it is issued (inside a transaction: when the body writes). */
  onWrite: ((path: string, value: string) => void) | undefined;
  read(path: string, tx?: XenStoreTransaction) { return this.inner.read(path, tx); }
  async write(path: string, value: string, tx?: XenStoreTransaction) {
    await this.inner.write(path, value, tx);
    this.writes.push([path, value]);
    this.onWrite?.(path, value);
  }
  rm(path: string, tx?: XenStoreTransaction) { return this.inner.rm(path, tx); }
  directory(path: string, tx?: XenStoreTransaction) { return this.inner.directory(path, tx); }
  async watch(path: string, token: string, handler: XenStoreWatchHandler): Promise<XenStoreWatch> {
    const watch = await this.inner.watch(path, token, handler);
    this.openWatches++;
    let open = true;
    return {
      path, token,
      close: async () => {
        if (open) {
          open = false;
          this.openWatches--;
        }
        await watch.close();
      },
    };
  }
  transaction<T>(body: (tx: XenStoreTransaction) => Promise<T>, attempts?: number) { return this.inner.transaction(body, attempts); }
  domainPath(domid: number) { return this.inner.domainPath(domid); }
  close() { return this.inner.close(); }
  /** Values written to `path`, in order. */
  writesTo(path: string): string[] {
    return this.writes.filter(([p]) => p === path).map(([, v]) => v);
  }
}

/** Shared, ordered record of what the interface factory and the xenstore saw. */
export type Event = string;

export class RecordingInterfaces implements NetworkInterfaceFactory {
  readonly live = new Map<string, NetworkInterface>();
  created = 0;
  closed = 0;
  fail = false;
  constructor(private readonly events: Event[]) {}
  async create(name: string, options: { mtu: number }): Promise<NetworkInterface> {
    if (this.fail) throw new Error(`cannot create ${name}`);
    if (this.live.has(name)) throw new Error(`${name} exists`);
    this.events.push(`create ${name} mtu=${options.mtu}`);
    this.created++;
    const iface: NetworkInterface = {
      name,
      close: async () => {
        if (this.live.get(name) !== iface) return;
        this.live.delete(name);
        this.closed++;
        this.events.push(`close ${name}`);
      },
    };
    this.live.set(name, iface);
    return iface;
  }
}

export class RecordingDataPath implements VifDataPath {
  readonly calls: string[] = [];
  readonly configs: FrontendConfig[] = [];
  rates: RateLimit[] = [];
  multicast: boolean[] = [];
  xdp: number[] = [];
  connected = false;
  failConnect: Error | undefined;
  constructor(readonly identity: VifIdentity, private readonly events: Event[]) {}
  async connect(config: FrontendConfig): Promise<void> {
    this.calls.push('connect');
    if (this.failConnect !== undefined) throw this.failConnect;
    if (this.connected) throw new Error('connect while connected');
    this.connected = true;
    this.configs.push(config);
    this.events.push(`connect ${this.identity.name}`);
  }
  async disconnect(): Promise<void> {
    this.calls.push('disconnect');
    if (!this.connected) throw new Error('disconnect while not connected');
    this.connected = false;
    this.events.push(`disconnect ${this.identity.name}`);
  }
  setRate(rate: RateLimit): void {
    this.rates.push(rate);
  }
  setMulticastControl(enabled: boolean): void {
    this.multicast.push(enabled);
  }
  setXdpHeadroom(headroom: number): void {
    this.xdp.push(headroom);
  }
}

export interface RigOptions {
  features?: FeatureOptions;
  watch?: boolean;
  /** The watcher serves this domain's backends over its own xenstore connection (a driver domain); default 0. */
  backendDomid?: number;
}

/** The whole control plane over the simulation: xenstore, clock, toolstack, watcher, recorders. */
export function rig(options: RigOptions = {}) {
  const xs = new CountingXenStore();
  const clock = new ManualClock();
  const events: Event[] = [];
  const interfaces = new RecordingInterfaces(events);
  const dataPaths: RecordingDataPath[] = [];
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log = (level: string, msg: string, fields?: Record<string, unknown>) => { logs.push({ level, msg, fields }); };
  const toolstack = new SimToolstack({ xs, clock, interfaceExists: ({ vif }) => interfaces.live.has(vif), log });
  const watcher = new BackendWatcher({
    xs: options.backendDomid === undefined ? xs : new SimDomainXenStore(xs, options.backendDomid),
    backendDomid: options.backendDomid ?? 0, interfaces, features: options.features ?? { maxQueues: 4 }, log,
    dataPath: (identity) => {
      const dp = new RecordingDataPath(identity, events);
      dataPaths.push(dp);
      return dp;
    },
  });
  // Backend state writes go into the shared event list, to check their order against create.
  xs.onWrite = (path, value) => {
    if (/^\/local\/domain\/0\/backend\/vif\/[0-9]+\/[0-9]+\/state$/.test(path)) events.push(`state ${path.split('/').slice(-3, -1).join('/')}=${value}`);
  };
  const frontends: SimFrontendXenbus[] = [];
  const frontend = (domid: number, devid: number, extra: Partial<SimFrontendOptions> = {}) => {
    const fe = new SimFrontendXenbus({ xs, domid, devid, clock, ...extra });
    frontends.push(fe);
    return fe;
  };
  const backendState = async (domid: number, devid: number) => xs.read(`/local/domain/0/backend/vif/${domid}/${devid}/state`);
  const frontendState = async (domid: number, devid: number) => xs.read(`/local/domain/${domid}/device/vif/${devid}/state`);
  return { xs, clock, events, interfaces, dataPaths, logs, toolstack, watcher, frontend, frontends, backendState, frontendState };
}
