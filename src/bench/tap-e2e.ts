// The tap_e2e group: the engine between two real Linux network stacks (src/sim/linux-stacks.ts),
// in two network namespaces of the benchmark's own. Guest TX is the guest's kernel (namespace B,
// behind the simulated netfront) sending to the host's (namespace A, behind the vif's real TAP);
// guest RX the other way round. Measured: a TCP bulk transfer and a 64-byte UDP flood each way,
// between `node -e` peers in the namespaces, timed by the receiving peer.
//
// Everything is driven by the event loop (TAP readiness, event channels, child processes): the
// group only ever awaits, because a synchronous loop in this process would stall the engine and
// the guest's netfront, and with them every transfer the loop waits for. The namespaces are
// removed on the way out, on SIGINT/SIGTERM/SIGHUP, and (should this process be killed outright)
// by the next run, which deletes those whose process is gone.

import { constants } from 'node:os';
import { compileKernels } from '../wasm/module.js';
import { readKernels } from '../wasm/node-source.js';
import { GUEST4, HOST4, LinuxStacks } from '../sim/linux-stacks.js';
import { ip, linkJson, Netns, netnsNames, type NsProcess } from '../sim/netns.js';
import { tapUnavailableReason } from '../tap/tap.js';
import { row, type BenchRow } from './harness.js';
import { tapSyscallFloor } from './tap-floor.js';
import { currentThreadId, threadCpuSeconds } from './thread-cpu.js';

export const TAP_E2E_GROUP = 'tap_e2e';
const IMPL = 'wasm+tap';
const NETNS_PREFIX = 'wnb-bench-';
const TCP_PORT = 5201;
const UDP_PORT = 5202;
/** Ethernet + IPv4 + UDP headers: a 22-byte payload makes a 64-byte frame. */
const UDP_PAYLOAD_64B = 64 - 42;

/** The namespaces of one run: named after this process, so a later run can tell they are stale. */
export function benchNetnsName(pid: number, side: 'host' | 'guest'): string {
  return `${NETNS_PREFIX}${pid}-${side}`;
}

/** The run's TAP names (IFNAMSIZ: at most 15 bytes; a Linux pid has at most 7 digits); `floor`: tap-floor.ts's. */
export function benchTapName(pid: number, side: 'host' | 'guest' | 'floor'): string {
  return `wnbb${pid}${side === 'host' ? 'v' : side === 'guest' ? 'g' : 'f'}`;
}

/** A TCP receiver: counts bytes to EOF, prints `got BYTES SECONDS` (first byte to EOF). */
function tcpReceiver(address: string, limitSeconds: number): string {
  return `const srv=require('net').createServer((s)=>{srv.close();let n=0,t0=0n;
s.on('data',(b)=>{if(n===0)t0=process.hrtime.bigint();n+=b.length});
s.on('end',()=>{console.log('got '+n+' '+Number(process.hrtime.bigint()-t0)/1e9);process.exit(0)})});
srv.listen(${TCP_PORT},'${address}',()=>console.log('ready'));setTimeout(()=>{console.log('timeout');process.exit(2)},${limitSeconds * 1000})`;
}

// The senders connect (or bind), print `ready` and start on a line on their stdin: the backend's
// CPU time is read from that line on, with no process being spawned by this one meanwhile.
const ON_GO = `process.stdin.once('data',()=>{process.stdin.pause();go()});console.log('ready')`;

/** A TCP sender: once told, writes as fast as the connection takes for `seconds`, then closes; prints `sent BYTES`. */
function tcpSender(address: string, seconds: number, limitSeconds: number): string {
  return `const b=Buffer.alloc(1<<20,0x5a);let n=0;const s=require('net').connect(${TCP_PORT},'${address}',()=>{
const go=()=>{const end=Date.now()+${seconds * 1000};const pump=()=>{while(Date.now()<end){n+=b.length;if(!s.write(b)){s.once('drain',pump);return}}
s.end(()=>{console.log('sent '+n);process.exit(0)})};pump()};${ON_GO}});
s.on('error',(e)=>{console.log('error '+e.message);process.exit(1)});setTimeout(()=>{console.log('timeout');process.exit(2)},${limitSeconds * 1000})`;
}

/** A UDP receiver: counts datagrams; on SIGTERM prints `got COUNT SECONDS` (first to last). */
function udpReceiver(address: string, limitSeconds: number): string {
  return `const s=require('dgram').createSocket('udp4');let n=0,t0=0n,t1=0n;
s.on('message',()=>{t1=process.hrtime.bigint();if(n++===0)t0=t1});s.bind(${UDP_PORT},'${address}',()=>console.log('ready'));
process.on('SIGTERM',()=>{console.log('got '+n+' '+Number(t1-t0)/1e9);process.exit(0)});setTimeout(()=>process.exit(2),${limitSeconds * 1000})`;
}

/**
 * A UDP flood for `seconds`: bursts of 64 datagrams, each burst once the previous one's last send
 * completed (so the socket, not memory, bounds what is in flight); prints `sent COUNT`.
 */
function udpSender(address: string, seconds: number): string {
  return `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(${UDP_PAYLOAD_64B});let n=0;let end;
const burst=()=>{if(Date.now()>=end){console.log('sent '+n);s.close();return}for(let i=0;i<63;i++)s.send(b,${UDP_PORT},'${address}');
s.send(b,${UDP_PORT},'${address}',burst);n+=64};const go=()=>{end=Date.now()+${seconds * 1000};burst()};${ON_GO}`;
}

interface Direction {
  kernel: 'guest_tx' | 'guest_rx';
  /** Where the sending peer runs, where the receiving one does. */
  from: Netns;
  to: Netns;
}

/**
 * What carries a direction's frames: the engine between the two TAPs, or the kernel's own veth
 * pair between the same namespaces (the anchor), with the receiver's address on it.
 */
interface PathCounters {
  packets: number;
  bytes: number;
  /** The backend's batches in this direction (0 for veth): how many frames each wake-up carried. */
  batches: number;
}

interface Path {
  impl: string;
  /** The receiver's address on this path, by direction. */
  address(direction: Direction): string;
  /** Frames and bytes through this path in a direction so far (the ring's, the veth's). */
  counters(direction: Direction): Promise<PathCounters>;
  /** The kernel thread ids of the backend's threads (none for veth). */
  backendThreads: readonly number[];
  /** Milliseconds the engine's queues were busy so far (0 for veth). */
  engineBusyMs(): number;
}

interface Measured<T> {
  result: T;
  /** Frames and bytes through the path in the direction, and the backend's batches. */
  packets: number;
  bytes: number;
  batches: number;
  wallSeconds: number;
  /** CPU seconds (user + system) of the backend's threads, summed. */
  backendCpuSeconds: number;
  /** Shares of the wall time: the engine's queues busy, this process's CPU in user space and in the kernel. */
  engineShare: number;
  userShare: number;
  systemShare: number;
}

/** What the path and this process did while `body` ran. */
async function measured<T>(path: Path, direction: Direction, body: () => Promise<T>): Promise<Measured<T>> {
  const backendCpu = () => path.backendThreads.reduce((sum, tid) => sum + threadCpuSeconds(tid), 0);
  const before = await path.counters(direction);
  const busyBefore = path.engineBusyMs();
  const cpuBefore = process.cpuUsage();
  const backendBefore = backendCpu();
  const start = performance.now();
  const result = await body();
  const wallMs = performance.now() - start;
  const backendCpuSeconds = backendCpu() - backendBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const after = await path.counters(direction);
  return {
    result, packets: after.packets - before.packets, bytes: after.bytes - before.bytes, batches: after.batches - before.batches, wallSeconds: wallMs / 1000, backendCpuSeconds,
    engineShare: (path.engineBusyMs() - busyBefore) / wallMs, userShare: cpu.user / 1000 / wallMs, systemShare: cpu.system / 1000 / wallMs,
  };
}

/** The per-backend-core fields of a row: frames and bits through the path per backend CPU-second. */
function perCore(m: Measured<unknown>): Pick<BenchRow, 'backend_cpu_s' | 'per_core_Gbitps' | 'per_core_Mops'> {
  const cpu = m.backendCpuSeconds;
  if (cpu <= 0) return {};
  return {
    backend_cpu_s: Math.round(cpu * 1000) / 1000,
    per_core_Gbitps: Math.round((m.bytes * 8) / cpu / 1e7) / 100,
    per_core_Mops: Math.round(m.packets / cpu / 1e2) / 1e4,
  };
}

/** Where the time went: the part of the note that says what bounded the figure. */
function shares(path: Path, m: Measured<unknown>): string {
  const percent = (share: number) => `${(100 * share).toFixed(0)} %`;
  if (path.backendThreads.length === 0) return `the kernel's own path (no backend); this process's CPU ${percent(m.userShare)} user + ${percent(m.systemShare)} kernel`;
  const perFrame = m.packets > 0 ? `${((m.backendCpuSeconds / m.packets) * 1e9).toFixed(0)} ns backend CPU per frame, ${(m.packets / Math.max(1, m.batches)).toFixed(1)} frames per batch` : 'no frames';
  return `backend thread CPU ${m.backendCpuSeconds.toFixed(2)} s of ${m.wallSeconds.toFixed(2)} s wall (${perFrame}); engine busy ${percent(m.engineShare)} of the time`;
}

/** The two numbers of a peer's `word A B` line; a line other than the expected one is an error. */
async function report(peer: NsProcess, word: string, timeoutMs: number): Promise<[number, number]> {
  const line = await peer.waitFor(/^(got|sent|error|timeout)/, timeoutMs);
  const [first, a, b] = line.split(' ');
  if (first !== word) throw new Error(`tap_e2e: a peer reported "${line}" instead of "${word} ..."`);
  return [Number(a), Number(b ?? 0)];
}

/**
 * Runs `body` with `start(ns, script)`, which runs a peer and waits for its `ready`; every peer
 * is killed once `body` is done, however it ends.
 */
async function withPeers<T>(body: (start: (ns: Netns, script: string) => Promise<NsProcess>) => Promise<T>): Promise<T> {
  const peers: NsProcess[] = [];
  try {
    return await body(async (ns, script) => {
      const peer = ns.node(script);
      peers.push(peer);
      await peer.waitFor(/^ready$/);
      return peer;
    });
  } finally {
    for (const peer of peers) peer.kill();
  }
}

async function tcpBulk(path: Path, direction: Direction, seconds: number): Promise<BenchRow> {
  const limit = seconds + 20;
  const address = path.address(direction);
  const m = await withPeers(async (start) => {
    const receiver = await start(direction.to, tcpReceiver(address, limit));
    const sender = await start(direction.from, tcpSender(address, seconds, limit));
    return measured(path, direction, () => {
      sender.child.stdin.write('go\n');
      return report(receiver, 'got', limit * 1000);
    });
  });
  const [bytes, elapsed] = m.result;
  const frames = Math.max(1, m.packets);
  return {
    ...row(TAP_E2E_GROUP, `${direction.kernel}_tcp_bulk`, path.impl, Math.round(m.bytes / frames), m.packets / elapsed, bytes / frames,
      `TCP payload ${(bytes / 2 ** 20).toFixed(0)} MiB over the receiver's ${elapsed.toFixed(2)} s; size = mean frame on the path (GSO crosses whole); Mops = frames/s; ${shares(path, m)}`),
    ...perCore(m),
  };
}

async function udpFlood(path: Path, direction: Direction, seconds: number): Promise<BenchRow> {
  const limit = seconds + 20;
  const address = path.address(direction);
  const m = await withPeers(async (start) => {
    const receiver = await start(direction.to, udpReceiver(address, limit));
    const sender = await start(direction.from, udpSender(address, seconds));
    return measured(path, direction, async () => {
      sender.child.stdin.write('go\n');
      const [sent] = await report(sender, 'sent', limit * 1000);
      // the last datagrams still cross the path: let them land before the receiver reports
      await new Promise((resolve) => setTimeout(resolve, 100));
      receiver.kill('SIGTERM');
      const [received, elapsed] = await report(receiver, 'got', 5_000);
      return { sent, received, elapsed };
    });
  });
  const { sent, received, elapsed } = m.result;
  return {
    ...row(TAP_E2E_GROUP, `${direction.kernel}_udp_64B`, path.impl, 64, received / Math.max(elapsed, 1e-9), 64,
      `64-byte UDP frames received by the peer over ${elapsed.toFixed(2)} s (sent ${sent}, through the path ${m.packets}, received ${received}: the rest dropped at a full queue); Mops = Mpps; ${shares(path, m)}`),
    ...perCore(m),
  };
}

/** The engine's path: the ring counters of the vif's data path, the backend on this thread. */
function enginePath(stacks: LinuxStacks): Path {
  const dataPath = () => stacks.guest.dataPath()!;
  return {
    impl: IMPL,
    address: (direction) => (direction.kernel === 'guest_tx' ? HOST4 : GUEST4),
    counters: async (direction) => {
      const c = dataPath().counters();
      const ring = direction.kernel === 'guest_tx' ? 'tx_ring' : 'rx_ring';
      const batches = direction.kernel === 'guest_tx' ? c.txBatches : c.rxBatches;
      return { packets: c[`${ring}_packets`] ?? 0, bytes: c[`${ring}_bytes`] ?? 0, batches: batches ?? 0 };
    },
    backendThreads: [currentThreadId()],
    engineBusyMs: () => dataPath().queues.reduce((sum, queue) => sum + queue.stats.busyMs, 0),
  };
}

const VETH_HOST4 = '198.18.1.1';
const VETH_GUEST4 = '198.18.1.2';

/** The anchor: a veth pair between the same two namespaces, addressed on a subnet of its own. */
async function vethPath(hostNs: Netns, guestNs: Netns, pid: number): Promise<Path> {
  const [hostEnd, guestEnd] = [`wnbb${pid}va`, `wnbb${pid}vb`];
  await ip('link', 'add', hostEnd, 'netns', hostNs.name, 'type', 'veth', 'peer', 'name', guestEnd, 'netns', guestNs.name);
  for (const [ns, dev, v4] of [[hostNs, hostEnd, VETH_HOST4], [guestNs, guestEnd, VETH_GUEST4]] as const) {
    await ip('-n', ns.name, 'addr', 'add', `${v4}/24`, 'dev', dev);
    await ip('-n', ns.name, 'link', 'set', 'dev', dev, 'up');
  }
  return {
    impl: 'veth',
    address: (direction) => (direction.kernel === 'guest_tx' ? VETH_HOST4 : VETH_GUEST4),
    counters: async (direction) => {
      // what the receiving end took in
      const [ns, dev] = direction.kernel === 'guest_tx' ? [hostNs, hostEnd] : [guestNs, guestEnd];
      const link = await linkJson(dev, ns.name, '-s');
      const rx = (link?.stats64 as { rx?: { packets?: number; bytes?: number } } | undefined)?.rx;
      return { packets: Number(rx?.packets ?? 0), bytes: Number(rx?.bytes ?? 0), batches: 0 };
    },
    backendThreads: [],
    engineBusyMs: () => 0,
  };
}

/** Deletes namespaces earlier runs left behind when they were killed outright (their pid is gone). */
async function removeStaleNamespaces(): Promise<void> {
  for (const name of await netnsNames()) {
    const pid = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await ip('netns', 'del', name).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `body` with `cleanup` also run on SIGINT, SIGTERM and SIGHUP (then the process exits as the
 * signal would have made it) and, in any case, on the way out.
 */
async function cleanedUpOnSignal<T>(cleanup: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (signal: NodeJS.Signals): void => {
    void cleanup().finally(() => process.exit(128 + constants.signals[signal]));
  };
  for (const signal of signals) process.once(signal, onSignal);
  try {
    return await body();
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    await cleanup();
  }
}

/**
 * The tap_e2e rows, or (not root, no /dev/net/tun, no addon) one row saying why the group was
 * skipped, its reason also given to `warn`.
 */
export async function tapEndToEndBenches(seconds: number, warn: (line: string) => void): Promise<BenchRow[]> {
  const reason = tapUnavailableReason();
  if (reason !== undefined) {
    warn(`wasm-netback bench: ${TAP_E2E_GROUP} skipped: ${reason}`);
    return [{ group: TAP_E2E_GROUP, kernel: 'skipped', impl: IMPL, size: 0, GBps: 0, Gbitps: 0, Mops: 0, ns_per_op: 0, note: `skipped: ${reason}` }];
  }
  await removeStaleNamespaces();
  const kernels = await compileKernels(await readKernels());
  const pid = process.pid;
  const hostNs = new Netns(benchNetnsName(pid, 'host'), { exact: true });
  const guestNs = new Netns(benchNetnsName(pid, 'guest'), { exact: true });
  let stacks: LinuxStacks | undefined;
  // the TAPs go with this process's fds in any case; the namespaces would outlive it
  const cleanup = async () => { await (stacks?.close() ?? Promise.all([hostNs.destroy(), guestNs.destroy()])); };
  return cleanedUpOnSignal(cleanup, async () => {
    stacks = await LinuxStacks.open({
      kernels, hostNs, guestNs, vifName: benchTapName(pid, 'host'), guestTapName: benchTapName(pid, 'guest'), guestThread: true,
    });
    const paths = [enginePath(stacks), await vethPath(hostNs, guestNs, pid)];
    const guestTx: Direction = { kernel: 'guest_tx', from: guestNs, to: hostNs };
    const guestRx: Direction = { kernel: 'guest_rx', from: hostNs, to: guestNs };
    const rows: BenchRow[] = [];
    // each engine row right before its anchor, measured one after the other
    for (const direction of [guestTx, guestRx]) for (const path of paths) rows.push(await tcpBulk(path, direction, seconds));
    for (const direction of [guestTx, guestRx]) for (const path of paths) rows.push(await udpFlood(path, direction, seconds));
    // what the TAP system calls alone cost per 64-byte frame here, the floor under the UDP rows
    rows.push(...await withPeers((start) => tapSyscallFloor(hostNs, benchTapName(pid, 'floor'), seconds, { start: (script) => start(hostNs, script) })));
    return rows;
  });
}
