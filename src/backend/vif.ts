// One vif's control plane: probe (libxl's keys, feature advertisement, the network interface,
// InitWait), the reaction to every frontend state, the hotplug gate before Connected, the live
// `rate` and `request-multicast-control` watches, and removal. see: xenbus.c netback_probe,
// frontend_changed, connect, hotplug_status_changed, netback_remove
//
// All work for one vif runs on one serial chain: watch events only schedule a re-read (coalesced,
// since a watch may fire spuriously or in bursts), and each step sees the store as it is now. A
// step that fails closes the vif; a fault (an untyped throw here or in the data path) also marks it
// so that no later process serves it until re-attached (containment.ts).

import { NetbackError } from '../errors.js';
import { FAULT_MARKER, VifFaultError } from './containment.js';
import type { XenStore, XenStoreWatch } from '../xen/types.js';
import { silentLogger, type Logger } from '../log.js';
import { advertiseFeatures, resolveFeatureOptions, type FeatureOptions, type ResolvedFeatureOptions } from './features.js';
import {
  BackendConfigError, ERRNO, VifConfigError, parseFlag, parseMtu, parseRate, parseU32, parseXdpHeadroom, readFrontendConfig,
  type FrontendConfig, type RateLimit,
} from './frontend-config.js';
import { SerialChain } from './serial-chain.js';
import { BackendStateMachine, XenbusState, XenbusStateError, parseXenbusState, xenbusErrorPath, xenbusStateName } from './xenbus-state.js';

/** A host network interface (a TAP in the daemon, an in-process peer in the simulation). */
export interface NetworkInterface {
  readonly name: string;
  /**
   * The interface already existed marked with this vif's owner: an earlier backend process that
   * died serving the vif left it (a persistent TAP, as the hotplug script configured it).
   */
  readonly adopted?: boolean;
  close(): Promise<void>;
  /** What the kernel does when the process dies: the fd closes, a persistent interface stays. */
  abandon?(): void;
}

export interface NetworkInterfaceFactory {
  /**
   * Creates the interface the hotplug script will look for; rejects (typed) when it cannot.
   * `owner` is the vif's backend path, for interfaces that outlive a crash.
   */
  create(name: string, options: { mtu: number; owner: string }): Promise<NetworkInterface>;
}

/** The queue engine behind one vif. The control plane calls it only from the vif's serial chain. */
export interface VifDataPath {
  /** Map the rings, bind the event channels, start the queues. A throw (typed) fails the connect. */
  connect(config: FrontendConfig): Promise<void>;
  /** Stop the queues and release what connect took. Called once per successful connect. */
  disconnect(): Promise<void>;
  /** Live re-rate from the backend `rate` watch. */
  setRate(rate: RateLimit): void;
  /** From the frontend `request-multicast-control` watch. */
  setMulticastControl(enabled: boolean): void;
  /** From a Reconfiguring frontend (re-read `xdp-headroom`). */
  setXdpHeadroom(headroom: number): void;
  /**
   * Set by the vif: the data path calls it once when it faulted (containment.ts) and has stopped;
   * the vif then closes through xenbus and stays closed until re-attached. It may be called from
   * inside connect() (the first poll) or any host callback.
   */
  onFault?: (fault: VifFaultError) => void;
}

export interface VifIdentity {
  readonly backendDomid: number;
  readonly frontendDomid: number;
  readonly devid: number;
  readonly handle: number;
  readonly backendPath: string;
  readonly frontendPath: string;
  readonly name: string;
  readonly iface: NetworkInterface;
}

export type VifDataPathFactory = (vif: VifIdentity) => VifDataPath;

export type VifRemovalReason = 'unregistered' | 'removed';

export interface VifOptions {
  xs: XenStore;
  backendDomid: number;
  frontendDomid: number;
  devid: number;
  interfaces: NetworkInterfaceFactory;
  dataPath: VifDataPathFactory;
  features?: FeatureOptions;
  log?: Logger;
  /** Called once when the vif is gone: `unregistered` when it removed itself (device_unregister). */
  onRemoved?: (vif: Vif, reason: VifRemovalReason) => void;
}

export type VifPhase = 'new' | 'probing' | 'running' | 'removed';

type WatchName = 'frontend-state' | 'rate' | 'multicast' | 'hotplug';

/** The error node's value at most, well inside XENSTORE_PAYLOAD_MAX (4096) with its path. see: xenbus_client.c PRINTF_BUFFER_SIZE */
const ERROR_NODE_MAX = 1024;

/** see: common.h IFNAMSIZ; net/core/dev.c dev_valid_name */
function validInterfaceName(name: string): boolean {
  return name.length > 0 && name.length < 16 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

function errnoOf(err: unknown): number {
  return err instanceof VifConfigError ? err.errno : ERRNO.EINVAL;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Vif {
  readonly backendPath: string;
  readonly backendDomid: number;
  readonly frontendDomid: number;
  readonly devid: number;
  private readonly xs: XenStore;
  private readonly interfaces: NetworkInterfaceFactory;
  private readonly dataPathFactory: VifDataPathFactory;
  private readonly featureOptions: ResolvedFeatureOptions;
  private readonly log: Logger;
  private readonly onRemoved: ((vif: Vif, reason: VifRemovalReason) => void) | undefined;
  private readonly machine: BackendStateMachine;

  private currentPhase: VifPhase = 'new';
  private readonly chain = new SerialChain();
  private readonly pending = new Set<string>();
  private readonly watches = new Map<WatchName, XenStoreWatch>();
  /** What we last published in `state` (dev->state); the machine holds be->state. */
  private written: number | undefined;
  private lastFrontendState: number | undefined;
  private frontendPathValue: string | undefined;
  private ifaceValue: NetworkInterface | undefined;
  private dataPath: VifDataPath | undefined;
  private connectedConfig: FrontendConfig | undefined;
  private hotplugErrorLogged = false;
  /**
   * This vif cannot be served: an earlier process died serving it and its interface went with
   * it, and no hotplug script will put a new one on the bridge; or it faulted (containment.ts), in
   * this process or an earlier one (FAULT_MARKER). For the life of this object the backend only
   * closes; the toolstack re-creating the device (`xl network-attach`) starts over.
   */
  private closeOnly = false;

  constructor(options: VifOptions) {
    this.xs = options.xs;
    this.backendDomid = options.backendDomid;
    this.frontendDomid = options.frontendDomid;
    this.devid = options.devid;
    this.interfaces = options.interfaces;
    this.dataPathFactory = options.dataPath;
    this.featureOptions = resolveFeatureOptions(options.features);
    this.onRemoved = options.onRemoved;
    this.backendPath = `${options.xs.domainPath(options.backendDomid)}/backend/vif/${options.frontendDomid}/${options.devid}`;
    const base = options.log ?? silentLogger;
    const fields = { domid: this.frontendDomid, devid: this.devid, xs_path: this.backendPath };
    this.log = (level, msg, extra) => base(level, msg, { ...fields, vif: this.ifaceValue?.name, ...extra });
    this.machine = new BackendStateMachine({
      switchState: (state) => this.switchState(state),
      connect: () => this.connectDataPath(),
      disconnect: () => this.disconnectDataPath(),
    });
  }

  get phase(): VifPhase {
    return this.currentPhase;
  }

  /** be->state: where the machine is, which the hotplug gate may not have published yet. */
  get state(): XenbusState {
    return this.machine.state;
  }

  get frontendPath(): string | undefined {
    return this.frontendPathValue;
  }

  get iface(): NetworkInterface | undefined {
    return this.ifaceValue;
  }

  /** The configuration the data path was connected with, while connected. */
  get config(): FrontendConfig | undefined {
    return this.connectedConfig;
  }

  /** Watches this vif holds open right now. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Probes the device; resolves when probing is over (successfully or not). */
  start(): Promise<void> {
    return this.serial(() => this.probe());
  }

  /** The device directory is going away (netback_remove); safe to call twice. */
  remove(): Promise<void> {
    return this.serial(() => this.teardown('removed'), true);
  }

  /**
   * Daemon shutdown: the data path stops (rings unmapped, ports unbound), the backend walks to
   * Closing then Closed so the frontend sees a clean close rather than a vanished backend, then
   * the vif is removed (TAP closed). see: xenbus.c netback_remove -> set_backend_state(Closed)
   */
  shutdown(): Promise<void> {
    return this.serial(async () => {
      if (this.currentPhase === 'removed') return;
      try {
        await this.disconnectDataPath();
        if (this.written !== undefined && this.written !== XenbusState.Closed) {
          if (this.written !== XenbusState.Closing) await this.writeState(XenbusState.Closing);
          await this.writeState(XenbusState.Closed);
        }
      } finally {
        await this.teardown('removed');
      }
    }, true);
  }

  /**
   * The process dies (kill -9): its xenstore watches, ring mappings and event-channel bindings go
   * as the kernel releases a dead process's handles, and its interface is abandoned (a persistent
   * one stays), with nothing written to xenstore. The simulation's model of a crash, so a restart
   * can be tested against the state a crash really leaves.
   */
  abandon(): Promise<void> {
    return this.serial(async () => {
      if (this.currentPhase === 'removed') return;
      this.currentPhase = 'removed';
      for (const name of [...this.watches.keys()]) await this.closeWatch(name);
      if (this.connectedConfig !== undefined) {
        this.connectedConfig = undefined;
        await this.dataPath!.disconnect();
      }
      const iface = this.ifaceValue;
      this.ifaceValue = undefined;
      if (iface?.abandon !== undefined) iface.abandon();
      else await iface?.close();
    }, true);
  }

  /** Resolves when every step scheduled so far has run. */
  whenIdle(): Promise<void> {
    return this.chain.whenIdle();
  }

  // ---- serial chain -------------------------------------------------------------------------

  private serial(task: () => Promise<void>, evenIfRemoved = false): Promise<void> {
    return this.chain.run(async () => {
      if (this.currentPhase === 'removed' && !evenIfRemoved) return;
      try {
        await task();
      } catch (err) {
        // A failure (a xenstore node gone under us, quota, a bug) costs this vif, never the
        // daemon, and never leaves it half way: a running vif closes.
        const typed = err instanceof NetbackError;
        this.log('error', `vif step failed: ${typed ? messageOf(err) : (err as Error)?.stack ?? messageOf(err)}`, { 'err.code': typed ? err.code : 'NETBACK_INTERNAL' });
        if (!evenIfRemoved && this.currentPhase === 'running') await this.closeAfterFailedStep(err);
      }
    });
  }

  /** Runs `task` once for any number of events that arrive before it starts. */
  private coalesce(kind: string, task: () => Promise<void>): void {
    if (this.pending.has(kind)) return;
    this.pending.add(kind);
    void this.serial(async () => {
      this.pending.delete(kind);
      await task();
    });
  }

  private async addWatch(name: WatchName, path: string, onEvent: () => Promise<void>): Promise<void> {
    await this.closeWatch(name);
    const watch = await this.xs.watch(path, `${this.backendPath}:${name}`, () => this.coalesce(name, onEvent));
    this.watches.set(name, watch);
  }

  private async closeWatch(name: WatchName): Promise<void> {
    const watch = this.watches.get(name);
    if (watch === undefined) return;
    this.watches.delete(name);
    await watch.close();
  }

  private read(key: string): Promise<string | undefined> {
    return this.xs.read(`${this.backendPath}/${key}`);
  }

  // ---- probe ---------------------------------------------------------------------------------

  private async probe(): Promise<void> { // see: xenbus.c netback_probe, backend_create_xenvif
    if (this.currentPhase !== 'new') return;
    this.currentPhase = 'probing';
    try {
      const frontendPath = await this.mandatory('frontend');
      parseU32(await this.mandatory('frontend-id'), 'frontend-id', 'backend');
      await this.mandatory('script');
      const handle = parseU32(await this.mandatory('handle'), 'handle', 'backend');
      const vifname = await this.read('vifname');
      if (vifname !== undefined && !validInterfaceName(vifname)) {
        throw new BackendConfigError('NETBACK_BACKEND_BAD_VIFNAME', 'vifname', ERRNO.EINVAL, `backend vifname ${JSON.stringify(vifname.slice(0, 32))} is not a valid interface name`);
      }
      const mtu = parseMtu(await this.read('mtu'));
      this.frontendPathValue = frontendPath;
      // `connected` here can only be left by an earlier backend process that died serving this
      // vif: libxl creates the node empty and runs the script after our InitWait, and teardown
      // removes it.
      const leftByCrash = (await this.read('hotplug-status')) === 'connected';
      const faulted = await this.read(FAULT_MARKER);

      const failed = await advertiseFeatures(this.xs, this.backendPath, this.featureOptions);
      for (const key of failed) this.log('debug', `Error writing ${key}`);

      // The hotplug script runs as soon as InitWait is visible and looks the interface up by
      // name, so it must exist first (QubesOS/qubes-issues#4446).
      const name = vifname ?? `vif${this.frontendDomid}.${handle}`;
      try {
        this.ifaceValue = await this.interfaces.create(name, { mtu, owner: this.backendPath });
      } catch (err) {
        throw new BackendConfigError(err instanceof NetbackError ? err.code : 'NETBACK_INTERFACE_CREATE_FAILED', 'vifname', ERRNO.EINVAL, `creating interface ${name}: ${messageOf(err)}`);
      }
      this.dataPath = this.dataPathFactory({
        backendDomid: this.backendDomid, frontendDomid: this.frontendDomid, devid: this.devid, handle,
        backendPath: this.backendPath, frontendPath, name, iface: this.ifaceValue,
      });
      this.dataPath.onFault = (fault) => { void this.serial(() => this.closeFaulted(fault)); };
      if (faulted !== undefined) {
        // The ring that set the fault off is where it was: serving it again would fault again
        // (or, for a fault that took the process down, crash-loop). Close until re-attached.
        this.closeOnly = true;
        if (leftByCrash) await this.xs.rm(`${this.backendPath}/hotplug-status`);
        await this.devFatal(ERRNO.EIO, `this vif faulted in wasm-netback (${faulted.slice(0, 80)}): it stays closed until re-attached`);
      } else if (leftByCrash && this.ifaceValue.adopted !== true) {
        // Serving a new interface would look Connected and carry nothing (a wedged guest): close
        // as a failed probe does, so the frontend sees it, and follow it to Closed.
        this.closeOnly = true;
        await this.xs.rm(`${this.backendPath}/hotplug-status`);
        await this.devFatal(ERRNO.ENODEV, `the interface of an earlier wasm-netback process that served this vif is gone (not persistent, or removed): closing; re-attach the vif`);
      } else {
        if (leftByCrash) this.log('info', `carrying on with ${name}, which an earlier process left behind when it died serving this vif`);
        await this.machine.setBackendState(XenbusState.InitWait);
      }
      this.currentPhase = 'running';
      await this.addWatch('frontend-state', `${frontendPath}/state`, () => this.frontendChanged());
    } catch (err) {
      await this.devFatal(errnoOf(err), messageOf(err), err);
      await this.teardown('unregistered');
    }
  }

  private async mandatory(key: string): Promise<string> {
    const value = await this.read(key);
    if (value === undefined) {
      throw new BackendConfigError('NETBACK_BACKEND_MISSING_KEY', key, ERRNO.ENOENT, `reading ${key}`);
    }
    return value;
  }

  // ---- frontend state ------------------------------------------------------------------------

  private async frontendChanged(): Promise<void> { // see: xenbus.c frontend_changed
    const frontendPath = this.frontendPathValue!;
    let state: number;
    try {
      state = parseXenbusState(await this.xs.read(`${frontendPath}/state`));
    } catch (err) {
      if (!(err instanceof XenbusStateError)) throw err;
      this.lastFrontendState = undefined;
      await this.fatal(ERRNO.EINVAL, `saw state ${JSON.stringify(err.raw.slice(0, 16))} at frontend`, err);
      return;
    }
    // Spurious and repeated events carry no news; every reaction below is for a change.
    if (state === this.lastFrontendState) return;
    this.lastFrontendState = state;
    this.log('debug', `${frontendPath} -> ${xenbusStateName(state)}`);

    if (this.closeOnly) {
      // only the close goes on: Closed once the frontend is (or is gone), then unregistered
      if (state !== XenbusState.Closed && state !== XenbusState.Unknown) return;
      await this.machine.setBackendState(XenbusState.Closed);
      await this.teardown('unregistered');
      return;
    }

    switch (state) {
      case XenbusState.Initialising:
        await this.machine.setBackendState(XenbusState.InitWait);
        break;
      case XenbusState.Initialised:
        break;
      case XenbusState.Connected:
        try {
          await this.machine.setBackendState(XenbusState.Connected);
        } catch (err) {
          if (!(err instanceof NetbackError)) throw err;
          if (err instanceof VifFaultError) await this.closeFaulted(err);
          else await this.fatal(errnoOf(err), messageOf(err), err);
        }
        break;
      case XenbusState.Reconfiguring: {
        let headroom: number;
        try {
          headroom = parseXdpHeadroom(await this.xs.read(`${frontendPath}/xdp-headroom`));
        } catch (err) {
          if (!(err instanceof VifConfigError)) throw err;
          await this.fatal(err.errno, err.message, err);
          break;
        }
        if (this.connectedConfig !== undefined) this.dataPath?.setXdpHeadroom(headroom);
        await this.writeState(XenbusState.Reconfigured);
        break;
      }
      case XenbusState.Closing:
        await this.machine.setBackendState(XenbusState.Closing);
        break;
      case XenbusState.Closed:
        await this.machine.setBackendState(XenbusState.Closed);
        if (await this.isOnline()) break;
        await this.teardown('unregistered');
        break;
      case XenbusState.Unknown:
        await this.machine.setBackendState(XenbusState.Closed);
        await this.teardown('unregistered');
        break;
      default:
        await this.fatal(ERRNO.EINVAL, `saw state ${state} at frontend`);
        break;
    }
  }

  /** `online` (libxl clears it on detach); absent means offline. see: xenbus.c frontend_changed */
  private async isOnline(): Promise<boolean> {
    try {
      return parseFlag(await this.read('online'), 'online', false);
    } catch (err) {
      if (!(err instanceof VifConfigError)) throw err;
      this.log('warn', `treating the device as offline: ${err.message}`, { 'err.code': err.code });
      return false;
    }
  }

  // ---- hops, connect and the hotplug gate ----------------------------------------------------

  /** Publishes one hop unless the hotplug gate holds Connected back. see: xenbus.c backend_switch_state */
  private async switchState(state: XenbusState): Promise<void> {
    if (this.watches.has('hotplug')) {
      if (state === XenbusState.Connected) return; // hotplugChanged publishes it
      // Deliberately narrower than Linux, which defers every hop while the gate is armed: a close
      // must reach the frontend and the toolstack even when the hotplug script never finished.
      await this.closeWatch('hotplug');
    }
    await this.writeState(state);
  }

  /**
   * Writes `state` unless it is already what we published, and never recreates a removed device
   * directory. see: xenbus_client.c __xenbus_switch_state
   */
  private async writeState(state: number): Promise<void> {
    if (state === this.written) return;
    const path = `${this.backendPath}/state`;
    await this.xs.transaction(async (tx) => {
      if ((await this.xs.read(path, tx)) === undefined) return;
      await this.xs.write(path, String(state), tx);
    });
    this.written = state;
  }

  private async connectDataPath(): Promise<void> { // see: xenbus.c connect
    const config = await readFrontendConfig(this.xs, {
      backendPath: this.backendPath,
      frontendPath: this.frontendPathValue!,
      maxQueues: this.featureOptions.maxQueues,
    });
    await this.addWatch('rate', `${this.backendPath}/rate`, () => this.rateChanged());
    await this.addWatch('multicast', `${this.frontendPathValue!}/request-multicast-control`, () => this.multicastChanged());
    try {
      await this.dataPath!.connect(config);
    } catch (err) {
      await this.closeWatch('rate');
      await this.closeWatch('multicast');
      // Whatever the data path threw, the vif must close rather than wedge in InitWait; an
      // untyped throw is a fault (containment.ts): the vif then stays closed until re-attached.
      throw err instanceof NetbackError ? err : new VifFaultError('connect', err);
    }
    this.connectedConfig = config;
    this.hotplugErrorLogged = false;
    await this.addWatch('hotplug', `${this.backendPath}/hotplug-status`, () => this.hotplugChanged());
  }

  private async disconnectDataPath(): Promise<void> { // see: xenbus.c backend_disconnect
    await this.closeWatch('hotplug');
    await this.closeWatch('multicast');
    await this.closeWatch('rate');
    if (this.connectedConfig === undefined) return;
    this.connectedConfig = undefined;
    await this.dataPath!.disconnect();
  }

  private async hotplugChanged(): Promise<void> { // see: xenbus.c hotplug_status_changed
    if (!this.watches.has('hotplug')) return;
    const status = await this.read('hotplug-status');
    if (status === 'connected') {
      await this.closeWatch('hotplug');
      await this.writeState(this.machine.state);
      this.log('info', 'hotplug script connected');
    } else if (status === 'error' && !this.hotplugErrorLogged) {
      this.hotplugErrorLogged = true;
      const detail = await this.read('hotplug-error');
      this.log('error', `hotplug script failed${detail === undefined ? '' : `: ${detail}`}; staying out of Connected`);
    }
  }

  private async rateChanged(): Promise<void> { // see: xenbus.c xen_net_rate_changed
    if (this.connectedConfig === undefined) return;
    const { rate, malformed } = parseRate(await this.read('rate'));
    if (malformed) this.log('warn', 'Failed to parse network rate limit. Traffic unlimited.');
    this.dataPath!.setRate(rate);
  }

  private async multicastChanged(): Promise<void> { // see: xenbus.c xen_mcast_ctrl_changed
    if (this.connectedConfig === undefined) return;
    let enabled: boolean;
    try {
      enabled = parseFlag(await this.xs.read(`${this.frontendPathValue!}/request-multicast-control`), 'request-multicast-control', false);
    } catch (err) {
      if (!(err instanceof VifConfigError)) throw err;
      this.log('warn', `${err.message}; multicast control off`, { 'err.code': err.code });
      enabled = false;
    }
    this.dataPath!.setMulticastControl(enabled);
  }

  // ---- errors and removal --------------------------------------------------------------------

  /** Writes `<errno> <message>` where xenbus_dev_error does. see: xenbus_client.c xenbus_va_dev_error */
  private async writeErrorNode(errno: number, message: string): Promise<void> {
    // cut as xenbus_va_dev_error's printf buffer cuts it: a fault's message carries whatever was thrown
    const value = `${errno} ${message}`.slice(0, ERROR_NODE_MAX);
    await this.xs.write(xenbusErrorPath(this.xs.domainPath(this.backendDomid), this.backendPath), value);
  }

  /** xenbus_dev_fatal for a probing device: error node, then Closing written directly. */
  private async devFatal(errno: number, message: string, err?: unknown): Promise<void> {
    this.log('error', message, { 'err.code': err instanceof NetbackError ? err.code : undefined });
    await this.writeErrorNode(errno, message);
    await this.writeState(XenbusState.Closing);
  }

  /** xenbus_dev_fatal for a running device: error node, then the machine walks to Closing. */
  private async fatal(errno: number, message: string, err?: unknown): Promise<void> {
    this.log('error', message, { 'err.code': err instanceof NetbackError ? err.code : undefined });
    await this.writeErrorNode(errno, message);
    await this.machine.setBackendState(XenbusState.Closing);
  }

  /**
   * The data path faulted (or connect threw something untyped): mark the vif faulted in its
   * backend directory, so no later process serves this ring again until the toolstack re-creates
   * the device, then close as for a fatal error (error node, Closing; the data path is released
   * on the way out of Connected) and follow the frontend to Closed only.
   */
  private async closeFaulted(fault: VifFaultError): Promise<void> {
    if (this.closeOnly || this.currentPhase !== 'running') return;
    this.closeOnly = true;
    await this.writeIfPresent(FAULT_MARKER, `${fault.where} ${fault.code}`);
    await this.fatal(ERRNO.EIO, `${fault.message}: the vif stays closed until re-attached`, fault);
  }

  /**
   * A step of a running vif failed (a watch handler, connect, the hotplug gate): close it rather
   * than leave it where the step stopped. A typed failure closes as a fatal error does (the
   * frontend may connect again); an untyped one is a fault. If xenstore refuses even that, the
   * vif is let go here (its data path released) and the toolstack's detach finds nothing held.
   */
  private async closeAfterFailedStep(err: unknown): Promise<void> {
    try {
      if (err instanceof NetbackError) await this.fatal(errnoOf(err), `closing after a failed step: ${messageOf(err)}`, err);
      else await this.closeFaulted(new VifFaultError('control', err));
    } catch (closeErr) {
      this.log('error', `closing the vif after a failed step failed too: ${messageOf(closeErr)}`, { 'err.code': closeErr instanceof NetbackError ? closeErr.code : 'NETBACK_INTERNAL' });
      try {
        await this.teardown('unregistered');
      } catch (teardownErr) {
        this.log('error', `releasing the vif failed: ${messageOf(teardownErr)}`, { 'err.code': teardownErr instanceof NetbackError ? teardownErr.code : 'NETBACK_INTERNAL' });
      }
    }
  }

  /** Writes a backend key unless the device directory is gone (never recreates it). */
  private async writeIfPresent(key: string, value: string): Promise<void> {
    await this.xs.transaction(async (tx) => {
      if ((await this.xs.read(`${this.backendPath}/state`, tx)) === undefined) return;
      await this.xs.write(`${this.backendPath}/${key}`, value, tx);
    });
  }

  private async teardown(reason: VifRemovalReason): Promise<void> { // see: xenbus.c netback_remove
    if (this.currentPhase === 'removed') return;
    this.currentPhase = 'removed';
    await this.closeWatch('hotplug');
    try {
      await this.xs.rm(`${this.backendPath}/hotplug-status`);
    } catch (err) {
      if (!(err instanceof NetbackError)) throw err;
    }
    try {
      await this.disconnectDataPath();
    } finally {
      for (const name of [...this.watches.keys()]) await this.closeWatch(name);
      const iface = this.ifaceValue;
      this.ifaceValue = undefined;
      if (iface !== undefined) await iface.close();
      this.log('info', `vif removed (${reason})`, { vif: iface?.name });
      this.onRemoved?.(this, reason);
    }
  }
}
