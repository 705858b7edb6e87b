// The engine between two real Linux network stacks (src/sim/linux-stacks.ts): the vif's TAP in
// namespace A, the guest's netfront joined by GuestTap to a TAP in namespace B, whose kernel is the
// guest's IP stack and produces real checksum-partial and GSO frames. Then ARP/ND,
// ping both ways, and concurrent TCP bulk transfers both ways (sha256 compared on both ends), over
// IPv4 and IPv6, for three set-ups: everything offloaded (GSO crosses the engine as GSO), a
// frontend without GSO and checksum offload (Wasm segments and completes checksums towards the
// guest), and a host TAP without offloads (Wasm segments and completes towards the host).
// Everything stays inside two namespaces of this file's own, removed in afterAll.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compileKernels, readKernels } from '../../src/index.js';
import { findL4, type GuestTap } from '../../src/sim/guest-tap.js';
import type { SimGuest } from '../../src/sim/host.js';
import { GUEST4, GUEST6, HOST4, HOST6, LinuxStacks } from '../../src/sim/linux-stacks.js';
import type { TapOffloads } from '../../src/tap/tap.js';
import type { TapPort } from '../../src/tap/port.js';
import type { NetfrontFeatures } from '../../src/xen/sim/netfront.js';
import { l4ChecksumValid } from '../reference/frames.js';
import { announceSkip, ip, linkJson, TestNetns, uniqueName, type NsProcess } from '../tap/env.js';

const run = promisify(execFile);

const PING = ['/usr/bin/ping', '/bin/ping'].find((p) => existsSync(p));
const SUITE = 'test/engine/tap-e2e.test.ts (engine between two real network stacks)';
function skipReason(): boolean {
  if (announceSkip(SUITE)) return true;
  if (PING !== undefined) return false;
  const reason = 'no ping binary (apt-get install iputils-ping)';
  if (process.env.WNB_REQUIRE_TAP === '1') throw new Error(`${SUITE}: cannot run (${reason}) but WNB_REQUIRE_TAP=1`);
  console.warn(`SKIPPED ${SUITE}: ${reason}`);
  return true;
}
const skip = skipReason();

const MIB = 1024 * 1024;

interface Setup {
  name: string;
  /** Queues the guest and backend use (default 1). */
  queues?: number;
  /** The vif's and the guest TAP's MTU (default 1500). */
  mtu?: number;
  /** RX buffers the guest keeps posted at most (memory pressure; default: a full ring). */
  rxBuffers?: number;
  /** Also the UDP-fragment and small-MSS cases (the three main set-ups; the others keep the suite short). */
  extras?: boolean;
  frontend: Partial<NetfrontFeatures>;
  hostTap: TapOffloads;
  /** Bytes per direction and IP version. */
  bytes: number;
}

const SETUPS: Setup[] = [
  { name: 'offload', extras: true, frontend: {}, hostTap: { csum: true, tso4: true, tso6: true }, bytes: 32 * MIB },
  {
    name: 'nooffload', extras: true, frontend: { gsoTcpv4: false, gsoTcpv6: false, noCsumOffload: true, ipv6CsumOffload: false },
    hostTap: { csum: true, tso4: true, tso6: true }, bytes: 8 * MIB,
  },
  { name: 'plaintap', extras: true, frontend: {}, hostTap: {}, bytes: 8 * MIB },
  { name: 'jumbo', mtu: 9000, frontend: { gsoTcpv4: false, gsoTcpv6: false }, hostTap: { csum: true }, bytes: 8 * MIB },
  { name: 'nosg', frontend: { sg: false }, hostTap: { csum: true, tso4: true, tso6: true }, bytes: 4 * MIB },
  { name: 'fewbuffers', rxBuffers: 24, frontend: {}, hostTap: { csum: true, tso4: true, tso6: true }, bytes: 4 * MIB },
  { name: 'nov6csum', frontend: { ipv6CsumOffload: false }, hostTap: { csum: true, tso4: true, tso6: true }, bytes: 4 * MIB },
  { name: 'multiqueue', queues: 2, frontend: {}, hostTap: { csum: true, tso4: true, tso6: true }, bytes: 8 * MIB },
];

/** One TCP transfer end: listens or connects, then sends `bytes` random bytes or reads to EOF; prints the sha256. */
function tcpScript(role: 'listen' | 'connect', action: 'send' | 'recv', host: string, port: number, bytes: number): string {
  return `const net=require('net'),c=require('crypto');
const run=(s)=>{s.on('error',(e)=>{console.log('error '+e.message);process.exit(1)});
 if('${action}'==='send'){const d=c.randomBytes(${bytes});console.log('sent '+d.length+' '+c.createHash('sha256').update(d).digest('hex'));s.end(d);s.on('close',()=>process.exit(0));s.resume()}
 else{const h=c.createHash('sha256');let n=0;s.on('data',(b)=>{n+=b.length;h.update(b)});s.on('end',()=>{console.log('got '+n+' '+h.digest('hex'));s.end();process.exit(0)})}};
if('${role}'==='listen'){const srv=net.createServer((s)=>{srv.close();run(s)});srv.listen(${port},'${host}',()=>console.log('ready'))}
else{const s=net.connect(${port},'${host}',()=>run(s))}
setTimeout(()=>{console.log('timeout');process.exit(2)},40000)`;
}

/** A UDP echo server, and a client sending datagrams of the given sizes one by one (retrying a lost one). */
function udpEchoServer(family: 4 | 6, host: string, port: number): string {
  return `const s=require('dgram').createSocket('udp${family}');s.on('message',(m,r)=>s.send(m,r.port,r.address));
s.bind(${port},'${host}',()=>console.log('ready'));setTimeout(()=>process.exit(0),30000)`;
}
function udpEchoClient(family: 4 | 6, host: string, port: number, sizes: number[]): string {
  return `const c=require('crypto'),s=require('dgram').createSocket('udp${family}');const sizes=${JSON.stringify(sizes)};
let i=0,tries=0,retries=[],cur,timer;const next=()=>{if(i===sizes.length){console.log('done '+i);console.log('retried '+retries.join(' '));process.exit(0)}
cur=c.randomBytes(sizes[i]);if(tries++>0)retries.push(sizes[i]);if(tries>5){console.log('lost '+sizes[i]);process.exit(1)}s.send(cur,${port},'${host}');clearTimeout(timer);timer=setTimeout(next,500)};
s.on('message',(m)=>{if(!m.equals(cur)){console.log('corrupt '+sizes[i]);process.exit(1)}i++;tries=0;next()});next();setTimeout(()=>{console.log('timeout');process.exit(2)},30000)`;
}

let compiled: Promise<WebAssembly.Module> | undefined;

for (const setup of SETUPS) {
  describe.skipIf(skip)(`engine between real stacks: ${setup.name}`, () => {
    const nsA = new TestNetns();
    const nsB = new TestNetns();
    const vifName = uniqueName('wnbv');
    const guestName = uniqueName('wnbg');
    let stacks: LinuxStacks | undefined;
    let guest: SimGuest;
    let guestTap: GuestTap;
    let hostPort: TapPort;
    /** Frames the guest was told are complete ('validated' / 'none') whose TCP/UDP checksum is wrong. */
    const badChecksums: string[] = [];

    const counters = (): Record<string, number> => guest.dataPath()!.counters();

    beforeAll(async () => {
      const kernels = await (compiled ??= readKernels().then(compileKernels));
      stacks = await LinuxStacks.open({
        kernels, hostNs: nsA, guestNs: nsB, vifName, guestTapName: guestName, ipv6: true,
        hostTap: setup.hostTap, queues: setup.queues, mtu: setup.mtu, frontend: setup.frontend, rxBuffers: setup.rxBuffers,
      });
      ({ guest, guestTap, hostPort } = stacks);
      guest.netfront.on('receive', (packet) => {
        if (packet.checksum === 'partial' || packet.gso !== undefined) return;
        const l4 = findL4(packet.frame);
        if (l4 !== undefined && !l4ChecksumValid(packet.frame)) {
          badChecksums.push(`${packet.checksum} ${packet.frame.length} bytes, ethertype ${packet.frame[12]!.toString(16)}${packet.frame[13]!.toString(16)} proto ${l4.protocol}`);
          if (process.env.WNB_E2E_DEBUG) console.log('BAD', Buffer.from(packet.frame).toString('hex'));
        }
      });
    });

    afterAll(async () => {
      // open() removes what it made when it fails; the namespaces go in any case
      await (stacks?.close() ?? Promise.all([nsA.destroy(), nsB.destroy()]));
      // nothing of ours is left: the TAPs went with their fds, the namespaces with `ip netns del`
      expect(await linkJson(vifName)).toBeUndefined();
      expect(await linkJson(guestName)).toBeUndefined();
    });

    /** A TCP counter of a namespace's stack (/proc/net/snmp, shared by IPv4 and IPv6). */
    async function tcpCounter(ns: TestNetns, name: string): Promise<number> {
      const [names, values] = (await ns.exec('cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(/\s+/));
      return Number(values![names!.indexOf(name)]);
    }

    async function ping(ns: TestNetns, target: string): Promise<void> {
      const { stdout } = await run('ip', ['netns', 'exec', ns.name, PING!, '-c', '3', '-i', '0.05', '-W', '2', '-s', '1200', target], { timeout: 15_000 });
      expect(stdout).toMatch(/3 packets transmitted, 3 received/);
    }

    async function neighbour(ns: TestNetns, dev: string, address: string): Promise<string | undefined> {
      const entries = JSON.parse(await ip('-n', ns.name, '-j', 'neigh', 'show', 'dev', dev)) as Array<{ dst: string; lladdr?: string }>;
      return entries.find((e) => e.dst === address)?.lladdr;
    }

    test(`e2e_${setup.name}_arp_ping_v4_both_ways`, async () => {
      await Promise.all([ping(nsA, GUEST4), ping(nsB, HOST4)]);
      // ARP resolved each side to the other's real MAC, through the engine
      expect(await neighbour(nsA, vifName, GUEST4)).toBe(stacks!.guestMac);
      expect(await neighbour(nsB, guestName, HOST4)).toBe(stacks!.hostMac);
    });

    test(`e2e_${setup.name}_nd_ping_v6_both_ways`, async () => {
      await Promise.all([ping(nsA, GUEST6), ping(nsB, HOST6)]);
      expect(await neighbour(nsA, vifName, GUEST6)).toBe(stacks!.guestMac);
      expect(await neighbour(nsB, guestName, HOST6)).toBe(stacks!.hostMac);
    });

    for (const version of [4, 6] as const) {
      if (setup.extras) test(`e2e_${setup.name}_udp_v${version}_fragments_both_ways`, async () => {
        // datagrams up to 64 KiB: IP fragments (no L4 header after the first) cross the engine
        const sizes = [1, 100, 1232, 1472, 1473, 3000, 8000, 30000, 65000];
        const hostAddress = version === 4 ? HOST4 : HOST6;
        const guestAddress = version === 4 ? GUEST4 : GUEST6;
        const procs: NsProcess[] = [];
        try {
          const inB = nsB.node(udpEchoServer(version, guestAddress, 6000 + version));
          const inA = nsA.node(udpEchoServer(version, hostAddress, 6100 + version));
          procs.push(inB, inA);
          await inB.waitFor(/^ready$/);
          await inA.waitFor(/^ready$/);
          const fromA = nsA.node(udpEchoClient(version, guestAddress, 6000 + version, sizes));
          const fromB = nsB.node(udpEchoClient(version, hostAddress, 6100 + version, sizes));
          procs.push(fromA, fromB);
          expect(await fromA.waitFor(/^(done|lost|corrupt|timeout)/, 35_000)).toBe(`done ${sizes.length}`);
          expect(await fromB.waitFor(/^(done|lost|corrupt|timeout)/, 35_000)).toBe(`done ${sizes.length}`);
          if (process.env.WNB_E2E_DEBUG) console.log(setup.name, version, 'A', await fromA.waitFor(/^retried/), 'B', await fromB.waitFor(/^retried/));
        } finally {
          for (const p of procs) p.kill();
        }
        expect(badChecksums).toEqual([]);
      });

      test(`e2e_${setup.name}_tcp_v${version}_bulk_both_ways`, async () => {
        const hostAddress = version === 4 ? HOST4 : HOST6;
        const guestAddress = version === 4 ? GUEST4 : GUEST6;
        const before = counters();
        const tapBefore = { ...guestTap.stats };
        const port = 5000 + version * 10;
        const procs: NsProcess[] = [];
        try {
          // host → guest: a server in B reads, a client in A sends; guest → host the other way round
          const inB = nsB.node(tcpScript('listen', 'recv', guestAddress, port, setup.bytes));
          const inA = nsA.node(tcpScript('listen', 'recv', hostAddress, port + 1, setup.bytes));
          procs.push(inB, inA);
          await inB.waitFor(/^ready$/);
          await inA.waitFor(/^ready$/);
          const fromA = nsA.node(tcpScript('connect', 'send', guestAddress, port, setup.bytes));
          const fromB = nsB.node(tcpScript('connect', 'send', hostAddress, port + 1, setup.bytes));
          procs.push(fromA, fromB);
          const [sentA, sentB] = [await fromA.waitFor(/^(sent|error|timeout)/), await fromB.waitFor(/^(sent|error|timeout)/)];
          expect(sentA).toMatch(new RegExp(`^sent ${setup.bytes} `));
          expect(sentB).toMatch(new RegExp(`^sent ${setup.bytes} `));
          const gotB = await inB.waitFor(/^(got|error|timeout)/, 45_000);
          const gotA = await inA.waitFor(/^(got|error|timeout)/, 45_000);
          expect(gotB).toBe(sentA.replace(/^sent/, 'got'));
          expect(gotA).toBe(sentB.replace(/^sent/, 'got'));
        } finally {
          for (const p of procs) p.kill();
        }
        const after = counters();
        if (process.env.WNB_E2E_DEBUG) {
          const d: Record<string, number> = {};
          for (const k of Object.keys(after)) if (after[k] !== before[k]) d[k] = after[k]! - (before[k] ?? 0);
          console.log(setup.name, version, JSON.stringify(d), JSON.stringify(guestTap.stats), JSON.stringify(guest.netfront.stats()), JSON.stringify(hostPort.stats),
            'retransmits', await tcpCounter(nsA, 'RetransSegs'), await tcpCounter(nsB, 'RetransSegs'));
        }
        const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
        const tap = guestTap.stats;
        const gso = { fromStack: tap.fromStackGso - tapBefore.fromStackGso, toStack: tap.toStackGso - tapBefore.toStackGso };
        const partial = { fromStack: tap.fromStackPartial - tapBefore.fromStackPartial, toStack: tap.toStackPartial - tapBefore.toStackPartial };
        // a full backlog holds the host TAP back instead of dropping (Linux stops the vif's queue)
        expect(delta('rxBacklogDrops')).toBe(0);
        expect(delta('tx_ring_bytes')).toBeGreaterThan(setup.bytes);
        expect(delta('rx_ring_bytes')).toBeGreaterThan(setup.bytes);
        if (setup.name === 'multiqueue') {
          // two connected queues, each carrying frames (flows hashed both ways), GSO still whole
          const queues = guest.dataPath()!.queues;
          expect(queues).toHaveLength(2);
          for (const queue of queues) expect(queue.counters().rx_ring_packets + queue.counters().tx_ring_packets).toBeGreaterThan(0);
          expect(gso.toStack).toBeGreaterThan(0);
          expect(gso.fromStack).toBeGreaterThan(0);
        }
        if (setup.name === 'jumbo') {
          // 9000-byte frames (no GSO anywhere) take several slots each, both ways
          expect(gso).toEqual({ fromStack: 0, toStack: 0 });
          expect(delta('tx_ring_slots')).toBeGreaterThan(delta('tx_ring_packets'));
          expect(delta('rx_ring_slots')).toBeGreaterThan(delta('rx_ring_packets'));
          expect(delta('rx_ring_bytes') / delta('rx_ring_packets')).toBeGreaterThan(1514);
        } else if (setup.name === 'nov6csum') {
          // IPv4 keeps every offload; IPv6 frames are checksummed (and GSO ones segmented) in Wasm
          if (version === 4) expect(gso.toStack).toBeGreaterThan(0);
          else expect(delta('rxSoftwareSegments')).toBeGreaterThan(0);
          if (version === 6) expect(delta('rx_sw_csum')).toBeGreaterThan(0);
        } else if (setup.name === 'nosg') {
          // a frontend without SG gets one slot per frame: host GSO is segmented for it
          expect(delta('rx_ring_slots')).toBe(delta('rx_ring_packets'));
          expect(delta('rxSoftwareSegments')).toBeGreaterThan(0);
        } else if (setup.name === 'offload') {
          // GSO crossed the engine as GSO both ways: more bytes per ring packet than any MTU frame holds
          expect(gso.fromStack).toBeGreaterThan(0);
          expect(gso.toStack).toBeGreaterThan(0);
          expect(delta('tx_ring_bytes') / delta('tx_ring_packets')).toBeGreaterThan(1514);
          expect(delta('rx_ring_bytes') / delta('rx_ring_packets')).toBeGreaterThan(1514);
          expect(delta('txSoftwareSegments')).toBe(0);
          expect(delta('rxSoftwareSegments')).toBe(0);
        } else if (setup.name === 'nooffload') {
          // the guest's kernel got complete, MSS-sized frames only: Wasm segmented and checksummed
          expect(gso).toEqual({ fromStack: 0, toStack: 0 });
          expect(partial).toEqual({ fromStack: 0, toStack: 0 });
          expect(delta('rxSoftwareSegments')).toBeGreaterThan(0);
          expect(delta('rx_sw_csum')).toBeGreaterThan(0);
        } else if (setup.name === 'plaintap') {
          // the host TAP takes no offload: guest GSO is segmented and checksums completed in Wasm
          expect(gso.fromStack).toBeGreaterThan(0);
          expect(delta('txSoftwareSegments')).toBeGreaterThan(0);
          expect(delta('tx_sw_csum')).toBeGreaterThan(0);
        }
        expect(hostPort.stats.txDropped).toBe(0); // the host kernel took every frame the engine wrote
        expect(badChecksums).toEqual([]);
        // neither kernel saw a segment with a bad checksum (frames given to them as complete included)
        expect(await tcpCounter(nsA, 'InCsumErrors')).toBe(0);
        expect(await tcpCounter(nsB, 'InCsumErrors')).toBe(0);
        expect(guestTap.stats.toStackDropped, guestTap.lastWriteError).toBe(0);
        expect(guestTap.stats.unparsed).toBe(0); // every checksum-partial frame for the guest was TCP/UDP over IP
      });
    }

    if (setup.extras) test(`e2e_${setup.name}_tcp_small_mss_both_ways`, async () => {
      // both ends advertise a small MSS: a 64 KiB GSO frame holds hundreds of segments, more than
      // a ring's 256 slots, wherever the engine has to segment it
      const route = (ns: TestNetns, dev: string, ...extra: string[]): Promise<string> => ip('-n', ns.name, 'route', 'replace', '198.18.0.0/24', 'dev', dev, ...extra);
      await route(nsA, vifName, 'advmss', '120');
      await route(nsB, guestName, 'advmss', '120');
      const before = counters();
      const procs: NsProcess[] = [];
      try {
        const inB = nsB.node(tcpScript('listen', 'recv', GUEST4, 5100, 2 * MIB));
        const inA = nsA.node(tcpScript('listen', 'recv', HOST4, 5101, 2 * MIB));
        procs.push(inB, inA);
        await inB.waitFor(/^ready$/);
        await inA.waitFor(/^ready$/);
        const fromA = nsA.node(tcpScript('connect', 'send', GUEST4, 5100, 2 * MIB));
        const fromB = nsB.node(tcpScript('connect', 'send', HOST4, 5101, 2 * MIB));
        procs.push(fromA, fromB);
        const sentA = await fromA.waitFor(/^(sent|error|timeout)/);
        const sentB = await fromB.waitFor(/^(sent|error|timeout)/);
        expect(await inB.waitFor(/^(got|error|timeout)/, 45_000)).toBe(sentA.replace(/^sent/, 'got'));
        expect(await inA.waitFor(/^(got|error|timeout)/, 45_000)).toBe(sentB.replace(/^sent/, 'got'));
      } finally {
        for (const p of procs) p.kill();
        await route(nsA, vifName);
        await route(nsB, guestName);
      }
      const after = counters();
      const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
      if (process.env.WNB_E2E_DEBUG) {
        console.log('smallmss', setup.name, delta('rxOffloadDrops'), delta('rxSoftwareSegments'), delta('txSoftwareSegments'),
          'retrans', await tcpCounter(nsA, 'RetransSegs'), await tcpCounter(nsB, 'RetransSegs'));
      }
      expect(delta('rxOffloadDrops')).toBe(0);
      expect(delta('txSinkDrops')).toBe(0);
      expect(delta('rxBacklogDrops')).toBe(0);
      expect(badChecksums).toEqual([]);
    });

    if (setup.name === 'offload' || setup.name === 'nooffload') {
      test(`e2e_${setup.name}_shutdown_under_load`, async () => {
        // the guest goes away in the middle of transfers both ways: everything is released,
        // nothing throws from a late TAP readiness, grant copy or event
        const procs: NsProcess[] = [];
        try {
          const inB = nsB.node(tcpScript('listen', 'recv', GUEST4, 5200, 64 * MIB));
          const inA = nsA.node(tcpScript('listen', 'recv', HOST4, 5201, 64 * MIB));
          procs.push(inB, inA);
          await inB.waitFor(/^ready$/);
          await inA.waitFor(/^ready$/);
          const before = counters();
          procs.push(nsA.node(tcpScript('connect', 'send', GUEST4, 5200, 64 * MIB)));
          procs.push(nsB.node(tcpScript('connect', 'send', HOST4, 5201, 64 * MIB)));
          for (let i = 0; i < 200; i++) {
            const now = counters();
            if (now.rx_ring_bytes! - before.rx_ring_bytes! > 2 * MIB && now.tx_ring_bytes! - before.tx_ring_bytes! > 2 * MIB) break;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          await stacks!.closeHost();
          const { grants, channels, backendDomid } = stacks!.host;
          expect(grants.mappedPages()).toBe(0);
          expect(channels.openPorts(backendDomid)).toBe(0);
          // the vif's TAP is gone from namespace A; the guest side still stands until afterAll
          expect(await linkJson(vifName, nsA.name)).toBeUndefined();
          await new Promise((resolve) => setTimeout(resolve, 100)); // late readiness / timers find nothing to do
        } finally {
          for (const p of procs) p.kill();
        }
      });
    }
  });
}
