// Simulated event channels between domains: a frontend allocates an unbound port for the
// backend's domain, the backend binds to it, and a notify on either end marks the other end
// pending. Delivery is asynchronous and masked after each event until the receiver unmasks it
// (late EOI, as /dev/xen/evtchn and the XSA-332 handling in netback and netfront require), so a
// burst of notifies while masked is one event, as on real Xen.
// see: netif-protocol.md §3.3; linux drivers/xen/evtchn.c

import { NetbackError } from '../../errors.js';
import type { EventChannelPort, EventChannels } from '../types.js';

/** Binding or using a port failed (EINVAL/ENOTCONN from /dev/xen/evtchn on real Xen). */
export class EventChannelError extends NetbackError {
  constructor(message: string) {
    super('NETBACK_EVTCHN', message);
  }
}

interface Endpoint {
  readonly domid: number;
  readonly port: number;
  /** The domain allowed to bind to this port while it is unbound. */
  readonly allowedRemote: number;
  peer: Endpoint | undefined;
  handler: (() => void) | undefined;
  pending: boolean;
  masked: boolean;
  closed: boolean;
  /** Events delivered to this end, for tests and counters. */
  delivered: number;
}

/** Work for a domain waiting while the domain is held (step mode): an event delivery or a deferred task. */
export interface HeldWork {
  readonly domid: number;
  /** The local port of an event delivery; undefined for a deferred task. */
  readonly port: number | undefined;
  readonly label: string;
}

interface HeldItem extends HeldWork {
  readonly endpoint: Endpoint | undefined;
  readonly run: () => void;
}

export class SimEventChannels {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly nextPort = new Map<number, number>();
  /**
   * Step mode (the browser page's pause/step): deliveries to these domains wait here instead of
   * running as microtasks, so one event — one batch of the backend — can be let through at a time.
   * Empty by default: every delivery runs as soon as the microtask queue reaches it.
   */
  private readonly heldDomains = new Set<number>();
  private readonly held: HeldItem[] = [];

  /** The frontend side: an unbound port in `domid` that `remoteDomid` may bind to (EVTCHNOP_alloc_unbound). */
  allocUnbound(domid: number, remoteDomid: number, onEvent: () => void): SimPort {
    const port = this.nextPort.get(domid) ?? 1; // port 0 is never valid
    this.nextPort.set(domid, port + 1);
    const endpoint: Endpoint = { domid, port, allowedRemote: remoteDomid, peer: undefined, handler: onEvent, pending: false, masked: false, closed: false, delivered: 0 };
    this.endpoints.set(`${domid}:${port}`, endpoint);
    return new SimPort(this, endpoint);
  }

  /** The backend's view of these channels, for a backend running in `domid`. */
  forDomain(domid: number): EventChannels {
    return {
      bindInterdomain: (remoteDomid, remotePort, onEvent) => {
        const remote = this.endpoints.get(`${remoteDomid}:${remotePort}`);
        if (remote === undefined || remote.closed) throw new EventChannelError(`domain ${remoteDomid} has no port ${remotePort}`);
        if (remote.peer !== undefined) throw new EventChannelError(`port ${remotePort} of domain ${remoteDomid} is already bound`);
        if (remote.allowedRemote !== domid) throw new EventChannelError(`port ${remotePort} of domain ${remoteDomid} is not for domain ${domid}`);
        const local = this.allocUnbound(domid, remoteDomid, onEvent);
        local.endpoint.peer = remote;
        remote.peer = local.endpoint;
        return local;
      },
    };
  }

  /** Ports still open, for leak checks. */
  openPorts(domid: number): number {
    let n = 0;
    for (const e of this.endpoints.values()) if (e.domid === domid && !e.closed) n++;
    return n;
  }

  /** Holds (true) or releases (false) all work for `domid`; releasing runs what waited, in order. */
  hold(domid: number, on: boolean): void {
    if (on) {
      this.heldDomains.add(domid);
      return;
    }
    this.heldDomains.delete(domid);
    const waiting = this.held.filter((item) => item.domid === domid);
    this.held.splice(0, this.held.length, ...this.held.filter((item) => item.domid !== domid));
    for (const item of waiting) queueMicrotask(item.run);
  }

  /**
   * Runs `task` as work of `domid`: a microtask, or held with the domain's event deliveries in
   * step mode (the simulated host passes this to the engine for its RX wake-ups).
   */
  defer(domid: number, task: () => void, label = 'task'): void {
    if (this.heldDomains.has(domid)) this.held.push({ domid, port: undefined, label, endpoint: undefined, run: task });
    else queueMicrotask(task);
  }

  /** Work waiting in step mode, oldest first. */
  heldWork(): HeldWork[] {
    return this.held.map(({ domid, port, label }) => ({ domid, port, label }));
  }

  /** Runs the oldest held work now (synchronously); undefined when none waits. */
  releaseOne(): HeldWork | undefined {
    const item = this.held.shift();
    if (item === undefined) return undefined;
    item.run();
    return { domid: item.domid, port: item.port, label: item.label };
  }

  /** @internal */
  signal(target: Endpoint): void {
    if (target.closed) return;
    target.pending = true;
    this.schedule(target);
  }

  /** @internal */
  schedule(target: Endpoint): void {
    if (!target.pending || target.masked || target.closed) return;
    target.masked = true; // delivery masks until the receiver unmasks (late EOI)
    const run = () => this.deliver(target);
    if (this.heldDomains.has(target.domid)) this.held.push({ domid: target.domid, port: target.port, label: `event on port ${target.port}`, endpoint: target, run });
    else queueMicrotask(run);
  }

  private deliver(target: Endpoint): void {
    if (target.closed) return;
    target.pending = false;
    target.delivered++;
    target.handler?.();
  }

  /** @internal */
  remove(endpoint: Endpoint): void {
    endpoint.closed = true;
    const at = this.held.findIndex((item) => item.endpoint === endpoint);
    if (at >= 0) this.held.splice(at, 1);
    this.endpoints.delete(`${endpoint.domid}:${endpoint.port}`);
    if (endpoint.peer !== undefined) endpoint.peer.peer = undefined;
  }
}

export class SimPort implements EventChannelPort {
  /** @internal */
  constructor(private readonly channels: SimEventChannels, readonly endpoint: Endpoint) {}

  get localPort(): number { return this.endpoint.port; }
  get remoteDomid(): number { return this.endpoint.peer?.domid ?? this.endpoint.allowedRemote; }
  get remotePort(): number { return this.endpoint.peer?.port ?? 0; }
  get delivered(): number { return this.endpoint.delivered; }
  get bound(): boolean { return this.endpoint.peer !== undefined; }

  notify(): void {
    if (this.endpoint.closed) throw new EventChannelError(`port ${this.endpoint.port} is closed`);
    const peer = this.endpoint.peer;
    if (peer !== undefined) this.channels.signal(peer);
  }

  unmask(): void {
    if (this.endpoint.closed) return;
    this.endpoint.masked = false;
    this.channels.schedule(this.endpoint);
  }

  close(): void {
    if (!this.endpoint.closed) this.channels.remove(this.endpoint);
  }
}
