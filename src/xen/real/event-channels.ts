// The EventChannels interface on /dev/xen/evtchn through the native addon: one fd for every vif,
// readiness from libuv (uv_poll, no thread), fired ports read in batches and dispatched to their
// handler; a fired port stays masked until unmask() writes it back (late EOI, XSA-332).
// Failures never escape from a readiness callback: notify/unmask errors are logged and counted
// (the xenbus side tears the vif down when the frontend goes away). Node only.
// see: netif-protocol.md §3.3; linux drivers/xen/evtchn.c

import { silentLogger, type Logger } from '../../log.js';
import { loadNative, SyscallError, type NativeAddon, type PollHandle } from '../../native/addon.js';
import { NetbackError } from '../../errors.js';
import { EventChannelDeviceError } from '../errors.js';
import type { EventChannelPort, EventChannels } from '../types.js';

export interface EventChannelStats {
  events: number;
  reads: number;
  overflows: number;
  notifyErrors: number;
  unmaskErrors: number;
  handlerErrors: number;
}

export class RealEventChannels implements EventChannels {
  readonly stats: EventChannelStats = { events: 0, reads: 0, overflows: 0, notifyErrors: 0, unmaskErrors: 0, handlerErrors: 0 };
  private readonly native: NativeAddon;
  private readonly log: Logger;
  private fd: number | undefined;
  private poll: PollHandle | undefined;
  private readonly handlers = new Map<number, () => void>();
  private readonly fired = new Uint32Array(1024);

  constructor(options: { native?: NativeAddon; log?: Logger } = {}) {
    this.native = options.native ?? loadNative();
    this.log = options.log ?? silentLogger;
  }

  /** The device's fd while open: a worker thread reports it, since fds outlive a thread that dies. */
  get openFd(): number | undefined {
    return this.fd;
  }

  open(): void {
    if (this.fd !== undefined) return;
    try {
      this.fd = this.native.evtchnOpen();
    } catch (error) {
      throw wrap(error, 'NETBACK_EVTCHN_OPEN', 'cannot open /dev/xen/evtchn');
    }
    this.poll = this.native.pollStart(this.fd, this.native.constants.UV_READABLE, () => this.drain());
  }

  bindInterdomain(remoteDomid: number, remotePort: number, onEvent: () => void): EventChannelPort {
    this.open();
    const fd = this.fd!;
    let localPort: number;
    try {
      localPort = this.native.evtchnBindInterdomain(fd, remoteDomid, remotePort);
    } catch (error) {
      throw wrap(error, 'NETBACK_EVTCHN_BIND', `cannot bind port ${remotePort} of domain ${remoteDomid}`);
    }
    this.handlers.set(localPort, onEvent);
    let open = true;
    const native = this.native;
    const fail = (what: 'notifyErrors' | 'unmaskErrors', error: unknown): void => {
      if (!(error instanceof SyscallError)) throw error;
      this.stats[what]++;
      this.log('warn', `event channel ${localPort} (domain ${remoteDomid}): ${error.message}`, { domid: remoteDomid, 'err.code': error.code });
    };
    return {
      localPort, remoteDomid, remotePort,
      notify: () => {
        if (!open) return;
        try {
          native.evtchnNotify(fd, localPort);
        } catch (error) {
          fail('notifyErrors', error);
        }
      },
      unmask: () => {
        if (!open) return;
        try {
          native.evtchnUnmask(fd, localPort);
        } catch (error) {
          fail('unmaskErrors', error);
        }
      },
      close: () => {
        if (!open) return;
        open = false;
        this.handlers.delete(localPort);
        try {
          native.evtchnUnbind(fd, localPort);
        } catch (error) {
          if (!(error instanceof SyscallError)) throw error;
          this.log('warn', `unbinding event channel ${localPort}: ${error.message}`, { domid: remoteDomid, 'err.code': error.code });
        }
      },
    };
  }

  /** Ports bound, for leak checks. */
  get boundPorts(): number {
    return this.handlers.size;
  }

  close(): void {
    if (this.poll !== undefined) this.native.pollStop(this.poll);
    this.poll = undefined;
    this.handlers.clear();
    if (this.fd !== undefined) {
      try {
        this.native.closeFd(this.fd); // unbinds every port still bound
      } catch {
        // best effort
      }
      this.fd = undefined;
    }
  }

  private drain(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    for (let round = 0; round < 64; round++) {
      let n: number;
      try {
        n = this.native.evtchnReadPending(fd, this.fired);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        if (error.code === 'EFBIG') {
          // the pending buffer overflowed: events were lost, so every port gets one (spurious is fine)
          this.stats.overflows++;
          try {
            this.native.evtchnReset(fd);
          } catch {
            // reported by the next read
          }
          for (const port of [...this.handlers.keys()]) this.deliver(port);
          continue;
        }
        this.log('error', `reading /dev/xen/evtchn: ${error.message}`, { 'err.code': error.code });
        return;
      }
      if (n === 0) return;
      this.stats.reads++;
      for (let i = 0; i < n; i++) this.deliver(this.fired[i]!);
      // a short read emptied the device's ring (one read copies it across its wrap); the poll is
      // level-triggered, so a port firing from now on wakes us again: no read that would find none
      if (n < this.fired.length) return;
    }
  }

  private deliver(port: number): void {
    const handler = this.handlers.get(port);
    if (handler === undefined) return; // unbound meanwhile
    this.stats.events++;
    try {
      handler();
    } catch (error) {
      if (!(error instanceof NetbackError)) throw error;
      this.stats.handlerErrors++;
      this.log('error', `event on port ${port}: ${error.message}`, { 'err.code': error.code });
    }
  }
}

function wrap(error: unknown, code: string, what: string): EventChannelDeviceError {
  if (error instanceof SyscallError) return new EventChannelDeviceError(code, `${what}: ${error.message}`, error.code, { cause: error });
  throw error;
}
