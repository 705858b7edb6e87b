// The GrantTable interface on /dev/xen/gntdev through the native addon. Grant copies run as one
// IOCTL_GNTDEV_GRANT_COPY per plan, reading the kernels' 16-byte GNTOP entries straight out of
// Wasm memory and writing each op's GNTST_* status back; ring pages are mapped inside the Wasm
// memory (see native/netback.c for why mapping, not copying). Node only.
// see: netif-protocol.md §3.1-3.2; linux drivers/xen/gntdev.c

import { silentLogger, type Logger } from '../../log.js';
import { loadNative, SyscallError, type NativeAddon } from '../../native/addon.js';
import type { KernelInstance } from '../../wasm/module.js';
import { GrantTableError } from '../errors.js';
import type { GrantCopyPlan, GrantMapping, GrantTable } from '../types.js';

/** The op format native/netback.c reads; a module whose exports differ is refused. */
const GNTOP_FORMAT: Readonly<Record<string, number>> = {
  GNTOP_SIZE: 16, GNTOP_GREF: 0, GNTOP_GUEST_OFF: 4, GNTOP_LEN: 6, GNTOP_LOCAL: 8, GNTOP_STATUS: 12, GNTOP_FLAGS: 14, GNTOP_F_TO_GUEST: 1,
};

/** Grants gntdev may hold for this fd: 2 ring pages per queue, generously. */
const MAX_GRANTS = 8192;

export interface RealGrantTableOptions {
  native?: NativeAddon;
  log?: Logger;
}

export interface GrantTableStats {
  copyCalls: number;
  copyOps: number;
  copyFailures: number;
  mapped: number;
}

export class RealGrantTable implements GrantTable {
  readonly stats: GrantTableStats = { copyCalls: 0, copyOps: 0, copyFailures: 0, mapped: 0 };
  private readonly native: NativeAddon;
  private readonly log: Logger;
  private fd: number | undefined;
  private readonly checked = new WeakSet<KernelInstance>();
  private readonly live = new Set<{ unmap(): void }>();

  constructor(options: RealGrantTableOptions = {}) {
    this.native = options.native ?? loadNative();
    this.log = options.log ?? silentLogger;
  }

  /** The device's fd while open: a worker thread reports it, since fds outlive a thread that dies. */
  get openFd(): number | undefined {
    return this.fd;
  }

  /** Opens /dev/xen/gntdev now (the daemon does this at start so a missing device fails early). */
  open(): void {
    if (this.fd !== undefined) return;
    try {
      this.fd = this.native.gntdevOpen();
    } catch (error) {
      throw wrap(error, 'NETBACK_GNTDEV_OPEN', 'cannot open /dev/xen/gntdev');
    }
    try {
      this.native.gntdevSetMaxGrants(this.fd, MAX_GRANTS);
    } catch (error) {
      // kernels since 4.x size gntdev by module parameter and answer ENOTTY/EINVAL: fine
      if (!(error instanceof SyscallError)) throw error;
    }
  }

  copy(domid: number, plan: GrantCopyPlan): boolean {
    if (plan.count === 0) return true;
    this.checkFormat(plan.instance);
    this.stats.copyCalls++;
    this.stats.copyOps += plan.count;
    try {
      this.native.gntdevGrantCopy(this.device(), plan.instance.memory.buffer, plan.opsAddress, plan.count, domid);
      return true;
    } catch (error) {
      if (!(error instanceof SyscallError) && !(error instanceof GrantTableError)) throw error;
      // every op now carries GNTST_general_error: the kernels answer each request with an error
      this.stats.copyFailures++;
      this.log('warn', `grant copy of ${plan.count} ops from domain ${domid} failed: ${error.message}`, { domid, 'err.code': error.code });
      return false;
    }
  }

  mapPage(domid: number, gref: number, instance: KernelInstance, address: number, readonly: boolean): GrantMapping {
    const fd = this.device();
    const memory = instance.memory;
    let index: number;
    try {
      index = this.native.gntdevMapPage(fd, domid, gref, memory.buffer, address, !readonly);
    } catch (error) {
      throw wrap(error, 'NETBACK_GNTDEV_MAP', `cannot map grant ${gref} of domain ${domid}`);
    }
    const base = this.native.bufferAddress(memory.buffer);
    this.stats.mapped++;
    let mapped = true;
    const mapping = {
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        this.live.delete(mapping);
        this.stats.mapped--;
        if (this.native.bufferAddress(memory.buffer) !== base) {
          // cannot happen with V8's reserved Wasm memories; if it did, the old range is gone already
          this.log('error', `Wasm memory moved under grant ${gref} of domain ${domid}`, { domid });
        }
        try {
          this.native.gntdevUnmapPage(fd, index, memory.buffer, address);
        } catch (error) {
          if (!(error instanceof SyscallError)) throw error;
          this.log('error', `unmapping grant ${gref} of domain ${domid}: ${error.message}`, { domid, 'err.code': error.code });
        }
      },
    };
    this.live.add(mapping);
    return mapping;
  }

  /** Unmaps whatever is still mapped and closes the device. */
  close(): void {
    for (const mapping of [...this.live]) mapping.unmap();
    if (this.fd !== undefined) {
      try {
        this.native.closeFd(this.fd);
      } catch {
        // closing is best effort
      }
      this.fd = undefined;
    }
  }

  private device(): number {
    if (this.fd === undefined) this.open();
    return this.fd!;
  }

  private checkFormat(instance: KernelInstance): void {
    if (this.checked.has(instance)) return;
    for (const [name, value] of Object.entries(GNTOP_FORMAT)) {
      if (instance.constant(name) !== value) {
        throw new GrantTableError('NETBACK_GNTDEV_OP_FORMAT', `the kernels' ${name} is ${instance.constant(name)}, the native grant copy expects ${value}`);
      }
    }
    this.checked.add(instance);
  }
}

function wrap(error: unknown, code: string, what: string): GrantTableError {
  if (error instanceof SyscallError) return new GrantTableError(code, `${what}: ${error.message}`, error.code, { cause: error });
  if (error instanceof GrantTableError) return error;
  if (error instanceof Error && 'code' in error) return new GrantTableError(code, `${what}: ${error.message}`, undefined, { cause: error });
  throw error;
}
