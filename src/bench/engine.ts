// The engine end to end, one queue: a simulated Linux netfront ↔ rings ↔ the Wasm kernels ↔ an
// in-process sink that only counts, in each direction, with 64-byte frames and 64 KiB GSO frames.
// Everything runs on one thread, so the figures include the simulated guest's own work (writing
// requests, granting pages, reading responses), as a real guest's would not.

import type { PacketPort, PacketReceiver } from '../backend/datapath.js';
import type { NetworkInterfaceFactory } from '../backend/vif.js';
import { compileKernels } from '../wasm/module.js';
import { readKernels } from '../wasm/node-source.js';
import { SimHost } from '../sim/host.js';
import { buildFrame } from '../sim/frames.js';
import { row, type BenchRow, type TimingOptions } from './harness.js';

/** A port that counts what the vif transmits and lets the bench inject frames for the guest. */
class CountingPort implements PacketPort {
  readonly sink = this;
  readonly offloads = { csum: true, tso4: true, tso6: true };
  frames = 0;
  bytes = 0;
  receiver: PacketReceiver | undefined;
  constructor(readonly name: string) {}
  transmit(_bytes: Uint8Array, _offset: number, length: number): boolean {
    this.frames++;
    this.bytes += length - 10;
    return true;
  }
  setReceiver(receiver: PacketReceiver | undefined): void {
    this.receiver = receiver;
  }
  async close(): Promise<void> {}
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Shape {
  label: string;
  frame: Uint8Array;
  gso?: { type: 'tcpv4'; size: number };
}

function shapes(): Shape[] {
  const small = buildFrame({ ip: 4, l4: 'udp', payload: 64 - 42, checksum: 'full' });
  const big = buildFrame({ ip: 4, l4: 'tcp', payload: 45 * 1448, tcpOptionBytes: 12, checksum: 'pseudo' });
  return [{ label: '64B', frame: small }, { label: '64KiB_gso', frame: big, gso: { type: 'tcpv4', size: 1448 } }];
}

async function newHost(port: CountingPort): Promise<SimHost> {
  const interfaces: NetworkInterfaceFactory = { create: async () => port };
  const host = new SimHost({ kernels: await compileKernels(await readKernels()), interfaces });
  await host.start();
  await host.addGuest({ domid: 1 });
  return host;
}

/** One timed batch of a case. */
interface Measured {
  frames: number;
  bytes: number;
  /** Wall time of the batch, guest included, in seconds. */
  elapsed: number;
  /** Time the engine itself spent (the queue's busyMs), in seconds. */
  engine: number;
}

function engineSeconds(host: SimHost): number {
  return (host.dataPaths.get('vif1.0')?.queues[0]?.stats.busyMs ?? 0) / 1000;
}

/**
 * Repeats `turn` (one round of guest work and the engine's answer) for `batches` timed batches of
 * `seconds` on one host, each batch measured on its own: the first also warms the JIT up, and a
 * batch the machine's other work slowed down does not drag the others with it.
 */
async function timeBatches(host: SimHost, delivered: () => { frames: number; bytes: number }, turn: () => Promise<void>, batches: number, seconds: number): Promise<Measured[]> {
  const measured: Measured[] = [];
  for (let b = 0; b < batches; b++) {
    const before = delivered();
    const engineBefore = engineSeconds(host);
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) await turn();
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const after = delivered();
    measured.push({ frames: after.frames - before.frames, bytes: after.bytes - before.bytes, elapsed, engine: engineSeconds(host) - engineBefore });
  }
  return measured;
}

/** Guest TX: the netfront sends until its ring is full, the engine drains it, repeat. */
async function guestTx(shape: Shape, batches: number, seconds: number): Promise<Measured[]> {
  const port = new CountingPort('vif1.0');
  const host = await newHost(port);
  const netfront = host.guests.get(1)!.netfront;
  const options = shape.gso ? { checksum: 'partial' as const, gso: shape.gso } : { checksum: 'validated' as const };
  const measured = await timeBatches(host, () => ({ frames: port.frames, bytes: port.bytes }), async () => {
    while (netfront.send(shape.frame, options).kind === 'sent');
    await turn();
  }, batches, seconds);
  await host.close();
  return measured;
}

/** Guest RX: the sink side hands the vif a burst, the engine packs it into posted buffers. */
async function guestRx(shape: Shape, batches: number, seconds: number): Promise<Measured[]> {
  const port = new CountingPort('vif1.0');
  const host = await newHost(port);
  let frames = 0;
  let bytes = 0;
  host.guests.get(1)!.netfront.on('receive', (packet) => { frames++; bytes += packet.frame.length; });
  const header = new Uint8Array(10);
  if (shape.gso) {
    // virtio_net_hdr: NEEDS_CSUM, GSO TCPv4, hdr_len, gso_size, csum_start 34, csum_offset 16
    header.set([1, 1, 66, 0, shape.gso.size & 0xff, shape.gso.size >> 8, 34, 0, 16, 0]);
  } else {
    header[0] = 2; // DATA_VALID
  }
  const input = new Uint8Array(10 + shape.frame.length);
  input.set(header);
  input.set(shape.frame, 10);
  const burst = shape.gso ? 8 : 128;
  const measured = await timeBatches(host, () => ({ frames, bytes }), async () => {
    for (let i = 0; i < burst; i++) port.receiver?.receive(input);
    port.receiver?.wake();
    await turn();
  }, batches, seconds);
  await host.close();
  return measured;
}

/** One case of the engine benchmark: a direction and a frame shape. */
export interface EngineCase {
  /** guest_tx_64B, guest_rx_64KiB_gso, ... (the rows' kernel). */
  readonly kernel: string;
  /** `batches` timed batches of `seconds` on one host; each row keeps its best batch. */
  run(batches: number, seconds: number): Promise<BenchRow[]>;
}

const best = (batches: readonly Measured[], rate: (m: Measured) => number): Measured =>
  batches.reduce((a, b) => (rate(b) > rate(a) ? b : a));

/** Every case, in the order the rows are printed (a profile can run one on its own). */
export function engineCases(): EngineCase[] {
  return shapes().flatMap((shape) => ([['guest_tx', guestTx], ['guest_rx', guestRx]] as const).map(([direction, measure]): EngineCase => {
    const kernel = `${direction}_${shape.label}`;
    return {
      kernel,
      async run(batches, seconds) {
        const measured = await measure(shape, batches, seconds);
        const engineRate = (m: Measured) => m.frames / m.engine;
        const endToEndRate = (m: Measured) => m.frames / m.elapsed;
        const ours = best(measured, engineRate);
        const whole = best(measured, endToEndRate);
        const perFrame = (m: Measured) => m.bytes / Math.max(1, m.frames);
        const of = `best of ${batches} batch${batches === 1 ? '' : 'es'} of ${seconds} s`;
        // The engine's own rate: frames over the time spent inside the queue (rings, kernels, copies,
        // sink). The end-to-end rate adds the simulated guest's work on the same thread.
        return [
          row('engine', kernel, 'wasm', shape.frame.length, engineRate(ours), perFrame(ours),
            `engine time only (${(ours.engine * 1000).toFixed(0)} ms busy of ${(ours.elapsed * 1000).toFixed(0)} ms), ${of}; one queue, one thread; Mops = Mpps`),
          row('engine', kernel, 'wasm+sim_guest', shape.frame.length, endToEndRate(whole), perFrame(whole),
            `end to end with the simulated Linux netfront on the same thread, ${of}; ${whole.frames} frames in ${whole.elapsed.toFixed(2)} s`),
        ];
      },
    };
  }));
}

/** Each case in `timing.reps` batches, together at least `minSeconds` long. */
export async function engineBenches(timing: TimingOptions, minSeconds = 0.5): Promise<BenchRow[]> {
  const batches = Math.max(1, timing.reps);
  const seconds = Math.max(timing.minTime, minSeconds / batches);
  const rows: BenchRow[] = [];
  for (const engineCase of engineCases()) rows.push(...await engineCase.run(batches, seconds));
  return rows;
}
