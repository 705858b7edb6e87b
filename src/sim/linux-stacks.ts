// The engine between two real Linux network stacks, each in a network namespace of its own.
// Host side: the vif's TAP (a TapPort, as the daemon's) moved into namespace A. Guest side: the
// SimHost guest's netfront joined by GuestTap to a second TAP in namespace B, so B's kernel is the
// guest's IP stack and produces real checksum-partial and GSO frames. Used by the end-to-end tests
// (test/engine/tap-e2e.test.ts) and the tap_e2e benchmark. Node only, root only.
// With `guestThread`, the guest (netfront and guest TAP) runs on a worker thread of its own over
// the cross-thread simulated Xen (guest-thread.ts), so this thread runs the backend alone.

import { SimHost, type SimGuest } from './host.js';
import { GuestTap, NETFRONT_GSO_MAX_SIZE } from './guest-tap.js';
import { GuestThread } from './guest-thread.js';
import { SharedEventChannels } from '../xen/sim/shared/shared-event-channels.js';
import { SharedGrantTable } from '../xen/sim/shared/shared-grant-table.js';
import { SharedXen } from '../xen/sim/shared/shared-xen.js';
import { ip, linkJson, type Netns } from './netns.js';
import type { TapOffloads } from '../tap/tap.js';
import { tapInterfaces, type TapPort } from '../tap/port.js';
import type { NetfrontFeatures } from '../xen/sim/netfront.js';

// RFC 2544 benchmarking addresses and a ULA prefix: nothing outside the namespaces answers them.
export const HOST4 = '198.18.0.1';
export const GUEST4 = '198.18.0.2';
export const HOST6 = 'fd00:776e:62::1';
export const GUEST6 = 'fd00:776e:62::2';

export interface LinuxStacksOptions {
  kernels: WebAssembly.Module;
  /** Namespace A (the host's stack, with the vif's TAP) and B (the guest's); created by open(). */
  hostNs: Netns;
  guestNs: Netns;
  /** The vif's TAP (the libxl vifname) and the guest TAP, 1..15 bytes each. */
  vifName: string;
  guestTapName: string;
  /** Offloads of the vif's TAP (default csum, tso4, tso6, as the daemon's). */
  hostTap?: TapOffloads;
  /** Queues the guest and the backend use (default 1). */
  queues?: number;
  /** The vif's and the guest TAP's MTU (default 1500). */
  mtu?: number;
  frontend?: Partial<NetfrontFeatures>;
  /** RX buffers the guest keeps posted at most (default: a full ring). */
  rxBuffers?: number;
  /** IPv6 addresses too (the namespaces start with IPv6 off). */
  ipv6?: boolean;
  /** Run the guest (netfront + guest TAP) on a worker thread of its own (rxBuffers is then not available). */
  guestThread?: boolean;
}

export class LinuxStacks {
  readonly hostNs: Netns;
  readonly guestNs: Netns;
  readonly vifName: string;
  readonly guestTapName: string;
  hostMac = '';
  guestMac = '';
  private simHost: SimHost | undefined;
  private simGuest: SimGuest | undefined;
  private tap: GuestTap | undefined;
  private port: TapPort | undefined;
  private thread: GuestThread | undefined;
  private sharedXen: { xen: SharedXen; channels: SharedEventChannels } | undefined;
  private hostClosed = false;

  private constructor(options: LinuxStacksOptions) {
    this.hostNs = options.hostNs;
    this.guestNs = options.guestNs;
    this.vifName = options.vifName;
    this.guestTapName = options.guestTapName;
  }

  /** Everything up and addressed; on failure, whatever was made is removed again. */
  static async open(options: LinuxStacksOptions): Promise<LinuxStacks> {
    const stacks = new LinuxStacks(options);
    try {
      await stacks.build(options);
    } catch (error) {
      await stacks.close();
      throw error;
    }
    return stacks;
  }

  get host(): SimHost {
    return defined(this.simHost, 'host');
  }

  get guest(): SimGuest {
    return defined(this.simGuest, 'guest');
  }

  /** The guest's thread, when opened with `guestThread`. */
  get guestThread(): GuestThread | undefined {
    return this.thread;
  }

  get guestTap(): GuestTap {
    return defined(this.tap, 'guest TAP');
  }

  /** The vif's TAP as the engine sees it. */
  get hostPort(): TapPort {
    return defined(this.port, 'vif TAP');
  }

  private async build(options: LinuxStacksOptions): Promise<void> {
    const { hostNs, guestNs, vifName, guestTapName } = options;
    for (const ns of [hostNs, guestNs]) {
      await ns.create();
      // without DAD's delay, so the addresses work at once; devices moved in take these defaults
      if (options.ipv6) await ns.exec('sysctl', '-q', '-w', ...['all.disable_ipv6=0', 'default.disable_ipv6=0', 'all.accept_dad=0', 'default.accept_dad=0'].map((key) => `net.ipv6.conf.${key}`));
    }
    const taps = tapInterfaces({ offloads: options.hostTap ?? { csum: true, tso4: true, tso6: true } });
    let backendXen: { grants: SharedGrantTable; events: ReturnType<SharedEventChannels['forDomain']> } | undefined;
    if (options.guestThread === true) {
      const xen = SharedXen.create();
      const channels = new SharedEventChannels(xen);
      this.sharedXen = { xen, channels };
      backendXen = { grants: new SharedGrantTable(xen, 0), events: channels.forDomain(0) };
      this.thread = await GuestThread.spawn({ xen, domid: 7, queues: options.queues ?? 1, features: options.frontend });
    }
    this.simHost = new SimHost({
      kernels: options.kernels, features: { maxQueues: options.queues ?? 1 }, backendXen,
      interfaces: { create: async (name, opts) => { this.port = await taps.create(name, opts) as TapPort; return this.port; } },
    });
    await this.simHost.start();
    this.simGuest = await this.simHost.addGuest({
      domid: 7, queues: options.queues ?? 1, features: options.frontend, nic: { vifname: vifName, mtu: options.mtu }, remote: this.thread,
    });
    if (this.thread !== undefined) {
      await this.thread.openTap(guestTapName, options.mtu ?? 1500);
    } else {
      if (options.rxBuffers !== undefined) this.simGuest.netfront.setRxBufferLimit(options.rxBuffers);
      this.tap = GuestTap.open({ netfront: this.simGuest.netfront, name: guestTapName, mtu: options.mtu ?? 1500, queue: 'flow' });
    }

    await ip('link', 'set', 'dev', vifName, 'netns', hostNs.name);
    await ip('link', 'set', 'dev', guestTapName, 'netns', guestNs.name);
    // a Linux netfront caps its GSO frames so they fit the TX ring (64 KiB - 1)
    await ip('-n', guestNs.name, 'link', 'set', 'dev', guestTapName, 'gso_max_size', String(NETFRONT_GSO_MAX_SIZE));
    for (const [ns, dev, v4, v6] of [[hostNs, vifName, HOST4, HOST6], [guestNs, guestTapName, GUEST4, GUEST6]] as const) {
      await ip('-n', ns.name, 'addr', 'add', `${v4}/24`, 'dev', dev);
      if (options.ipv6) await ip('-n', ns.name, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      await ip('-n', ns.name, 'link', 'set', 'dev', dev, 'up');
    }
    this.hostMac = String((await linkJson(vifName, hostNs.name))?.address);
    this.guestMac = String((await linkJson(guestTapName, guestNs.name))?.address);
  }

  /** Closes the simulated host (the guest goes, the vif's TAP with it); idempotent. */
  async closeHost(): Promise<void> {
    if (this.hostClosed) return;
    this.hostClosed = true;
    await this.simHost?.close();
  }

  /** Removes everything: both TAPs (they go with their fds) and both namespaces. Idempotent. */
  async close(): Promise<void> {
    try {
      this.tap?.close();
      await this.closeHost();
      await this.thread?.close();
      this.sharedXen?.channels.close();
      this.sharedXen?.xen.close();
    } finally {
      await this.hostNs.destroy();
      await this.guestNs.destroy();
    }
  }
}

function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`LinuxStacks: no ${what} (open() did not finish)`);
  return value;
}
