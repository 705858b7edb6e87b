// A fault in one vif stays in that vif. Every host callback that runs a vif's data path (the TAP
// readable, an event, a timer, the RX wake, the first poll at connect) sorts what it throws:
//   - a typed NetbackError (a device call that failed, a notify on a closed port) is counted and
//     logged; the queue goes on, and its port is unmasked as after any event, so it never wedges;
//   - anything else (a plain Error, a TypeError, a WebAssembly.RuntimeError trap) is a bug, which
//     guest bytes may have set off: the vif is disabled (its queues stop, ports stay masked, carrier
//     off), logged once with the stack, counted, and the control plane closes it through xenbus
//     (error node, Closing) and marks it faulted in its backend directory, so a restarted daemon
//     does not serve the same ring again until the toolstack re-attaches the vif. No other vif, no
//     worker thread and not the daemon goes down with it.
// Linux has no such path (a BUG() there is the whole host); its nearest is xenvif_fatal_tx_err plus
// xenbus_dev_fatal. see: netback.c xenvif_fatal_tx_err; xenbus_client.c xenbus_dev_fatal

import { NetbackError } from '../errors.js';

/**
 * The host callbacks through which a vif runs (each has a containment test): its data path's, and
 * `control` for a step of its control plane (a xenstore watch, the hotplug gate, a pool worker's
 * control message).
 */
export type HostCallback = 'tap' | 'event' | 'timer' | 'wake' | 'connect' | 'control';

/**
 * TEST ONLY: called at the start of every contained callback with its kind and the vif's name (or
 * a queue's, vif<D>.<N>-q<M>); a test throws from it to prove the containment of that callback.
 * Only the simulated host (SimHostOptions.faults) and the pool's simulated devices
 * (src/pool/sim-devices.ts) pass one: the daemon never does, and nothing a guest or the command
 * line controls reaches it.
 */
export type FaultInjector = (where: HostCallback, name: string) => void;

/** The vif's data path threw something untyped (a bug) or trapped: it is disabled until re-attached. */
export class VifFaultError extends NetbackError {
  readonly where: HostCallback;
  constructor(where: HostCallback, cause: unknown) {
    super('NETBACK_VIF_FAULT', `internal fault in the ${where} callback: ${describeThrown(cause)}`, { cause });
    this.where = where;
  }

  /** The stack of what was thrown (the fault's own is only where it was caught). */
  get causeStack(): string {
    const cause = this.cause;
    return cause instanceof Error ? cause.stack ?? `${cause.name}: ${cause.message}` : String(cause);
  }
}

export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return `${thrown.name}: ${thrown.message}`;
  return String(thrown);
}

/**
 * The backend-directory node that marks a vif faulted: `<where> <code>`. It lives in the backend's
 * own xenstore directory because that is exactly as long-lived as the device: it survives a daemon
 * restart (xenstored keeps it), the toolstack removes the whole directory on detach (`xl
 * network-detach`, domain destruction), and a re-attach writes a fresh directory without it. The
 * guest can read it but not write it (the directory is the backend domain's).
 */
export const FAULT_MARKER = 'wasm-netback-fault';
