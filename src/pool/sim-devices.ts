// A pool worker's device set without Xen (PoolOptions.devices), for the pool's tests and the
// `scale` benchmark: the simulated grant table and event channels, with a simulated Linux netfront
// per guest on the worker's own thread (as a real guest runs on vCPUs of its own, it costs the
// worker's core here: the benchmark reports it), and the vif's real TAP queues. The guests are
// built in the same order on every thread from the same list, so their ring refs and ports
// (guestConfig) are the same everywhere. A guest lives and dies with its worker: a replaced
// worker's vif connects to a fresh guest at the same refs. Node only.

import type { FaultInjector, HostCallback } from '../backend/containment.js';
import type { FrontendConfig } from '../backend/frontend-config.js';
import type { Logger } from '../log.js';
import { buildFrame } from '../sim/frames.js';
import { TapPort } from '../tap/port.js';
import { SimEventChannels } from '../xen/sim/event-channel.js';
import { SimGrantTable } from '../xen/sim/grant-table.js';
import { SimNetfront } from '../xen/sim/netfront.js';
import type { WorkerDevices } from './worker-devices.js';

export interface SimGuestSpec {
  domid: number;
  queues: number;
  mac: number[];
}

/**
 * TEST ONLY (backend/containment.ts): the `after`-th callback of kind `where` of the vif whose TAP
 * is `vif` throws (a TypeError, or a WebAssembly.RuntimeError for `trap`); `grant-copy`: the
 * `after`-th grant copy for that vif's guest (`domid`) throws instead.
 */
export interface SimFaultSpec {
  vif: string;
  domid: number;
  where: HostCallback | 'grant-copy';
  after: number;
  kind: 'error' | 'trap';
}

export interface SimDevicesOptions {
  guests: SimGuestSpec[];
  /** Each guest transmits UDP frames of this many bytes as fast as its TX ring takes them. */
  transmitBytes?: number;
  fault?: SimFaultSpec;
}

function injected(spec: SimFaultSpec): Error {
  const message = `injected in the ${spec.where} callback of ${spec.vif}`;
  return spec.kind === 'trap' ? new WebAssembly.RuntimeError(message) : new TypeError(message);
}

/** The fault injector for `spec` (undefined for none or a grant-copy fault), and the grant-copy hook. */
function faultHooks(spec: SimFaultSpec | undefined, grants: SimGrantTable): FaultInjector | undefined {
  if (spec === undefined) return undefined;
  let seen = 0;
  if (spec.where === 'grant-copy') {
    grants.faults.throwInCopy = (domid) => (domid === spec.domid && ++seen === spec.after ? injected(spec) : undefined);
    return undefined;
  }
  return (where, name) => {
    if (where === spec.where && (name === spec.vif || name.startsWith(`${spec.vif}-q`)) && ++seen === spec.after) throw injected(spec);
  };
}

function buildGuests(specs: readonly SimGuestSpec[]): { grants: SimGrantTable; channels: SimEventChannels; netfronts: Map<number, SimNetfront> } {
  const grants = new SimGrantTable(0);
  const channels = new SimEventChannels();
  const netfronts = new Map<number, SimNetfront>();
  for (const spec of specs) netfronts.set(spec.domid, new SimNetfront({ domid: spec.domid, grants, channels, queues: spec.queues }));
  return { grants, channels, netfronts };
}

/** The FrontendConfig the guest `domid` of `specs` connects with (what its xenstore keys would say). */
export function guestConfig(specs: readonly SimGuestSpec[], domid: number): FrontendConfig {
  const spec = specs.find((s) => s.domid === domid)!;
  const netfront = buildGuests(specs).netfronts.get(domid)!;
  const queues = netfront.queueKeys().map((keys, index) => {
    const port = keys.eventChannel as number;
    return { index, txRingRef: keys.txRingRef, rxRingRef: keys.rxRingRef, txEventChannel: port, rxEventChannel: port, splitEventChannels: false };
  });
  return {
    numQueues: queues.length, queues, ctrlRing: undefined,
    features: { rxCopy: true, rxNotify: true, sg: true, gsoTcpv4: true, gsoTcpv6: true, ipCsum: true, ipv6Csum: true },
    xdpHeadroom: 0, mac: Uint8Array.from(spec.mac), rate: { unlimited: true }, mtu: 1500, multicastControl: false,
  };
}

/**
 * Sends on every queue until its ring is full, then again (on a later turn) each time the backend
 * frees slots.
 */
function transmitForever(netfront: SimNetfront, frame: Uint8Array): void {
  let scheduled = false;
  const pump = (): void => {
    scheduled = false;
    let room = false;
    for (let queue = 0; queue < netfront.queueCount; queue++) {
      let sent = 0;
      while (sent < 1024 && netfront.send(frame, { queue }).kind === 'sent') sent++;
      if (sent === 1024) room = true;
    }
    if (room) wake(); // a stopped queue says so with its 'wake' event
  };
  const wake = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };
  netfront.on('wake', wake);
  wake();
}

export function openDevices(_log: Logger, raw: unknown): WorkerDevices {
  const options = raw as SimDevicesOptions;
  const { grants, channels, netfronts } = buildGuests(options.guests);
  const backend = channels.forDomain(0);
  const started = new Set<number>();
  const faults = faultHooks(options.fault, grants);
  return {
    grants,
    faults,
    events: {
      bindInterdomain: (remoteDomid, remotePort, onEvent) => {
        const port = backend.bindInterdomain(remoteDomid, remotePort, onEvent);
        // the backend is connected once it binds: the guest posts its RX buffers (xennet_connect)
        if (!started.has(remoteDomid)) {
          started.add(remoteDomid);
          setTimeout(() => {
            const netfront = netfronts.get(remoteDomid);
            netfront?.start();
            const bytes = options.transmitBytes;
            // to a MAC nobody has: the host stack takes each frame off the TAP and drops it
            if (netfront !== undefined && bytes !== undefined) {
              transmitForever(netfront, buildFrame({ ip: 4, l4: 'udp', payload: Math.max(0, bytes - 42), dstMac: [0x02, 0, 0x5e, 0x7f, 0xff, 0xfe], checksum: 'full' }));
            }
          }, 0);
        }
        return port;
      },
    },
    port: (name, queues) => TapPort.attachQueues(name, queues),
    fds: () => [],
    close: () => undefined,
  };
}
