// Engine bugs found by the real-stack end-to-end suite (tap-e2e.test.ts), each pinned down here
// on the simulated host where it reproduces deterministically.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { compileKernels, readKernels } from '../../src/index.js';
import { SimHost } from '../../src/sim/host.js';
import type { NetfrontPacket } from '../../src/xen/sim/netfront.js';
import { buildFrame, l4ChecksumValid } from '../reference/frames.js';

let kernels: WebAssembly.Module;
let host: SimHost | undefined;

beforeAll(async () => { kernels = await compileKernels(await readKernels()); });
afterEach(async () => {
  const current = host;
  host = undefined;
  await current?.close();
});

const MAC1 = [0x00, 0x16, 0x3e, 0, 1, 0];
const MAC2 = [0x00, 0x16, 0x3e, 0, 2, 0];

function addressed(frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  copy.set(MAC2, 0);
  copy.set(MAC1, 6);
  return copy;
}

// A checksum-partial frame for a frontend without checksum offload is completed in Wasm, in
// place. When the guest had no RX buffer posted the frame waited in the backlog and was mapped
// (and completed) again once buffers came: the second completion turned the field back into
// the pseudo-header sum, and the frame reached the guest marked data_validated with a wrong
// checksum (seen as TCP InCsumErrors in a real guest stack).
it('regression_rx_sw_csum_not_redone_after_waiting_for_buffers', async () => {
  host = new SimHost({ kernels });
  await host.start();
  await host.addGuest({ domid: 1 });
  const g2 = await host.addGuest({ domid: 2, features: { noCsumOffload: true } });
  const got: NetfrontPacket[] = [];
  g2.netfront.on('receive', (packet) => got.push(packet));
  const g1 = host.guests.get(1)!.netfront;

  // use up every RX buffer guest 2 has posted, and let it post no more
  g2.netfront.setRxBufferLimit(0);
  const filler = addressed(buildFrame({ ip: 4, l4: 'udp', payload: 32, checksum: 'full' }).frame);
  for (let sent = 0; g2.netfront.rxPosted() > 0 && sent < 1024; sent++) {
    if (g1.send(filler, { checksum: 'validated' }).kind !== 'sent') await host.settle();
    if (sent % 32 === 31) await host.settle();
  }
  await host.settle();
  expect(g2.netfront.rxPosted()).toBe(0);
  got.length = 0;

  const frame = addressed(buildFrame({ ip: 4, l4: 'tcp', payload: 700, checksum: 'pseudo' }).frame);
  expect(g1.send(frame, { checksum: 'partial' }).kind).toBe('sent');
  await host.settle();
  expect(got).toHaveLength(0);
  expect(host.dataPaths.get('vif2.0')!.queues[0]!.backlogLength).toBe(1);

  g2.netfront.setRxBufferLimit(256);
  g2.netfront.refill();
  await host.settle();
  expect(got).toHaveLength(1);
  expect(got[0]!.checksum).toBe('validated');
  expect(l4ChecksumValid(got[0]!.frame)).toBe(true);
  expect(host.dataPaths.get('vif2.0')!.counters().rx_sw_csum).toBe(1);
});
