// The control socket's protocol, shared by the server (control-server.ts, inside `daemon` and
// `sim`) and the client (control.ts, `list` and `stats`). Read-only by construction: a verb names
// a view of the host snapshot (src/viz/snapshot.ts), and no verb takes an argument.
//
//   client → server   one line: a verb from VERBS, then "\n" (or the end of the stream)
//   server → client   one line of JSON: {"ok":true,"verb":...,"data":...} or
//                     {"ok":false,"error":{"code":"NETBACK_CONTROL_*","message":...}}, then close

import type { HostSnapshot } from '../viz/snapshot.js';
import { NetbackError } from '../errors.js';

export const CONTROL_PROTOCOL_VERSION = 1;
export const DEFAULT_CONTROL_SOCKET = '/run/wasm-netback/control.sock';
/** The option value (and NETBACK_CONTROL_SOCKET value) that turns the socket off. */
export const CONTROL_SOCKET_OFF = 'none';
/** A request longer than this (newline included) is refused: the longest verb is 5 bytes. */
export const MAX_REQUEST_BYTES = 256;
/** sun_path holds 108 bytes including the terminating NUL. see: unix(7) */
export const MAX_SOCKET_PATH_BYTES = 107;

export const VERBS = ['list', 'stats'] as const;
export type ControlVerb = (typeof VERBS)[number];

/** Why the server refused a request; `code` is what the client sees. */
export class ControlRequestError extends NetbackError {}

export const CONTROL_ERROR = {
  unknownVerb: 'NETBACK_CONTROL_UNKNOWN_VERB',
  badRequest: 'NETBACK_CONTROL_BAD_REQUEST',
  tooLong: 'NETBACK_CONTROL_REQUEST_TOO_LONG',
  timeout: 'NETBACK_CONTROL_TIMEOUT',
  internal: 'NETBACK_CONTROL_INTERNAL',
} as const;

export interface VifListEntry {
  name: string;
  domid: number;
  devid: number;
  /** xenbus state of the backend. */
  state: string;
  queues: number;
  /** The features the frontend negotiated (the true ones of the snapshot's table), sorted. */
  features: string[];
  carrier: boolean;
  /** The fatal rule that disabled the vif, or null. */
  disabled: string | null;
}

export interface VifStats {
  name: string;
  domid: number;
  devid: number;
  /** Sums over the queues plus the vif's own counters. */
  counters: Record<string, number>;
  queues: { name: string; counters: Record<string, number> }[];
}

export interface ListAnswer { time: number; vifs: VifListEntry[] }
export interface StatsAnswer { time: number; vifs: VifStats[] }

export type ControlAnswer =
  | { ok: true; version: number; verb: 'list'; data: ListAnswer }
  | { ok: true; version: number; verb: 'stats'; data: StatsAnswer }
  | { ok: false; version: number; error: { code: string; message: string } };

/**
 * The verb of one request line (without its newline). Only printable ASCII is accepted, so a
 * garbage line is named as such rather than echoed back into the answer.
 */
export function parseRequest(line: string): ControlVerb {
  const verb = line.replace(/\r$/, '').trim();
  if (!/^[\x20-\x7e]*$/.test(verb)) throw new ControlRequestError(CONTROL_ERROR.badRequest, 'the request is not a line of printable ASCII');
  if (!(VERBS as readonly string[]).includes(verb)) {
    const shown = verb.length > 32 ? `${verb.slice(0, 32)}...` : verb;
    throw new ControlRequestError(CONTROL_ERROR.unknownVerb, `unknown request ${JSON.stringify(shown)}; known: ${VERBS.join(', ')}`);
  }
  return verb as ControlVerb;
}

export function listView(snapshot: HostSnapshot): ListAnswer {
  return {
    time: snapshot.time,
    vifs: snapshot.vifs.map((vif) => ({
      name: vif.name, domid: vif.domid, devid: vif.devid, state: vif.state, queues: vif.queues.length,
      features: Object.entries(vif.features).filter(([, on]) => on).map(([name]) => name).sort(),
      carrier: vif.carrier, disabled: vif.disabled,
    })),
  };
}

export function statsView(snapshot: HostSnapshot): StatsAnswer {
  return {
    time: snapshot.time,
    vifs: snapshot.vifs.map((vif) => ({
      name: vif.name, domid: vif.domid, devid: vif.devid, counters: { ...vif.counters },
      queues: vif.queues.map((queue) => ({ name: queue.name, counters: { ...queue.counters } })),
    })),
  };
}

/** The answer line for a verb (the snapshot is taken only once the request is known to be valid). */
export function answer(verb: ControlVerb, snapshot: () => HostSnapshot): ControlAnswer {
  const taken = snapshot();
  return verb === 'list'
    ? { ok: true, version: CONTROL_PROTOCOL_VERSION, verb, data: listView(taken) }
    : { ok: true, version: CONTROL_PROTOCOL_VERSION, verb, data: statsView(taken) };
}

export function errorAnswer(code: string, message: string): ControlAnswer {
  return { ok: false, version: CONTROL_PROTOCOL_VERSION, error: { code, message } };
}
