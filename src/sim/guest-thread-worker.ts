// The guest's side of guest-thread.ts, run in a worker thread: a SimNetfront over the shared
// simulated Xen and, on request, the guest TAP (a Linux stack for the guest). Requests arrive in
// order and each gets one reply.

import { parentPort, workerData } from 'node:worker_threads';
import { currentThreadId } from '../bench/thread-cpu.js';
import { SimNetfront } from '../xen/sim/netfront.js';
import { SharedEventChannels } from '../xen/sim/shared/shared-event-channels.js';
import { SharedGrantTable } from '../xen/sim/shared/shared-grant-table.js';
import { SharedXen } from '../xen/sim/shared/shared-xen.js';
import { GuestTap } from './guest-tap.js';
import type { GuestThreadData, GuestThreadMessage, GuestThreadRequest } from './guest-thread.js';

const port = parentPort!;
const data = workerData as GuestThreadData;
const post = (message: GuestThreadMessage) => port.postMessage(message);

try {
  const xen = SharedXen.attach(data.xen);
  const grants = new SharedGrantTable(xen, data.backendDomid);
  const channels = new SharedEventChannels(xen);
  const netfront = new SimNetfront({
    domid: data.domid, backendDomid: data.backendDomid, grants, channels, queues: data.queues, split: data.split, features: data.features,
  });
  let tap: GuestTap | undefined;
  port.on('message', (request: GuestThreadRequest) => {
    try {
      switch (request.kind) {
        case 'start':
          netfront.start();
          post({ kind: 'reply' });
          break;
        case 'openTap':
          tap = GuestTap.open({ netfront, name: request.name, mtu: request.mtu, queue: 'flow' });
          post({ kind: 'reply' });
          break;
        case 'stats':
          post({ kind: 'reply', stats: { netfront: netfront.stats(), tap: tap === undefined ? undefined : { ...tap.stats } } });
          break;
        case 'close':
          tap?.close();
          netfront.close();
          channels.close();
          post({ kind: 'reply' });
          break;
      }
    } catch (error) {
      post({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  });
  post({ kind: 'ready', tid: currentThreadId(), queueKeys: netfront.queueKeys() });
} catch (error) {
  post({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
}
