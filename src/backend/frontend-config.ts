// Everything the backend reads when the frontend goes Connected: the queue count, each queue's
// ring references and event channels, the control ring, the frontend's feature flags, and the
// toolstack's `mac`, `rate` and `mtu` from the backend directory. see: xenbus.c connect,
// connect_data_rings, connect_ctrl_ring, read_xenbus_vif_flags, xen_net_read_mac, xen_net_read_rate
//
// Every value here was written by the guest or the toolstack, so every parse is strict: a value
// that is not exactly what the protocol allows is a typed error with a stable code (never NaN,
// never a different exception). The only lenient parse is `rate`, which Linux deliberately
// treats as "unlimited" when malformed, and `xdp-headroom`, which it clamps.

import { NetbackError } from '../errors.js';
import type { XenStore } from '../xen/types.js';

/** Errno values written into the xenbus `error` node, as xenbus_dev_fatal prints them. */
export const ERRNO = { ENOENT: 2, EIO: 5, EINVAL: 22, ERANGE: 34, ENOMEM: 12, ENODEV: 19, EOPNOTSUPP: 95 } as const;

/**
 * A frontend- or toolstack-written value the backend cannot connect with. `errno` is what goes
 * into the `error` node; `key` names the offending node (relative to its directory).
 */
export class VifConfigError extends NetbackError {
  readonly key: string;
  readonly errno: number;
  constructor(code: string, key: string, errno: number, message: string) {
    super(code, message);
    this.key = key;
    this.errno = errno;
  }
}

/** Written by the guest (frontend directory). */
export class FrontendConfigError extends VifConfigError {}
/** Written by the toolstack (backend directory). */
export class BackendConfigError extends VifConfigError {}

/** see: netif.h XEN_NETIF_MAX_XDP_HEADROOM */
export const XEN_NETIF_MAX_XDP_HEADROOM = 0x7fff;
/** see: netif.h "MTU" (absent → 1500) */
export const DEFAULT_MTU = 1500;
/** see: interface.c xenvif_alloc (min_mtu = ETH_MIN_MTU, max_mtu = ETH_MAX_MTU - VLAN_ETH_HLEN) */
export const MIN_MTU = 68;
export const MAX_MTU = 65535 - 18;
const U32_MAX = 0xffffffff;

export interface QueueConfig {
  readonly index: number;
  readonly txRingRef: number;
  readonly rxRingRef: number;
  readonly txEventChannel: number;
  /** Equal to txEventChannel when the frontend uses one channel for both directions. */
  readonly rxEventChannel: number;
  readonly splitEventChannels: boolean;
}

export interface CtrlRingConfig {
  readonly ringRef: number;
  readonly eventChannel: number;
}

/** `rate` = "<bytes>,<usecs>"; unlimited is Linux's bytes = ~0UL, usecs = 0. */
export type RateLimit = { readonly unlimited: true } | { readonly unlimited: false; readonly bytes: number; readonly usecs: number };

export const UNLIMITED: RateLimit = Object.freeze({ unlimited: true });

export interface FrontendFeatures {
  /** request-rx-copy (required: the backend has no flip path). */
  readonly rxCopy: true;
  /** feature-rx-notify; without it Linux polls RX (30 ms drain timeout) and disables stall detection. */
  readonly rxNotify: boolean;
  /** feature-sg */
  readonly sg: boolean;
  readonly gsoTcpv4: boolean;
  readonly gsoTcpv6: boolean;
  /** IPv4 TCP/UDP checksum offload: on unless feature-no-csum-offload=1. */
  readonly ipCsum: boolean;
  /** feature-ipv6-csum-offload */
  readonly ipv6Csum: boolean;
}

export interface FrontendConfig {
  readonly numQueues: number;
  readonly queues: readonly QueueConfig[];
  readonly ctrlRing: CtrlRingConfig | undefined;
  readonly features: FrontendFeatures;
  /** Frontend xdp-headroom, clamped to XEN_NETIF_MAX_XDP_HEADROOM; 0 when absent. */
  readonly xdpHeadroom: number;
  /** The guest's MAC from the backend `mac` node. */
  readonly mac: Uint8Array;
  readonly rate: RateLimit;
  readonly mtu: number;
  /** request-multicast-control (sampled now; watched while connected). */
  readonly multicastControl: boolean;
}

type Origin = 'frontend' | 'backend';

function configError(origin: Origin, code: string, key: string, errno: number, message: string): VifConfigError {
  return origin === 'frontend' ? new FrontendConfigError(code, key, errno, message) : new BackendConfigError(code, key, errno, message);
}

function quote(raw: string): string {
  return JSON.stringify(raw.length > 32 ? `${raw.slice(0, 32)}…` : raw);
}

/** A decimal u32 ("%u"), strictly: digits only, no sign, no spaces, no overflow. */
export function parseU32(raw: string, key: string, origin: Origin): number {
  if (!/^[0-9]{1,10}$/.test(raw) || Number(raw) > U32_MAX) {
    throw configError(origin, `NETBACK_${origin.toUpperCase()}_BAD_VALUE`, key, ERRNO.EINVAL, `${origin} ${key} is ${quote(raw)}, not an unsigned 32-bit number`);
  }
  return Number(raw);
}

/** An optional u32 with a default (xenbus_read_unsigned), strict when present. */
export function parseOptionalU32(raw: string | undefined, key: string, fallback: number, origin: Origin): number {
  return raw === undefined ? fallback : parseU32(raw, key, origin);
}

/** A boolean feature flag: absent → `fallback`, otherwise any u32, non-zero meaning on. */
export function parseFlag(raw: string | undefined, key: string, fallback: boolean): boolean {
  return raw === undefined ? fallback : parseU32(raw, key, 'frontend') !== 0;
}

/** Exactly six 1–2 digit hex octets separated by colons. see: xenbus.c xen_net_read_mac */
export function parseMac(raw: string | undefined): Uint8Array {
  if (raw === undefined) {
    throw new BackendConfigError('NETBACK_BACKEND_MISSING_KEY', 'mac', ERRNO.ENOENT, 'backend mac is missing');
  }
  if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(raw)) {
    throw new BackendConfigError('NETBACK_BACKEND_BAD_MAC', 'mac', ERRNO.ENOENT, `backend mac is ${quote(raw)}, not six colon-separated hex octets`);
  }
  return Uint8Array.from(raw.split(':').map((octet) => parseInt(octet, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface ParsedRate {
  readonly rate: RateLimit;
  /** The node existed but did not parse; Linux logs "Failed to parse network rate limit. Traffic unlimited." */
  readonly malformed: boolean;
}

/** "<bytes>,<usecs>" in decimal; absent or malformed → unlimited. see: xenbus.c xen_net_read_rate */
export function parseRate(raw: string | undefined): ParsedRate {
  if (raw === undefined) return { rate: UNLIMITED, malformed: false };
  const m = /^([0-9]{1,20}),([0-9]{1,20})$/.exec(raw);
  if (m === null) return { rate: UNLIMITED, malformed: true };
  const bytes = Number(m[1]);
  const usecs = Number(m[2]);
  // Beyond 2^53 the number would not be exact; Linux would wrap at 2^64. Neither is a rate anyone meant.
  if (!Number.isSafeInteger(bytes) || !Number.isSafeInteger(usecs)) return { rate: UNLIMITED, malformed: true };
  return { rate: { unlimited: false, bytes, usecs }, malformed: false };
}

/** Backend `mtu`: absent → 1500, else a decimal in MIN_MTU..MAX_MTU. see: netif.h "MTU" */
export function parseMtu(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_MTU;
  const mtu = parseU32(raw, 'mtu', 'backend');
  if (mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new BackendConfigError('NETBACK_BACKEND_BAD_MTU', 'mtu', ERRNO.ERANGE, `backend mtu ${mtu} is outside ${MIN_MTU}..${MAX_MTU}`);
  }
  return mtu;
}

/** Frontend `xdp-headroom` ("%hu"): absent → 0, above 0x7FFF → clamped. see: xenbus.c read_xenbus_frontend_xdp */
export function parseXdpHeadroom(raw: string | undefined): number {
  if (raw === undefined) return 0;
  if (!/^[0-9]{1,10}$/.test(raw)) {
    throw new FrontendConfigError('NETBACK_FRONTEND_BAD_VALUE', 'xdp-headroom', ERRNO.EINVAL, `frontend xdp-headroom is ${quote(raw)}, not a number`);
  }
  return Math.min(Number(raw), XEN_NETIF_MAX_XDP_HEADROOM);
}

export interface ReadFrontendConfigOptions {
  /** backend directory, e.g. /local/domain/0/backend/vif/5/0 */
  backendPath: string;
  /** frontend directory, e.g. /local/domain/5/device/vif/0 */
  frontendPath: string;
  /** What the backend advertised as multi-queue-max-queues. */
  maxQueues: number;
}

/** Reads and validates everything of §4.4, in Linux's order: queue count, mac, rate, flags, ctrl ring, queues. */
export async function readFrontendConfig(xs: XenStore, options: ReadFrontendConfigOptions): Promise<FrontendConfig> { // see: xenbus.c connect
  const fe = (key: string) => xs.read(`${options.frontendPath}/${key}`);
  const be = (key: string) => xs.read(`${options.backendPath}/${key}`);

  const numQueues = parseOptionalU32(await fe('multi-queue-num-queues'), 'multi-queue-num-queues', 1, 'frontend');
  if (numQueues > options.maxQueues) {
    throw new FrontendConfigError('NETBACK_FRONTEND_TOO_MANY_QUEUES', 'multi-queue-num-queues', ERRNO.EINVAL,
      `guest requested ${numQueues} queues, exceeding the maximum of ${options.maxQueues}.`);
  }
  if (numQueues === 0) {
    throw new FrontendConfigError('NETBACK_FRONTEND_BAD_VALUE', 'multi-queue-num-queues', ERRNO.EINVAL, 'guest requested 0 queues');
  }

  const mac = parseMac(await be('mac'));
  const { rate } = parseRate(await be('rate'));
  const mtu = parseMtu(await be('mtu'));
  const features = await readFeatures(fe);
  const xdpHeadroom = parseXdpHeadroom(await fe('xdp-headroom'));
  const multicastControl = parseFlag(await fe('request-multicast-control'), 'request-multicast-control', false);
  const ctrlRing = await readCtrlRing(fe);

  const queues: QueueConfig[] = [];
  for (let index = 0; index < numQueues; index++) {
    // One queue (or a frontend without multi-queue) keeps its keys flat in the device directory.
    const dir = numQueues === 1 ? '' : `queue-${index}/`;
    queues.push(await readQueue((key) => fe(`${dir}${key}`), index, dir));
  }
  return { numQueues, queues, ctrlRing, features, xdpHeadroom, mac, rate, mtu, multicastControl };
}

async function readFeatures(fe: (key: string) => Promise<string | undefined>): Promise<FrontendFeatures> { // see: xenbus.c read_xenbus_vif_flags
  const rxCopy = parseOptionalU32(await fe('request-rx-copy'), 'request-rx-copy', 0, 'frontend');
  if (rxCopy === 0) {
    throw new FrontendConfigError('NETBACK_FRONTEND_NO_RX_COPY', 'request-rx-copy', ERRNO.EOPNOTSUPP, 'frontend does not request rx-copy (the flip path is not supported)');
  }
  return {
    rxCopy: true,
    rxNotify: parseFlag(await fe('feature-rx-notify'), 'feature-rx-notify', false),
    sg: parseFlag(await fe('feature-sg'), 'feature-sg', false),
    gsoTcpv4: parseFlag(await fe('feature-gso-tcpv4'), 'feature-gso-tcpv4', false),
    gsoTcpv6: parseFlag(await fe('feature-gso-tcpv6'), 'feature-gso-tcpv6', false),
    ipCsum: !parseFlag(await fe('feature-no-csum-offload'), 'feature-no-csum-offload', false),
    ipv6Csum: parseFlag(await fe('feature-ipv6-csum-offload'), 'feature-ipv6-csum-offload', false),
  };
}

async function readCtrlRing(fe: (key: string) => Promise<string | undefined>): Promise<CtrlRingConfig | undefined> { // see: xenbus.c connect_ctrl_ring
  const refRaw = await fe('ctrl-ring-ref');
  if (refRaw === undefined) return undefined;
  const ringRef = parseU32(refRaw, 'ctrl-ring-ref', 'frontend');
  const chanRaw = await fe('event-channel-ctrl');
  if (chanRaw === undefined) {
    throw new FrontendConfigError('NETBACK_FRONTEND_CTRL_NO_EVTCHN', 'event-channel-ctrl', ERRNO.ENOENT, 'frontend has ctrl-ring-ref but no event-channel-ctrl');
  }
  return { ringRef, eventChannel: parseU32(chanRaw, 'event-channel-ctrl', 'frontend') };
}

async function readQueue(q: (key: string) => Promise<string | undefined>, index: number, dir: string): Promise<QueueConfig> { // see: xenbus.c connect_data_rings
  const required = async (key: string) => {
    const raw = await q(key);
    if (raw === undefined) {
      throw new FrontendConfigError('NETBACK_FRONTEND_MISSING_KEY', `${dir}${key}`, ERRNO.ENOENT, `frontend ${dir}${key} is missing`);
    }
    return parseU32(raw, `${dir}${key}`, 'frontend');
  };
  const txRingRef = await required('tx-ring-ref');
  const rxRingRef = await required('rx-ring-ref');
  // Split channels first; only a complete pair counts, else the single channel (xenbus_gather semantics).
  const txRaw = await q('event-channel-tx');
  const rxRaw = await q('event-channel-rx');
  if (txRaw !== undefined && rxRaw !== undefined) {
    return {
      index, txRingRef, rxRingRef, splitEventChannels: true,
      txEventChannel: parseU32(txRaw, `${dir}event-channel-tx`, 'frontend'),
      rxEventChannel: parseU32(rxRaw, `${dir}event-channel-rx`, 'frontend'),
    };
  }
  const single = await q('event-channel');
  if (single === undefined) {
    throw new FrontendConfigError('NETBACK_FRONTEND_MISSING_KEY', `${dir}event-channel`, ERRNO.ENOENT, `frontend ${dir}event-channel(-tx/rx) is missing`);
  }
  const port = parseU32(single, `${dir}event-channel`, 'frontend');
  return { index, txRingRef, rxRingRef, splitEventChannels: false, txEventChannel: port, rxEventChannel: port };
}
