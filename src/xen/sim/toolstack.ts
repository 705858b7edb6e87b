// What `xl create` / `xl network-attach` / `xl network-detach` / `xl destroy` do for a vif, as far
// as a backend can see: the device nodes written in one transaction (with `hotplug-status = ""`),
// the wait for backend InitWait, the hotplug step, and on removal the online=0 / Closing request,
// the wait for Closed and the removal of both directories. A vif may have its backend in a driver
// domain (`backend=<domain>`): its nodes go below that domain's /local/domain/<dd>/backend, and the
// hotplug script runs there (`xl devd`), not in dom0. `xl save` / `xl restore` move a guest to a new
// domid: the old domain's devices go as with `xl destroy`, the new one gets the same vifs.
// see: tools/libs/light/libxl_nic.c libxl__set_xenstore_nic, libxl_device.c
// libxl__device_generic_add, libxl__wait_device_connection, libxl__initiate_device_generic_remove,
// libxl__device_destroy, libxl__xs_path_cleanup; tools/hotplug/Linux/xen-hotplug-common.sh success/fatal;
// libxl_device.c libxl__get_hotplug_script_info (no script for another domain's backend: "assuming
// driver domains"); libxl_dom.c libxl__build_post (the domain's `domid` and `name` nodes)

import { systemClock, type Clock } from '../../backend/clock.js';
import { silentLogger, type Logger } from '../../log.js';
import { XenbusState, xenbusErrorPath, xenbusStateName } from '../../backend/xenbus-state.js';
import { NetbackError } from '../../errors.js';
import type { XenStore } from '../types.js';

/** see: libxl_internal.h */
export const LIBXL_INIT_TIMEOUT_MS = 10_000;
export const LIBXL_DESTROY_TIMEOUT_MS = 10_000;
export const LIBXL_HOTPLUG_TIMEOUT_MS = 40_000;

export class ToolstackError extends NetbackError {}

/** One `vif = [ '…' ]` entry, already parsed. */
export interface SimNic {
  domid: number;
  devid: number;
  backendDomid?: number;
  mac?: string;
  bridge?: string;
  script?: string;
  ip?: string;
  /** Already in libxl's "<bytes>,<usecs>" form. */
  rate?: string;
  mtu?: number;
  vifname?: string;
  type?: 'vif' | 'vif_ioemu';
  trusted?: boolean;
  /** Test hooks: extra backend nodes, or libxl nodes to leave out (e.g. 'script'). */
  extraBackendKeys?: Record<string, string>;
  omitBackendKeys?: string[];
}

export interface HotplugContext {
  readonly nic: SimNic;
  /** The `vif` environment variable: vifname, else vif<domid>.<devid>. */
  readonly vif: string;
  readonly backendPath: string;
}

export interface SimToolstackOptions {
  xs: XenStore;
  /** The hotplug script's view of the host: does the interface exist (vif-bridge's `ip link set … up`)? */
  interfaceExists: (ctx: HotplugContext) => boolean | Promise<boolean>;
  clock?: Clock;
  log?: Logger;
}

export interface HotplugRun {
  readonly action: 'online' | 'offline';
  /** Where the script ran: 0 (dom0's libxl) or the driver domain whose `xl devd` ran it. */
  readonly domain: number;
  readonly vif: string;
  readonly backendPath: string;
  readonly ok: boolean;
}

function defaultMac(nic: SimNic): string {
  const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return `00:16:3e:${hex(nic.domid >> 8)}:${hex(nic.domid)}:${hex(nic.devid)}`;
}

export class SimToolstack {
  private readonly xs: XenStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly interfaceExists: SimToolstackOptions['interfaceExists'];
  private readonly attached = new Map<string, SimNic>();
  private waits = 0;
  /** Every hotplug script run, in order. */
  readonly hotplugRuns: HotplugRun[] = [];

  constructor(options: SimToolstackOptions) {
    this.xs = options.xs;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.interfaceExists = options.interfaceExists;
  }

  /** Watches and timers held by waits in progress. */
  get pendingWaits(): number {
    return this.waits;
  }

  backendPath(nic: Pick<SimNic, 'domid' | 'devid' | 'backendDomid'>): string {
    return `${this.xs.domainPath(nic.backendDomid ?? 0)}/backend/vif/${nic.domid}/${nic.devid}`;
  }

  frontendPath(nic: Pick<SimNic, 'domid' | 'devid'>): string {
    return `${this.xs.domainPath(nic.domid)}/device/vif/${nic.devid}`;
  }

  /** The nodes of a new domain a backend or the domain itself reads: its `domid` and `name`. */
  async createDomain(domid: number, name: string): Promise<void> {
    const home = this.xs.domainPath(domid);
    await this.xs.transaction(async (tx) => {
      await this.xs.write(`${home}/domid`, String(domid), tx);
      await this.xs.write(`${home}/name`, name, tx);
    });
  }

  /**
   * xl save: the guest suspends, then its domain goes as with `xl destroy` (each vif detached, its
   * backend directory removed). Returns the vifs for `restore`, each with the MAC it had (a
   * generated one included: the saved config keeps it).
   */
  async save(domid: number): Promise<SimNic[]> {
    const nics = [...this.attached.values()].filter((nic) => nic.domid === domid).map((nic) => ({ ...nic, mac: nic.mac ?? defaultMac(nic) }));
    await this.destroy(domid);
    await this.xs.rm(this.xs.domainPath(domid));
    return nics;
  }

  /** xl restore: a new domain, `domid`, with the saved vifs (same devids, MACs, backends). */
  async restore(saved: SimNic[], domid: number, name = `restored-${domid}`): Promise<void> {
    await this.createDomain(domid, name);
    await this.create(saved.map((nic) => ({ ...nic, domid })));
  }

  /** The device nodes of both ends, in one transaction. see: libxl_device.c libxl__device_generic_add */
  async writeDevice(nic: SimNic): Promise<void> {
    const be = this.backendPath(nic);
    const fe = this.frontendPath(nic);
    const mac = nic.mac ?? defaultMac(nic);
    const backend: [string, string][] = [
      ['frontend', fe],
      ['frontend-id', String(nic.domid)],
      ['online', '1'],
      ['state', String(XenbusState.Initialising)],
      ['script', nic.script ?? '/etc/xen/scripts/vif-bridge'],
      ['mac', mac],
      ['bridge', nic.bridge ?? 'xenbr0'],
      ['handle', String(nic.devid)],
      ['type', nic.type ?? 'vif'],
      // "Force backend to wait for hotplug script execution before switching to connected state"
      ['hotplug-status', ''],
    ];
    if (nic.ip !== undefined) backend.push(['ip', nic.ip]);
    if (nic.rate !== undefined) backend.push(['rate', nic.rate]);
    if (nic.mtu !== undefined) backend.push(['mtu', String(nic.mtu)]);
    if (nic.vifname !== undefined) backend.push(['vifname', nic.vifname]);
    for (const [key, value] of Object.entries(nic.extraBackendKeys ?? {})) backend.push([key, value]);
    const omit = new Set(nic.omitBackendKeys ?? []);
    const frontend: [string, string][] = [
      ['backend', be],
      ['backend-id', String(nic.backendDomid ?? 0)],
      ['state', String(XenbusState.Initialising)],
      ['handle', String(nic.devid)],
      ['mac', mac],
      ['trusted', nic.trusted === false ? '0' : '1'],
      ['mtu', String(nic.mtu ?? 1500)],
    ];
    await this.xs.transaction(async (tx) => {
      for (const [key, value] of frontend) await this.xs.write(`${fe}/${key}`, value, tx);
      for (const [key, value] of backend) if (!omit.has(key)) await this.xs.write(`${be}/${key}`, value, tx);
    });
    this.attached.set(be, nic);
  }

  /**
   * xl network-attach: nodes, wait ≤ 10 s for backend InitWait, then the hotplug script. Rejects
   * with a ToolstackError on timeout or script failure (the nodes stay, as libxl leaves them to
   * its own cleanup), quoting the backend's error node when it wrote one. A backend that went to
   * Closing instead ends the wait at once: libxl would wait out its 10 s for the same failure.
   */
  async attach(nic: SimNic): Promise<void> {
    await this.writeDevice(nic);
    const be = this.backendPath(nic);
    const gaveUp = (s: number | undefined) => s === XenbusState.Closing || s === XenbusState.Closed;
    const state = await this.waitForState(be, (s) => s === XenbusState.InitWait || s === XenbusState.Connected || gaveUp(s), LIBXL_INIT_TIMEOUT_MS);
    if (state === undefined || gaveUp(state)) {
      const error = await this.xs.read(xenbusErrorPath(this.xs.domainPath(nic.backendDomid ?? 0), be));
      const why = error === undefined ? '' : ` (backend error: ${error})`;
      if (state === undefined) throw new ToolstackError('NETBACK_TOOLSTACK_INIT_TIMEOUT', `timed out waiting for ${be} to reach InitWait${why}`);
      throw new ToolstackError('NETBACK_TOOLSTACK_BACKEND_FAILED', `${be} went to ${xenbusStateName(state)} instead of InitWait${why}`);
    }
    await this.hotplug(nic, 'online');
  }

  /** xl create: every nic in order; the guest (its frontend) starts afterwards. */
  async create(nics: SimNic[]): Promise<void> {
    for (const nic of nics) await this.attach(nic);
  }

  /**
   * xl network-detach: online=0 and state=Closing on the backend, wait ≤ 10 s for Closed, the
   * offline hotplug run, then both directories removed (even after a timeout, as libxl forces).
   */
  async detach(domid: number, devid: number, backendDomid = 0): Promise<void> { // see: libxl_device.c libxl__initiate_device_generic_remove
    const nic: SimNic = this.attached.get(this.backendPath({ domid, devid, backendDomid })) ?? { domid, devid, backendDomid };
    const be = this.backendPath(nic);
    const requested = await this.xs.transaction(async (tx) => {
      const state = await this.xs.read(`${be}/state`, tx);
      if (state === undefined) return false;
      await this.xs.write(`${be}/online`, '0', tx);
      if (state !== String(XenbusState.Closed)) await this.xs.write(`${be}/state`, String(XenbusState.Closing), tx);
      return true;
    });
    if (requested) {
      const state = await this.waitForState(be, (s) => s === XenbusState.Closed, LIBXL_DESTROY_TIMEOUT_MS);
      if (state === undefined) this.log('warn', `timed out waiting for ${be} to close; forcing removal`);
      await this.hotplug(nic, 'offline');
    }
    await this.xs.transaction(async (tx) => {
      await this.pathCleanup(this.frontendPath(nic), tx);
      await this.pathCleanup(be, tx);
    });
    this.attached.delete(be);
  }

  /** xl destroy: the guest and its frontend nodes are gone first, then each vif is detached. */
  async destroy(domid: number): Promise<void> {
    await this.xs.rm(`${this.xs.domainPath(domid)}/device/vif`);
    const nics = [...this.attached.values()].filter((nic) => nic.domid === domid);
    for (const nic of nics) await this.detach(nic.domid, nic.devid, nic.backendDomid ?? 0);
  }

  /** vif-bridge: `success` writes hotplug-status=connected; `fatal` writes hotplug-error then error. */
  private async hotplug(nic: SimNic, action: 'online' | 'offline'): Promise<void> {
    const be = this.backendPath(nic);
    const vif = nic.vifname ?? `vif${nic.domid}.${nic.devid}`;
    const domain = nic.backendDomid ?? 0;
    if (action === 'offline') {
      this.hotplugRuns.push({ action, domain, vif, backendPath: be, ok: true });
      return;
    }
    const ok = await this.interfaceExists({ nic, vif, backendPath: be });
    this.hotplugRuns.push({ action, domain, vif, backendPath: be, ok });
    if (ok) {
      await this.xs.write(`${be}/hotplug-status`, 'connected');
      return;
    }
    await this.xs.write(`${be}/hotplug-error`, `Cannot find device ${vif}`);
    await this.xs.write(`${be}/hotplug-status`, 'error');
    throw new ToolstackError('NETBACK_TOOLSTACK_HOTPLUG_FAILED', `hotplug script for ${vif} failed: Cannot find device ${vif}`);
  }

  /** Removes `path`, then each parent left empty, up to the domain's directory. see: libxl_xshelp.c libxl__xs_path_cleanup */
  private async pathCleanup(path: string, tx: Parameters<XenStore['rm']>[1]): Promise<void> {
    await this.xs.rm(path, tx);
    let parent = path.slice(0, path.lastIndexOf('/'));
    while (/^\/local\/domain\/[0-9]+\/.+/.test(parent)) {
      if ((await this.xs.directory(parent, tx)).length > 0) break;
      await this.xs.rm(parent, tx);
      parent = parent.slice(0, parent.lastIndexOf('/'));
    }
  }

  /** Resolves with the state once `accept` holds, or undefined after `timeoutMs` on the clock. */
  private async waitForState(be: string, accept: (state: number) => boolean, timeoutMs: number): Promise<number | undefined> { // see: libxl_event.c libxl__ev_devstate_wait
    this.waits++;
    let timer: unknown;
    let settle!: (state: number | undefined) => void;
    const done = new Promise<number | undefined>((resolve) => {
      settle = resolve;
    });
    let finished = false;
    const finish = (state: number | undefined) => {
      if (finished) return;
      finished = true;
      settle(state);
    };
    const watch = await this.xs.watch(`${be}/state`, `${be}:toolstack`, () => {
      void this.xs.read(`${be}/state`).then((raw) => {
        if (raw !== undefined && /^[0-9]+$/.test(raw) && accept(Number(raw))) finish(Number(raw));
      });
    });
    timer = this.clock.setTimeout(() => finish(undefined), timeoutMs);
    try {
      return await done;
    } finally {
      this.clock.clearTimeout(timer);
      await watch.close();
      this.waits--;
    }
  }
}
