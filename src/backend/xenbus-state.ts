// XenbusState values and the backend's state machine. see: xen/include/public/io/xenbus.h
// The machine is Linux netback's: a target state is reached along the shortest legal path, each
// hop published in order, connect() run on the InitWait → Connected hop and disconnect() on the
// hop out of Connected. see: xenbus.c set_backend_state

import { NetbackError } from '../errors.js';

export enum XenbusState {
  Unknown = 0,
  Initialising = 1,
  InitWait = 2,
  Initialised = 3,
  Connected = 4,
  Closing = 5,
  Closed = 6,
  Reconfiguring = 7,
  Reconfigured = 8,
}

const NAMES = ['Unknown', 'Initialising', 'InitWait', 'Initialised', 'Connected', 'Closing', 'Closed', 'Reconfiguring', 'Reconfigured'] as const;

/** The name xenbus_strstate would print, or `Invalid(<n>)` for a number outside 0..8. */
export function xenbusStateName(state: number): string {
  return Number.isInteger(state) && state >= 0 && state < NAMES.length ? NAMES[state]! : `Invalid(${state})`;
}

/**
 * Where xenbus_dev_error leaves a device's `<errno> <message>`: `error/` and the device's path
 * below its domain's, then `/error`. see: xenbus_client.c xenbus_va_dev_error
 */
export function xenbusErrorPath(domainPath: string, devicePath: string): string {
  return `${domainPath}/error/${devicePath.slice(domainPath.length + 1)}/error`;
}

/** A state node that is not a decimal number (a guest can write anything into its own `state`). */
export class XenbusStateError extends NetbackError {
  readonly raw: string;
  constructor(code: string, message: string, raw: string) {
    super(code, message);
    this.raw = raw;
  }
}

/**
 * The value of a `state` node. Absent → Unknown, as xenbus_read_driver_state answers for a failed
 * read. A decimal number is returned as is, even outside 0..8, so the caller can report "saw state N"
 * the way frontend_changed does; anything else is a typed error rather than a guess.
 * see: xenbus.c frontend_changed (default case)
 */
export function parseXenbusState(raw: string | undefined): number {
  if (raw === undefined) return XenbusState.Unknown;
  if (!/^[0-9]{1,10}$/.test(raw)) {
    throw new XenbusStateError('NETBACK_XENBUS_BAD_STATE', `state node holds ${JSON.stringify(raw.slice(0, 32))}, not a number`, raw);
  }
  return Number(raw);
}

/*
 * Legal backend edges (Linux netback; every other request is a backend bug):
 *
 *   Initialising ──► InitWait ──connect()──► Connected
 *        │              ▲   │                    │
 *        │              │   │            disconnect()
 *        │              │   ▼                    ▼
 *        └─────────► Closed ◄────────────── Closing
 *                       └──────────────────────► ▲
 *
 *   Initialising → InitWait   (target InitWait, Connected or Closing)
 *   Initialising → Closed     (target Closed)
 *   InitWait     → Connected  (target Connected; connect() first)
 *   InitWait     → Closing    (target Closing or Closed)
 *   Connected    → Closing    (target InitWait, Closing or Closed; disconnect() first)
 *   Closing      → Closed     (target InitWait, Connected or Closed)
 *   Closed       → InitWait   (target InitWait or Connected)
 *   Closed       → Closing    (target Closing)
 *
 * So Connected → InitWait goes Closing, Closed, InitWait; Closing → Connected goes Closed, InitWait,
 * Connected. Targets are InitWait, Connected, Closing and Closed only.
 */

/** The next hop from `current` toward `target`; throws for a pair Linux would BUG() on. */
export function nextBackendHop(current: XenbusState, target: XenbusState): XenbusState { // see: xenbus.c set_backend_state
  const S = XenbusState;
  switch (current) {
    case S.Initialising:
      if (target === S.InitWait || target === S.Connected || target === S.Closing) return S.InitWait;
      if (target === S.Closed) return S.Closed;
      break;
    case S.Closed:
      if (target === S.InitWait || target === S.Connected) return S.InitWait;
      if (target === S.Closing) return S.Closing;
      break;
    case S.InitWait:
      if (target === S.Connected) return S.Connected;
      if (target === S.Closing || target === S.Closed) return S.Closing;
      break;
    case S.Connected:
      if (target === S.InitWait || target === S.Closing || target === S.Closed) return S.Closing;
      break;
    case S.Closing:
      if (target === S.InitWait || target === S.Connected || target === S.Closed) return S.Closed;
      break;
    default:
      break;
  }
  throw new XenbusStateError(
    'NETBACK_XENBUS_ILLEGAL_TRANSITION',
    `no backend transition from ${xenbusStateName(current)} toward ${xenbusStateName(target)}`,
    String(target),
  );
}

/** Every hop from `current` to `target`, in order (empty when already there). */
export function backendPath(current: XenbusState, target: XenbusState): XenbusState[] {
  const hops: XenbusState[] = [];
  let at = current;
  while (at !== target) {
    at = nextBackendHop(at, target);
    hops.push(at);
    if (hops.length > 8) throw new XenbusStateError('NETBACK_XENBUS_ILLEGAL_TRANSITION', 'backend path does not converge', String(target));
  }
  return hops;
}

export interface BackendStateHooks {
  /** Publish one hop (backend_switch_state: may defer the write behind the hotplug gate). */
  switchState(state: XenbusState): Promise<void>;
  /** Run on the InitWait → Connected hop, before it is published; a throw stops the walk in InitWait. */
  connect(): Promise<void>;
  /** Run on the hop out of Connected, before Closing is published. */
  disconnect(): Promise<void>;
}

/** The backend's own idea of its state (be->state), which the hotplug gate may not have published yet. */
export class BackendStateMachine {
  private current: XenbusState = XenbusState.Initialising;

  constructor(private readonly hooks: BackendStateHooks) {}

  get state(): XenbusState {
    return this.current;
  }

  /** Walks the shortest legal path to `target`, publishing each hop in order. see: xenbus.c set_backend_state */
  async setBackendState(target: XenbusState): Promise<void> {
    while (this.current !== target) {
      const hop = nextBackendHop(this.current, target);
      if (this.current === XenbusState.InitWait && hop === XenbusState.Connected) await this.hooks.connect();
      if (this.current === XenbusState.Connected) await this.hooks.disconnect();
      this.current = hop;
      await this.hooks.switchState(hop);
    }
  }
}
