// What a pool worker serves its queues with: the grant table and event channels (its own
// /dev/xen/gntdev and /dev/xen/evtchn fds, the ports it binds) and, per vif, the TAP queues it
// attaches. A worker imports this module by name (WorkerInit.devices), so a test can hand the
// pool another device set. Node only.

import type { FaultInjector } from '../backend/containment.js';
import type { PacketPort } from '../backend/datapath.js';
import type { Logger } from '../log.js';
import { TapPort } from '../tap/port.js';
import type { EventChannels, GrantTable } from '../xen/types.js';
import { RealEventChannels } from '../xen/real/event-channels.js';
import { RealGrantTable } from '../xen/real/grant-table.js';

export interface WorkerDevices {
  readonly grants: GrantTable;
  readonly events: EventChannels;
  /** The vif's port: `queues` queues of its TAP, one per netif queue. */
  port(name: string, queues: number): PacketPort & { readonly fds: number[]; close(): Promise<void> };
  /** Every device fd open now (the pool closes them if this thread dies). */
  fds(): number[];
  /** TEST ONLY (backend/containment.ts): a fault injector for the data paths; the real devices have none. */
  readonly faults?: FaultInjector;
  close(): void;
}

export function openDevices(log: Logger, _options?: unknown): WorkerDevices {
  const grants = new RealGrantTable({ log });
  const events = new RealEventChannels({ log });
  grants.open();
  events.open();
  return {
    grants, events,
    port: (name, queues) => TapPort.attachQueues(name, queues),
    fds: () => [grants.openFd, events.openFd].filter((fd): fd is number => fd !== undefined),
    close: () => {
      grants.close();
      events.close();
    },
  };
}
