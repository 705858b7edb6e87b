// A pool worker's device set for tests without Xen (PoolOptions.devices): the simulated grant
// table and event channels, with a simulated Linux netfront per guest on the worker's own thread,
// and the vif's real TAP queues. The guests are built in the same order on every thread from the
// same list, so their ring refs and ports (guestConfig) are the same everywhere. A guest lives and
// dies with its worker: a replaced worker's vif connects to a fresh guest at the same refs.

import type { FrontendConfig } from '../../src/backend/frontend-config.js';
import type { Logger } from '../../src/log.js';
import type { WorkerDevices } from '../../src/pool/worker-devices.js';
import { TapPort } from '../../src/tap/port.js';
import { SimEventChannels } from '../../src/xen/sim/event-channel.js';
import { SimGrantTable } from '../../src/xen/sim/grant-table.js';
import { SimNetfront } from '../../src/xen/sim/netfront.js';

export interface SimGuestSpec {
  domid: number;
  queues: number;
  mac: number[];
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

export function openDevices(_log: Logger, options: unknown): WorkerDevices {
  const { grants, channels, netfronts } = buildGuests((options as { guests: SimGuestSpec[] }).guests);
  const backend = channels.forDomain(0);
  const started = new Set<number>();
  return {
    grants,
    events: {
      bindInterdomain: (remoteDomid, remotePort, onEvent) => {
        const port = backend.bindInterdomain(remoteDomid, remotePort, onEvent);
        // the backend is connected once it binds: the guest posts its RX buffers (xennet_connect)
        if (!started.has(remoteDomid)) {
          started.add(remoteDomid);
          setTimeout(() => netfronts.get(remoteDomid)?.start(), 0);
        }
        return port;
      },
    },
    port: (name, queues) => TapPort.attachQueues(name, queues),
    fds: () => [],
    close: () => undefined,
  };
}
