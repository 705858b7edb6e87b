// A whole simulated Xen host in one object: xenstore, grant table, event channels, the
// toolstack, the real backend (watcher → vifs → engine data paths) and guests whose Linux-like
// netfronts are joined by the in-process bridge (or by TAPs, with an interface factory passed
// in). Tests, benchmarks, the `sim` command and the browser page all build on it. No Node module.

import { systemClock, type Clock } from '../backend/clock.js';
import { silentLogger, type Logger } from '../log.js';
import { EngineDataPath } from '../backend/datapath.js';
import type { FaultInjector } from '../backend/containment.js';
import type { FeatureOptions } from '../backend/features.js';
import type { NetworkInterfaceFactory, VifIdentity } from '../backend/vif.js';
import type { EventChannels, GrantTable } from '../xen/types.js';
import { BackendWatcher } from '../backend/watcher.js';
import { SoftwareBridge } from '../sink/bridge.js';
import { SimCtrlFrontend } from '../xen/sim/ctrl-frontend.js';
import { SimEventChannels, type HeldWork } from '../xen/sim/event-channel.js';
import { SimFrontendXenbus, type FrontendMode, type FrontendRingProvider } from '../xen/sim/frontend-xenbus.js';
import { SimGrantTable } from '../xen/sim/grant-table.js';
import { LINUX_NETFRONT_FEATURES, SimNetfront, type NetfrontFeatures, type NetfrontQueueKeys } from '../xen/sim/netfront.js';
import { SimToolstack, type SimNic } from '../xen/sim/toolstack.js';
import { SimXenStore } from '../xen/sim/xenstore.js';

export interface SimHostOptions {
  /** The compiled kernels (compileKernels(bytes)): Node reads build/netback.wasm, a page fetches it. */
  kernels: WebAssembly.Module;
  /** Where vifs' frames go: default a SoftwareBridge shared by every guest. */
  interfaces?: NetworkInterfaceFactory;
  backendDomid?: number;
  features?: FeatureOptions;
  fatalSlots?: number;
  /** rx_drain_timeout_msecs / rx_stall_timeout_msecs for every vif (defaults 10000 / 60000). */
  rxDrainTimeoutMs?: number;
  rxStallTimeoutMs?: number;
  clock?: Clock;
  /** What queues time their work with (default performance.now). */
  busyClock?: () => number;
  log?: Logger;
  /**
   * The grant table and event channels the backend uses, when its guests run on other threads
   * (src/xen/sim/shared/); default this host's one-thread SimGrantTable and SimEventChannels.
   */
  backendXen?: { grants: GrantTable; events: EventChannels };
  /** TEST ONLY: a fault injector every vif's data path calls at its host callbacks (containment.ts). */
  faults?: FaultInjector;
}

/**
 * A guest's netfront that runs elsewhere (another thread, src/sim/guest-thread.ts) over the
 * backend's `backendXen`: made before the handshake, so its rings and ports are known up front.
 */
export interface RemoteNetfront {
  readonly split: boolean;
  readonly queueKeys: readonly NetfrontQueueKeys[];
  /** netfront.start(): carrier on, RX buffers posted. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface SimGuestOptions {
  domid: number;
  devid?: number;
  queues?: number;
  split?: boolean;
  features?: Partial<NetfrontFeatures>;
  mode?: FrontendMode;
  /** 'manual': the guest's RX polls (consuming responses, refilling buffers) run only on netfront.poll(). */
  pollMode?: 'auto' | 'manual';
  /** Extra frontend nodes written with the others (e.g. request-multicast-control). */
  frontendKeys?: Record<string, string>;
  /** Extra libxl keys for the vif (mac, rate, mtu, vifname...). */
  nic?: Partial<SimNic>;
  /** Also publish a control ring (as Windows PV drivers do; Linux netfront has none). */
  ctrlRing?: boolean;
  /** The netfront's initial ring index (Linux: 0); a value near 2^32 exercises index wrap. */
  startIndex?: number;
  /** The guest's netfront runs elsewhere (the host needs `backendXen`); `netfront` then throws. */
  remote?: RemoteNetfront;
}

export interface SimGuest {
  readonly domid: number;
  readonly devid: number;
  readonly netfront: SimNetfront;
  /** The netfront on another thread, for a guest added with `remote`. */
  readonly remote: RemoteNetfront | undefined;
  /** Whether the guest has set up its rings, i.e. has a netfront (not before the backend's InitWait). */
  readonly hasRings: boolean;
  readonly xenbus: SimFrontendXenbus;
  /** The guest's control-ring side, when asked for with `ctrlRing`. */
  readonly ctrl: SimCtrlFrontend | undefined;
  /** The backend's data path for this vif, once it has been probed. */
  dataPath(): EngineDataPath | undefined;
}

export class SimHost {
  readonly xs = new SimXenStore();
  readonly channels = new SimEventChannels();
  readonly grants: SimGrantTable;
  readonly bridge = new SoftwareBridge();
  readonly toolstack: SimToolstack;
  /** The running backend (replaced by restartBackend()). */
  watcher: BackendWatcher;
  readonly backendDomid: number;
  readonly guests = new Map<number, SimGuest>();
  /** Data paths by vif name (vif<D>.<N>). */
  readonly dataPaths = new Map<string, EngineDataPath>();
  private readonly interfaces: NetworkInterfaceFactory;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly names = new Set<string>();
  private readonly maxQueues: number;
  private readonly options: SimHostOptions;

  constructor(options: SimHostOptions) {
    this.options = options;
    this.backendDomid = options.backendDomid ?? 0;
    this.maxQueues = options.features?.maxQueues ?? 1;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.grants = new SimGrantTable(this.backendDomid);
    const inner = options.interfaces ?? this.bridge.interfaces();
    this.interfaces = {
      create: async (name, opts) => {
        const iface = await inner.create(name, opts);
        this.names.add(name);
        const close = iface.close.bind(iface);
        return Object.assign(iface, { close: async () => { this.names.delete(name); await close(); } });
      },
    };
    this.toolstack = new SimToolstack({ xs: this.xs, clock: this.clock, log: this.log, interfaceExists: (ctx) => this.names.has(ctx.vif) });
    this.watcher = this.newBackend();
  }

  /** A backend (what one daemon process is) over this host's xenstore, grants and channels. */
  private newBackend(): BackendWatcher {
    return new BackendWatcher({
      xs: this.xs,
      backendDomid: this.backendDomid,
      interfaces: this.interfaces,
      features: this.options.features,
      log: this.log,
      dataPath: (vif: VifIdentity) => {
        const path = new EngineDataPath({
          kernels: this.options.kernels,
          grants: this.options.backendXen?.grants ?? this.grants, events: this.options.backendXen?.events ?? this.channels.forDomain(this.backendDomid),
          clock: this.clock, busyClock: this.options.busyClock, log: this.log, fatalSlots: this.options.fatalSlots,
          rxDrainTimeoutMs: this.options.rxDrainTimeoutMs, rxStallTimeoutMs: this.options.rxStallTimeoutMs,
          schedule: (task, label) => this.channels.defer(this.backendDomid, task, label),
          faults: this.options.faults,
        }, vif);
        this.dataPaths.set(vif.name, path);
        return path;
      },
    });
  }

  async start(): Promise<void> {
    await this.watcher.start();
  }

  /**
   * Creates a guest with one vif as `xl create` would, and waits until both ends are Connected
   * and the netfront's data path has started (carrier on, RX buffers posted).
   */
  async addGuest(options: SimGuestOptions): Promise<SimGuest> {
    const devid = options.devid ?? 0;
    const queues = Math.min(options.queues ?? 1, this.maxQueues);
    const netfrontOptions = {
      domid: options.domid, backendDomid: this.backendDomid, grants: this.grants, channels: this.channels,
      queues, features: options.features, pollMode: options.pollMode, startIndex: options.startIndex,
    };
    // Linux netfront decides split channels from the backend's feature key inside
    // talk_to_netback, so the rings and ports are made when the xenbus side asks for them.
    let netfront: SimNetfront | undefined;
    const remote = options.remote;
    if (remote !== undefined && this.options.backendXen === undefined) throw new Error('simulated host: a remote guest needs the host\'s backendXen');
    const rings: FrontendRingProvider = {
      setupQueue: (queue, split) => {
        if (remote !== undefined && remote.split !== split) throw new Error(`guest ${options.domid}: its netfront was made with split=${remote.split}, the backend offers ${split}`);
        if (remote === undefined) netfront ??= new SimNetfront({ ...netfrontOptions, split: options.split ?? split });
        const keys = (remote?.queueKeys ?? netfront!.queueKeys())[queue];
        if (keys === undefined) throw new Error(`guest ${options.domid} has no queue ${queue}`);
        const channel = keys.eventChannel;
        return typeof channel === 'number'
          ? { txRingRef: keys.txRingRef, rxRingRef: keys.rxRingRef, txEventChannel: channel, rxEventChannel: channel }
          : { txRingRef: keys.txRingRef, rxRingRef: keys.rxRingRef, txEventChannel: channel.tx, rxEventChannel: channel.rx };
      },
      releaseQueue: () => {},
    };
    const advertised = { ...LINUX_NETFRONT_FEATURES, ...options.features };
    const omitKeys: string[] = [];
    if (!advertised.sg) omitKeys.push('feature-sg');
    if (!advertised.gsoTcpv4) omitKeys.push('feature-gso-tcpv4');
    if (!advertised.gsoTcpv6) omitKeys.push('feature-gso-tcpv6');
    if (!advertised.ipv6CsumOffload) omitKeys.push('feature-ipv6-csum-offload');
    if (!advertised.rxNotify) omitKeys.push('feature-rx-notify');
    const ctrl = options.ctrlRing === true
      ? new SimCtrlFrontend({ domid: options.domid, backendDomid: this.backendDomid, grants: this.grants, channels: this.channels })
      : undefined;
    const xenbus = new SimFrontendXenbus({
      xs: this.xs, domid: options.domid, devid, mode: options.mode, rings, clock: this.clock, log: this.log,
      maxQueues: queues, omitKeys,
      extraKeys: { ...(advertised.noCsumOffload ? { 'feature-no-csum-offload': '1' } : {}), ...ctrl?.keys(), ...options.frontendKeys },
    });
    const guest: SimGuest = {
      domid: options.domid, devid, xenbus, ctrl, remote,
      get netfront(): SimNetfront {
        if (remote !== undefined) throw new Error(`guest ${options.domid}'s netfront runs on another thread`);
        if (netfront === undefined) throw new Error(`guest ${options.domid} has not set up its rings yet`);
        return netfront;
      },
      get hasRings(): boolean {
        return netfront !== undefined || remote !== undefined;
      },
      dataPath: () => this.dataPaths.get(options.nic?.vifname ?? `vif${options.domid}.${devid}`),
    };
    this.guests.set(options.domid, guest);
    await this.toolstack.attach({ domid: options.domid, devid, backendDomid: this.backendDomid, ...options.nic });
    await xenbus.start();
    await this.until(async () => (await this.xs.read(`${this.toolstack.backendPath({ domid: options.domid, devid, backendDomid: this.backendDomid })}/state`)) === '4',
      `backend of guest ${options.domid} Connected`);
    if (remote !== undefined) await remote.start();
    else guest.netfront.start();
    return guest;
  }

  /**
   * Removes a guest's vif as the guest's shutdown and `xl network-detach` would: the frontend
   * closes, its netfront releases rings and grants, the toolstack removes both directories and
   * the backend lets the vif go.
   */
  async removeGuest(domid: number): Promise<void> {
    const guest = this.guests.get(domid);
    if (guest === undefined) return;
    await guest.xenbus.close();
    await this.watcher.whenIdle();
    await closeNetfront(guest);
    await guest.xenbus.stop();
    await this.toolstack.detach(domid, guest.devid, this.backendDomid);
    await this.watcher.whenIdle();
    this.guests.delete(domid);
    const name = [...this.dataPaths.entries()].find(([, path]) => path === guest.dataPath())?.[0];
    if (name !== undefined) this.dataPaths.delete(name);
  }

  /** Stops everything: guests closed, vifs removed, nothing left mapped or bound. */
  async close(): Promise<void> {
    for (const guest of this.guests.values()) {
      await guest.xenbus.close();
      await this.watcher.whenIdle();
      if (guest.hasRings) await closeNetfront(guest);
      guest.ctrl?.close();
    }
    await this.watcher.stop();
    this.guests.clear();
  }

  /**
   * The backend process is killed (SIGKILL) and a new one starts on the same host: the old one's
   * handles are released as the kernel releases a dead process's (watches, mappings, bindings;
   * persistent interfaces stay, see SoftwareBridge.interfaces), nothing is written on its behalf,
   * then a fresh backend serves every vif it finds. Guests keep running throughout.
   */
  async restartBackend(): Promise<void> {
    await this.watcher.abandon();
    this.dataPaths.clear();
    this.watcher = this.newBackend();
    await this.watcher.start();
  }

  /**
   * Step mode (the browser page's pause/step): while on, every event for the backend and every RX
   * wake-up of the engine waits until step() lets it through; turning it off runs what waited.
   */
  setStepMode(on: boolean): void {
    this.channels.hold(this.backendDomid, on);
  }

  /** In step mode: runs the oldest waiting piece of backend work (one event or one RX wake). */
  step(): HeldWork | undefined {
    return this.channels.releaseOne();
  }

  /** Lets every queued event, microtask and xenstore watch run (the simulation is event driven). */
  async settle(rounds = 20): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  }

  private async until(check: () => Promise<boolean>, what: string, rounds = 500): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    throw new Error(`simulated host: timed out waiting for ${what}`);
  }
}

async function closeNetfront(guest: SimGuest): Promise<void> {
  if (guest.remote !== undefined) await guest.remote.close();
  else guest.netfront.close();
}
