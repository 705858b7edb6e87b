// Typed errors for everything the kernels can report. A status's `code` is derived from its
// export name in assembly/status.ts (STATUS_DROP_IP_FRAGMENT → NETBACK_DROP_IP_FRAGMENT), so the
// codes are stable as long as the names are, and the numbers are never repeated here.

import { NetbackError } from '../errors.js';

/** A packet or request was dropped; the queue goes on (netif-protocol.md §6.2 "drop"). */
export class PacketDropError extends NetbackError {
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** The frontend broke a rule that disables its vif (netif-protocol.md §6.2 "fatal"). */
export class FrontendFatalError extends NetbackError {
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** The host called a kernel wrongly or the module does not match this host: a backend bug. */
export class KernelUsageError extends NetbackError {}

const FATAL_MIN = -199;
const FATAL_MAX = -100;
const USAGE_MAX = -200;

export type StatusClass = 'ok' | 'drop' | 'fatal' | 'usage';

export function classifyStatus(status: number): StatusClass {
  if (status >= 0) return 'ok';
  if (status <= USAGE_MAX) return 'usage';
  if (status >= FATAL_MIN && status <= FATAL_MAX) return 'fatal';
  return 'drop';
}

/** Maps numeric statuses to names and typed errors, built from the module's STATUS_* exports. */
export class StatusTable {
  private readonly names = new Map<number, string>();

  constructor(exportedStatuses: Iterable<[name: string, value: number]>) {
    for (const [name, value] of exportedStatuses) {
      if (this.names.has(value)) {
        throw new KernelUsageError('NETBACK_STATUS_CLASH', `status ${value} exported twice (${name}, ${this.names.get(value)})`);
      }
      this.names.set(value, name);
    }
  }

  /** The stable code of a status, e.g. NETBACK_DROP_IP_FRAGMENT. */
  code(status: number): string {
    const name = this.names.get(status);
    return name === undefined ? `NETBACK_STATUS_${status}` : `NETBACK_${name.replace(/^STATUS_/, '')}`;
  }

  error(status: number, context: string): NetbackError {
    const code = this.code(status);
    const message = `${context}: ${code} (${status})`;
    switch (classifyStatus(status)) {
      case 'drop': return new PacketDropError(code, status, message);
      case 'fatal': return new FrontendFatalError(code, status, message);
      default: return new KernelUsageError(code, message);
    }
  }

  /** Returns a non-negative status unchanged; throws the typed error of a negative one. */
  check(status: number, context: string): number {
    if (status < 0) throw this.error(status, context);
    return status;
  }

  entries(): IterableIterator<[number, string]> {
    return this.names.entries();
  }
}
