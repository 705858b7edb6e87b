// The floor under the tap_e2e UDP rows: what the TAP system calls alone cost per 64-byte frame in
// the same set-up, no engine, no wake-up. A TAP of its own (the same offloads as the vif's) in the
// benchmark's host namespace, addressed on a subnet of its own, with a permanent neighbour behind
// it. Guest TX's floor: a tight loop of writeBatch calls (the addon's batch write, one write(2) per
// frame: tun has no batched write for user space) putting 64-byte UDP frames into the host stack,
// whose receive path runs in the writer's context, up to a receiving peer's socket. Guest RX's: a
// peer in the host namespace fills the TAP's queue with 64-byte datagrams, then a tight loop of
// readBatch calls drains it (one read per frame, one more that finds the queue empty), timed only
// while it drains. Each is this thread's CPU time per frame, with the TAP batches as the daemon
// makes them on this thread (io_uring, or a system call per frame: the note says which).

import { ip, type Netns, type NsProcess } from '../sim/netns.js';
import { tapBatchMode, TapDevice } from '../tap/tap.js';
import { VNET_HDR_SIZE } from '../backend/vnet-header.js';
import { row, type BenchRow } from './harness.js';
import { currentThreadId, threadCpuSeconds } from './thread-cpu.js';

export const TAP_FLOOR_IMPL = 'tap_syscalls';
const FLOOR_HOST4 = '198.18.2.1';
const FLOOR_PEER4 = '198.18.2.2';
const FLOOR_PEER_MAC = '02:00:5e:10:02:02';
const UDP_PORT = 5203;
const FRAME = 64;
/** Frames per writeBatch call: the engine's TX batches are of this order (a NAPI weight). */
const WRITE_BATCH = 64;
/** Frames per readBatch call, as TapPort reads them. */
const READ_SLOTS = 32;
/** Datagrams the filling peer sends per round: the TAP's queue (txqueuelen) holds them all. */
const FILL = 4000;
const QUEUE_LEN = 5000;

/** A 64-byte IPv4/UDP frame from the floor's peer to the host, behind a zero virtio_net_hdr (no offload). */
function udpFrame(hostMac: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(VNET_HDR_SIZE + FRAME);
  const frame = bytes.subarray(VNET_HDR_SIZE);
  const view = new DataView(frame.buffer, frame.byteOffset);
  frame.set(hostMac, 0);
  frame.set(FLOOR_PEER_MAC.split(':').map((h) => parseInt(h, 16)), 6);
  view.setUint16(12, 0x0800);
  const ip4 = 14;
  view.setUint8(ip4, 0x45);
  view.setUint16(ip4 + 2, FRAME - 14);
  view.setUint8(ip4 + 8, 64);
  view.setUint8(ip4 + 9, 17);
  frame.set(FLOOR_PEER4.split('.').map(Number), ip4 + 12);
  frame.set(FLOOR_HOST4.split('.').map(Number), ip4 + 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += view.getUint16(ip4 + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  view.setUint16(ip4 + 10, ~sum & 0xffff);
  const udp = ip4 + 20;
  view.setUint16(udp, 40000);
  view.setUint16(udp + 2, UDP_PORT);
  view.setUint16(udp + 4, FRAME - udp); // checksum 0: none (IPv4)
  return bytes;
}

function parseMac(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export interface FloorPeers {
  /** Runs a `node -e` peer in the host namespace and waits for its `ready`. */
  start(script: string): Promise<NsProcess>;
}

/**
 * The two floor rows. `hostNs` is the benchmark's host namespace; the floor's TAP is made there
 * and closed (so removed) before returning.
 */
export async function tapSyscallFloor(hostNs: Netns, tapName: string, seconds: number, peers: FloorPeers): Promise<BenchRow[]> {
  const tap = TapDevice.open({ name: tapName, mtu: 1500, offloads: { csum: true, tso4: true, tso6: true } });
  try {
    await ip('link', 'set', 'dev', tapName, 'netns', hostNs.name);
    await ip('-n', hostNs.name, 'link', 'set', 'dev', tapName, 'txqueuelen', String(QUEUE_LEN));
    await ip('-n', hostNs.name, 'addr', 'add', `${FLOOR_HOST4}/24`, 'dev', tapName);
    await ip('-n', hostNs.name, 'link', 'set', 'dev', tapName, 'up');
    await ip('-n', hostNs.name, 'neigh', 'replace', FLOOR_PEER4, 'lladdr', FLOOR_PEER_MAC, 'dev', tapName, 'nud', 'permanent');
    const hostMac = parseMac((await ip('-n', hostNs.name, '-br', 'link', 'show', 'dev', tapName)).trim().split(/\s+/)[2]!);
    const tid = currentThreadId();
    // the kernel's own frames (none expected with IPv6 off) are read away first
    drain(tap, new Uint8Array(READ_SLOTS * 2048), new Uint32Array(READ_SLOTS));
    return [await writeFloor(tap, hostMac, tid, seconds, peers), await readFloor(tap, tid, seconds, peers)];
  } finally {
    tap.close();
  }
}

async function writeFloor(tap: TapDevice, hostMac: Uint8Array, tid: number, seconds: number, peers: FloorPeers): Promise<BenchRow> {
  const receiver = await peers.start(`const s=require('dgram').createSocket('udp4');let n=0;s.on('message',()=>{n++});
s.bind(${UDP_PORT},'${FLOOR_HOST4}',()=>console.log('ready'));process.on('SIGTERM',()=>{console.log('got '+n);process.exit(0)})`);
  const frame = udpFrame(hostMac);
  const buffer = new Uint8Array(WRITE_BATCH * frame.length);
  const descriptors = new Uint32Array(2 * WRITE_BATCH);
  for (let i = 0; i < WRITE_BATCH; i++) {
    buffer.set(frame, i * frame.length);
    descriptors[2 * i] = i * frame.length;
    descriptors[2 * i + 1] = frame.length;
  }
  let frames = 0;
  const cpu0 = threadCpuSeconds(tid);
  const start = performance.now();
  const end = start + seconds * 1000;
  // a tight loop, in slices so the event loop (the peers' pipes) is not starved for long
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) frames += tap.writeBatch(buffer, descriptors, WRITE_BATCH);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const wall = (performance.now() - start) / 1000;
  const cpu = threadCpuSeconds(tid) - cpu0;
  receiver.kill('SIGTERM');
  const received = Number((await receiver.waitFor(/^got /, 5000)).split(' ')[1]);
  return floorRow('guest_tx_udp_64B', frames, cpu, wall,
    `the floor: 64-byte UDP frames written to a TAP of the same offloads in the host namespace by a tight loop of writeBatch (${WRITE_BATCH} frames a call), no engine; the host stack's receive path runs in the writer's context; received by the peer ${received} of ${frames}`);
}

async function readFloor(tap: TapDevice, tid: number, seconds: number, peers: FloorPeers): Promise<BenchRow> {
  const filler = await peers.start(`const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(${FRAME - 42});
s.bind(0,'${FLOOR_HOST4}',()=>console.log('ready'));let round=0;
const fill=()=>{round++;let left=${FILL};const more=()=>{for(let i=0;i<63&&left>1;i++,left--)s.send(b,${UDP_PORT},'${FLOOR_PEER4}');
left--;s.send(b,${UDP_PORT},'${FLOOR_PEER4}',()=>{if(left>0)more();else console.log('filled'+round)})};more()};
process.stdin.on('data',(d)=>{for(const c of String(d))if(c==='f')fill()})`);
  const slots = new Uint8Array(READ_SLOTS * 2048);
  const lengths = new Uint32Array(READ_SLOTS);
  let frames = 0;
  let cpu = 0;
  let wall = 0;
  const end = performance.now() + seconds * 1000;
  for (let round = 1; performance.now() < end; round++) {
    filler.child.stdin.write('f');
    await filler.waitFor(new RegExp(`^filled${round}$`), 10_000);
    const cpu0 = threadCpuSeconds(tid);
    const start = performance.now();
    frames += drain(tap, slots, lengths);
    wall += (performance.now() - start) / 1000;
    cpu += threadCpuSeconds(tid) - cpu0;
  }
  return floorRow('guest_rx_udp_64B', frames, cpu, wall,
    `the floor: a peer in the host namespace fills a TAP of the same offloads (txqueuelen ${QUEUE_LEN}) with ${FILL} 64-byte UDP frames, then a tight loop of readBatch (${READ_SLOTS} slots a call) drains it, timed while it drains; no engine, no wake-up`);
}

/** Reads until the queue is empty; returns the frames read. */
function drain(tap: TapDevice, slots: Uint8Array, lengths: Uint32Array): number {
  let frames = 0;
  for (;;) {
    const got = tap.readBatch(slots, 0, 2048, lengths, READ_SLOTS);
    frames += got;
    if (got < READ_SLOTS) return frames;
  }
}

function floorRow(kernel: string, frames: number, cpu: number, wall: number, note: string): BenchRow {
  const perFrame = `${frames > 0 ? `${((cpu / frames) * 1e9).toFixed(0)} ns CPU per frame` : 'no frames'}, TAP batches: ${tapBatchMode()}`;
  return {
    ...row('tap_e2e', kernel, TAP_FLOOR_IMPL, FRAME, frames / Math.max(wall, 1e-9), FRAME, `${note}; ${perFrame} over ${cpu.toFixed(2)} s CPU`),
    ...(cpu > 0 && { backend_cpu_s: Math.round(cpu * 1000) / 1000, per_core_Gbitps: Math.round((frames * FRAME * 8) / cpu / 1e7) / 100, per_core_Mops: Math.round(frames / cpu / 1e2) / 1e4 }),
  };
}
