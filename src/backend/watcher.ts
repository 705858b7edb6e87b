// Serves every backend/vif/<domid>/<devid> under this domain's path: one watch on the backend vif
// directory, and on each event (coalesced; a watch fires spuriously, in bursts, and once on
// registration) the directory listing is re-read and diffed against the vifs we have.
// see: drivers/xen/xenbus/xenbus_probe_backend.c backend_changed, xenbus_dev_changed

import { NetbackError } from '../errors.js';
import type { XenStore, XenStoreWatch } from '../xen/types.js';
import { silentLogger, type Logger } from '../log.js';
import { resolveFeatureOptions, type FeatureOptions } from './features.js';
import { XenbusState } from './xenbus-state.js';
import { Vif, type NetworkInterfaceFactory, type VifDataPathFactory, type VifRemovalReason } from './vif.js';

export interface BackendWatcherOptions {
  xs: XenStore;
  /** The domain this backend runs in (0 for dom0, else a driver domain). */
  backendDomid: number;
  interfaces: NetworkInterfaceFactory;
  dataPath: VifDataPathFactory;
  features?: FeatureOptions;
  log?: Logger;
}

/** Directory names that are device ids / domain ids: canonical decimal, as libxl writes them. */
function isId(name: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(name) && Number(name) <= 0xffffffff;
}

export class BackendWatcher {
  readonly vifRoot: string;
  private readonly options: BackendWatcherOptions;
  private readonly log: Logger;
  private readonly live = new Map<string, Vif>();
  /**
   * Devices whose vif unregistered itself (frontend Closed while offline, or gone). Like Linux after
   * device_unregister, they are not probed again until the toolstack removes the directory or
   * rewrites it from scratch (`state` back to Initialising, which only the toolstack writes).
   */
  private readonly unregistered = new Set<string>();
  private watch: XenStoreWatch | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private stopped = false;
  /** How many listing scans ran, for tests of coalescing. */
  scans = 0;

  constructor(options: BackendWatcherOptions) {
    resolveFeatureOptions(options.features); // reject bad options before any vif exists
    this.options = options;
    this.log = options.log ?? silentLogger;
    this.vifRoot = `${options.xs.domainPath(options.backendDomid)}/backend/vif`;
  }

  async start(): Promise<void> {
    if (this.watch !== undefined || this.stopped) return;
    this.watch = await this.options.xs.watch(this.vifRoot, `${this.vifRoot}:watcher`, () => this.requestScan());
  }

  /**
   * Stops watching and removes every vif. With `closeDevices` (daemon shutdown) each backend first
   * walks to Closing then Closed, as Linux netback does when it is unloaded.
   */
  async stop(options: { closeDevices?: boolean } = {}): Promise<void> {
    this.stopped = true;
    const watch = this.watch;
    this.watch = undefined;
    await watch?.close();
    await this.scanning;
    await Promise.all([...this.live.values()].map((vif) => (options.closeDevices === true ? vif.shutdown() : vif.remove())));
    this.live.clear();
  }

  /** The process dies (see Vif.abandon): nothing is closed cleanly, nothing written. */
  async abandon(): Promise<void> {
    this.stopped = true;
    const watch = this.watch;
    this.watch = undefined;
    await watch?.close();
    await this.scanning;
    await Promise.all([...this.live.values()].map((vif) => vif.abandon()));
    this.live.clear();
  }

  /** Live vifs by "<domid>/<devid>". */
  get vifs(): ReadonlyMap<string, Vif> {
    return this.live;
  }

  get openWatches(): number {
    let n = this.watch === undefined ? 0 : 1;
    for (const vif of this.live.values()) n += vif.openWatches;
    return n;
  }

  /** Resolves when no scan is running and every vif's queued work has run. */
  async whenIdle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      if (this.scanning !== undefined) {
        await this.scanning;
        continue;
      }
      const vifs = [...this.live.values()];
      await Promise.all(vifs.map((vif) => vif.whenIdle()));
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      if (this.scanning === undefined && vifs.length === this.live.size) return;
    }
  }

  private requestScan(): void {
    if (this.stopped) return;
    if (this.scanning !== undefined) {
      this.rescan = true;
      return;
    }
    this.scanning = this.scanLoop().finally(() => {
      this.scanning = undefined;
    });
  }

  private async scanLoop(): Promise<void> {
    do {
      this.rescan = false;
      try {
        await this.scan();
      } catch (err) {
        // a scan that failed (even on a bug) is retried on the next watch event; the daemon stays
        const typed = err instanceof NetbackError;
        this.log('error', `scanning ${this.vifRoot}: ${typed ? err.message : (err as Error)?.stack ?? String(err)}`, { 'err.code': typed ? err.code : 'NETBACK_INTERNAL' });
      }
    } while (this.rescan && !this.stopped);
  }

  private async scan(): Promise<void> {
    this.scans++;
    const xs = this.options.xs;
    const present = new Set<string>();
    for (const domid of await xs.directory(this.vifRoot)) {
      if (!isId(domid)) continue;
      for (const devid of await xs.directory(`${this.vifRoot}/${domid}`)) {
        if (isId(devid)) present.add(`${domid}/${devid}`);
      }
    }
    if (this.stopped) return;

    for (const [key, vif] of this.live) {
      if (present.has(key)) continue;
      this.live.delete(key);
      await vif.remove();
    }
    for (const key of this.unregistered) {
      if (!present.has(key)) this.unregistered.delete(key);
    }
    for (const key of present) {
      if (this.live.has(key)) continue;
      if (this.unregistered.has(key)) {
        if ((await xs.read(`${this.vifRoot}/${key}/state`)) !== String(XenbusState.Initialising)) continue;
        this.unregistered.delete(key);
      }
      this.probe(key);
    }
  }

  private probe(key: string): void {
    const [domid, devid] = key.split('/').map(Number) as [number, number];
    const vif = new Vif({
      xs: this.options.xs,
      backendDomid: this.options.backendDomid,
      frontendDomid: domid,
      devid,
      interfaces: this.options.interfaces,
      dataPath: this.options.dataPath,
      features: this.options.features,
      log: this.options.log,
      onRemoved: (gone, reason) => this.removed(key, gone, reason),
    });
    this.live.set(key, vif);
    void vif.start();
  }

  private removed(key: string, vif: Vif, reason: VifRemovalReason): void {
    if (this.live.get(key) !== vif) return;
    this.live.delete(key);
    if (reason === 'unregistered') this.unregistered.add(key);
  }
}
