// Event channels of the cross-thread simulation (shared-xen.ts). Each end is an entry in shared
// memory with its pending and masked bits; a notify sets the peer's pending bit and, unless the
// peer is masked, rings the doorbell of the thread that owns the peer end. Each thread's
// SharedEventChannels waits on its doorbell with Atomics.waitAsync, so a wake-up arrives in that
// thread's event loop like /dev/xen/evtchn readiness, and delivers every pending unmasked end it
// owns: one event, masked until unmask() (late EOI), so a burst of notifies while masked is one
// event, as on real Xen and in event-channel.ts.
// see: netif-protocol.md §3.3; linux drivers/xen/evtchn.c

import type { EventChannelPort, EventChannels } from '../../types.js';
import { EventChannelError } from '../event-channel.js';
import type { FrontendEventChannels } from '../frontend-handles.js';
import {
  LOCK_PORTS, NEXT_THREAD, PORT_ALLOWED, PORT_DELIVERED, PORT_DOMID, PORT_FREE, PORT_MASKED, PORT_OPEN, PORT_OWNER,
  PORT_PEER, PORT_PENDING, PORT_STATE, type SharedXen,
} from './shared-xen.js';

/** Atomics.waitAsync (ES2024; Node 16+), typed here while the project's lib is older. */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/** One thread's event channels: the ends it owns are delivered in its event loop. */
export class SharedEventChannels implements FrontendEventChannels {
  readonly thread: number;
  private readonly xen: SharedXen;
  private readonly w: Int32Array;
  private readonly handlers = new Map<number, () => void>();
  private closed = false;
  private scanQueued = false;

  constructor(xen: SharedXen) {
    this.xen = xen;
    this.w = xen.words;
    this.thread = Atomics.add(this.w, NEXT_THREAD, 1);
    if (this.thread >= xen.handle.threadCount) throw new EventChannelError(`shared event channels: more than ${xen.handle.threadCount} threads attached`);
    this.listen();
  }

  /** EVTCHNOP_alloc_unbound: an end in `domid` that `remoteDomid` may bind to. */
  allocUnbound(domid: number, remoteDomid: number, onEvent: () => void): SharedPort {
    const index = this.allocate(domid, remoteDomid, -1, onEvent);
    return new SharedPort(this, index);
  }

  /** The backend's view, for a backend running in `domid` on this thread. */
  forDomain(domid: number): EventChannels {
    return {
      bindInterdomain: (remoteDomid, remotePort, onEvent) => {
        const remote = remotePort - 1;
        const xen = this.xen;
        const w = this.w;
        const index = xen.locked(LOCK_PORTS, () => {
          if (!(remote >= 0 && remote < xen.handle.portCount) || w[xen.portWord(remote, PORT_STATE)] !== PORT_OPEN || w[xen.portWord(remote, PORT_DOMID)] !== remoteDomid) {
            throw new EventChannelError(`domain ${remoteDomid} has no port ${remotePort}`);
          }
          if (w[xen.portWord(remote, PORT_PEER)] !== -1) throw new EventChannelError(`port ${remotePort} of domain ${remoteDomid} is already bound`);
          if (w[xen.portWord(remote, PORT_ALLOWED)] !== domid) throw new EventChannelError(`port ${remotePort} of domain ${remoteDomid} is not for domain ${domid}`);
          const local = this.allocateLocked(domid, remoteDomid, remote);
          Atomics.store(w, xen.portWord(remote, PORT_PEER), local);
          return local;
        });
        this.handlers.set(index, onEvent);
        return new SharedPort(this, index);
      },
    };
  }

  /** Ends of `domid` still open (all threads), for leak checks. */
  openPorts(domid: number): number {
    let n = 0;
    for (let i = 0; i < this.xen.handle.portCount; i++) {
      if (Atomics.load(this.w, this.xen.portWord(i, PORT_STATE)) === PORT_OPEN && this.w[this.xen.portWord(i, PORT_DOMID)] === domid) n++;
    }
    return n;
  }

  /** Stops waiting for this thread's events (its ends stay open: close those first). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.add(this.w, this.xen.doorbell(this.thread), 1);
    Atomics.notify(this.w, this.xen.doorbell(this.thread));
  }

  /** @internal */
  notify(index: number): void {
    const w = this.w;
    const xen = this.xen;
    if (Atomics.load(w, xen.portWord(index, PORT_STATE)) !== PORT_OPEN) throw new EventChannelError(`port ${index + 1} is closed`);
    const peer = Atomics.load(w, xen.portWord(index, PORT_PEER));
    if (peer < 0) return;
    Atomics.store(w, xen.portWord(peer, PORT_PENDING), 1);
    // a masked peer is rung by its own unmask, which re-checks pending
    if (Atomics.load(w, xen.portWord(peer, PORT_MASKED)) !== 0) return;
    const bell = xen.doorbell(w[xen.portWord(peer, PORT_OWNER)]!);
    Atomics.add(w, bell, 1);
    Atomics.notify(w, bell);
  }

  /** @internal */
  unmask(index: number): void {
    if (Atomics.load(this.w, this.xen.portWord(index, PORT_STATE)) !== PORT_OPEN) return;
    Atomics.store(this.w, this.xen.portWord(index, PORT_MASKED), 0);
    // an event that arrived meanwhile fires again, from the event loop as a delivery would
    if (Atomics.load(this.w, this.xen.portWord(index, PORT_PENDING)) !== 0) this.queueScan();
  }

  /** @internal */
  release(index: number): void {
    const w = this.w;
    const xen = this.xen;
    this.handlers.delete(index);
    xen.locked(LOCK_PORTS, () => {
      if (w[xen.portWord(index, PORT_STATE)] !== PORT_OPEN) return;
      const peer = w[xen.portWord(index, PORT_PEER)]!;
      if (peer >= 0 && w[xen.portWord(peer, PORT_PEER)] === index) Atomics.store(w, xen.portWord(peer, PORT_PEER), -1);
      Atomics.store(w, xen.portWord(index, PORT_STATE), PORT_FREE);
    });
  }

  /** @internal */
  word(index: number, field: number): number {
    return Atomics.load(this.w, this.xen.portWord(index, field));
  }

  private allocate(domid: number, allowedRemote: number, peer: number, onEvent: () => void): number {
    const index = this.xen.locked(LOCK_PORTS, () => this.allocateLocked(domid, allowedRemote, peer));
    this.handlers.set(index, onEvent);
    return index;
  }

  private allocateLocked(domid: number, allowedRemote: number, peer: number): number {
    const xen = this.xen;
    const w = this.w;
    for (let i = 0; i < xen.handle.portCount; i++) {
      if (w[xen.portWord(i, PORT_STATE)] !== PORT_FREE) continue;
      w[xen.portWord(i, PORT_DOMID)] = domid;
      w[xen.portWord(i, PORT_ALLOWED)] = allowedRemote;
      w[xen.portWord(i, PORT_PEER)] = peer;
      w[xen.portWord(i, PORT_PENDING)] = 0;
      w[xen.portWord(i, PORT_MASKED)] = 0;
      w[xen.portWord(i, PORT_OWNER)] = this.thread;
      w[xen.portWord(i, PORT_DELIVERED)] = 0;
      Atomics.store(w, xen.portWord(i, PORT_STATE), PORT_OPEN);
      return i;
    }
    throw new EventChannelError(`shared event channels: all ${xen.handle.portCount} ports in use`);
  }

  /** Waits for this thread's doorbell; each ring delivers what is pending. */
  private listen(): void {
    if (this.closed) return;
    const bell = this.xen.doorbell(this.thread);
    const seen = Atomics.load(this.w, bell);
    this.deliver();
    const wait = waitAsync(this.w, bell, seen);
    // rung between the load and the wait: go round again from the event loop, not as a microtask,
    // so a busy peer cannot starve this thread's I/O
    if (wait.async) void wait.value.then(() => this.listen());
    else setImmediate(() => this.listen());
  }

  private queueScan(): void {
    if (this.scanQueued) return;
    this.scanQueued = true;
    queueMicrotask(() => {
      this.scanQueued = false;
      this.deliver();
    });
  }

  private deliver(): void {
    const w = this.w;
    const xen = this.xen;
    for (const [index, handler] of this.handlers) {
      if (Atomics.load(w, xen.portWord(index, PORT_PENDING)) === 0 || Atomics.load(w, xen.portWord(index, PORT_MASKED)) !== 0) continue;
      // only the owner thread masks and clears: delivery masks until the receiver unmasks (late EOI)
      Atomics.store(w, xen.portWord(index, PORT_MASKED), 1);
      Atomics.store(w, xen.portWord(index, PORT_PENDING), 0);
      w[xen.portWord(index, PORT_DELIVERED)]!++;
      handler();
    }
  }
}

export class SharedPort implements EventChannelPort {
  /** @internal */
  constructor(private readonly channels: SharedEventChannels, readonly index: number) {}

  get localPort(): number { return this.index + 1; }
  get remoteDomid(): number {
    const peer = this.channels.word(this.index, PORT_PEER);
    return peer < 0 ? this.channels.word(this.index, PORT_ALLOWED) : this.channels.word(peer, PORT_DOMID);
  }
  get remotePort(): number {
    const peer = this.channels.word(this.index, PORT_PEER);
    return peer < 0 ? 0 : peer + 1;
  }
  get delivered(): number { return this.channels.word(this.index, PORT_DELIVERED); }
  get bound(): boolean { return this.channels.word(this.index, PORT_PEER) >= 0; }

  notify(): void { this.channels.notify(this.index); }
  unmask(): void { this.channels.unmask(this.index); }
  close(): void { this.channels.release(this.index); }
}
