// The control socket end to end: `sim --control-socket` runs as a real child process and
// `wasm-netback list|stats` (dist/src/cli/main.js) read it, as an operator would against the
// daemon. Also what the socket must withstand: hostile clients, a stale socket file, a second
// instance, and who may connect.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatList, formatStats, queryControl } from '../../src/cli/control.js';
import {
  ControlRequestError, listView, MAX_REQUEST_BYTES, parseRequest, statsView, type ListAnswer, type StatsAnswer,
} from '../../src/cli/control-protocol.js';
import type { HostSnapshot } from '../../src/viz/snapshot.js';
import { waitUntil } from '../support/wait.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

interface Failure { code: number; stdout: string; stderr: string }
async function cliFails(args: string[], options: { uid?: number; env?: NodeJS.ProcessEnv; cli?: string } = {}): Promise<Failure> {
  const { cli = bin, ...spawnOptions } = options;
  const outcome = await run(process.execPath, [cli, ...args], { timeout: 30_000, ...spawnOptions }).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: Failure) => error,
  );
  expect(outcome.code, `${args.join(' ')} should fail: ${outcome.stdout}`).not.toBe(0);
  return outcome;
}

async function cliJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run(process.execPath, [bin, ...args, '--json'], { timeout: 30_000 });
  return JSON.parse(stdout) as T;
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbctl-'));
  dirs.push(dir);
  return dir;
}

/**
 * The built CLI copied where any user can read it, for running it as another user: the checkout
 * itself may sit in a directory only root can enter (a `mktemp -d` clone).
 */
function cliReadableByAnyone(): string {
  const root = tempDir();
  chmodSync(root, 0o755);
  const checkout = new URL('../../', import.meta.url).pathname;
  cpSync(join(checkout, 'dist'), join(root, 'dist'), { recursive: true });
  cpSync(join(checkout, 'package.json'), join(root, 'package.json'));
  cpSync(realpathSync(join(checkout, 'node_modules', 'commander')), join(root, 'node_modules', 'commander'), { recursive: true, dereference: true });
  return join(root, 'dist', 'src', 'cli', 'main.js');
}

interface SimProcess { child: ChildProcess; exited: Promise<number>; output: () => string }
function startSim(socket: string, extra: string[] = []): SimProcess {
  const child = spawn(process.execPath, [bin, 'sim', '--json', '--no-viz', '--control-socket', socket, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? -1 : 128))));
  return { child, exited, output: () => output };
}

/** A wait that failed says what the sim printed so far. */
function withSimOutput(sim: SimProcess, wait: Promise<void>): Promise<void> {
  return wait.catch((error: Error) => { throw new Error(`${error.message}: ${sim.output()}`); });
}

/** Until every vif is Connected (the sim's guests need a moment to negotiate). */
async function waitConnected(socket: string, vifs: number, sim: SimProcess): Promise<void> {
  await withSimOutput(sim, waitUntil(`the sim to answer with ${vifs} connected vifs`, async () => {
    const reply = await queryControl(socket, 'list', 2000).catch(() => undefined);
    return reply?.ok === true && reply.verb === 'list' && reply.data.vifs.length === vifs && reply.data.vifs.every((v) => v.state === 'Connected');
  }, 30_000, 200));
}

/** The sim's guests ping 10 times a second: a run this long has had ten chances to see an answer. */
const PING_ROUNDS_MS = 1000;

/**
 * Until `frames` frames crossed every vif both ways and the guests had time to ping: a sim stopped
 * before its guests' traffic crossed, or before any ping was answered, exits 70. Bulk alone crosses
 * 20 frames in about 0.1 s here, before the first ping is sent (seen failing 1 run in 2).
 */
async function waitTraffic(socket: string, sim: SimProcess, frames = 20): Promise<void> {
  const firstAt = Date.now();
  await withSimOutput(sim, waitUntil(`the sim's vifs to carry ${frames} frames each way`, async () => {
    const reply = await queryControl(socket, 'stats', 2000).catch(() => undefined);
    return reply?.ok === true && reply.verb === 'stats' && reply.data.vifs.length > 0 && Date.now() - firstAt >= PING_ROUNDS_MS
      && reply.data.vifs.every((v) => (v.counters.tx_ring_packets ?? 0) >= frames && (v.counters.rx_ring_packets ?? 0) >= frames);
  }, 30_000, 200));
}

/** Writes `bytes` on a raw connection, then collects what the server sends until it closes. */
function rawExchange(socket: string, bytes: Buffer | string, options: { halfClose?: boolean } = {}): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const connection = connect(socket);
    let text = '';
    connection.on('connect', () => {
      if (bytes.length > 0) connection.write(bytes);
      if (options.halfClose === true) connection.end();
    });
    connection.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
    // the server may close while a large write is still in flight: that is a refusal too
    connection.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error); });
    connection.on('close', () => resolve({ text, ms: Date.now() - started }));
  });
}

function errorCode(text: string): string | undefined {
  if (text === '') return undefined;
  return (JSON.parse(text) as { ok: boolean; error?: { code: string } }).error?.code;
}

afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });

describe('control protocol', () => {
  it('control_parse_request_matrix', () => {
    expect(parseRequest('list')).toBe('list');
    expect(parseRequest('stats\r')).toBe('stats');
    expect(parseRequest('  stats ')).toBe('stats');
    for (const [line, code] of [
      ['', 'NETBACK_CONTROL_UNKNOWN_VERB'], ['LIST', 'NETBACK_CONTROL_UNKNOWN_VERB'], ['list vif1.0', 'NETBACK_CONTROL_UNKNOWN_VERB'],
      ['set mtu 9000', 'NETBACK_CONTROL_UNKNOWN_VERB'], ['list\0', 'NETBACK_CONTROL_BAD_REQUEST'], ['\xff\xfe', 'NETBACK_CONTROL_BAD_REQUEST'],
    ] as const) {
      expect(() => parseRequest(line), JSON.stringify(line)).toThrow(ControlRequestError);
      try { parseRequest(line); } catch (error) { expect((error as ControlRequestError).code).toBe(code); }
    }
  });

  const snapshot: HostSnapshot = {
    version: 1, time: 5,
    vifs: [{
      name: 'vif3.1', domid: 3, devid: 1, state: 'Connected', features: { sg: true, gsoTcpv4: true, gsoTcpv6: false }, carrier: true, disabled: null,
      counters: { tx_ring_packets: 7, rxCarrierDrops: 1 },
      queues: [
        { name: 'vif3.1-q0', counters: { tx_ring_packets: 3 } },
        { name: 'vif3.1-q1', counters: { tx_ring_packets: 4 } },
      ] as HostSnapshot['vifs'][number]['queues'],
    }],
  };

  it('control_views_and_tables', () => {
    const list = listView(snapshot);
    expect(list.vifs).toEqual([{ name: 'vif3.1', domid: 3, devid: 1, state: 'Connected', queues: 2, features: ['gsoTcpv4', 'sg'], carrier: true, disabled: null }]);
    expect(formatList(list).split('\n')).toEqual([
      'VIF     DOMID  DEVID  STATE      QUEUES  CARRIER  FEATURES',
      'vif3.1      3      1  Connected       2  on       gsoTcpv4,sg',
    ]);
    const stats = statsView(snapshot);
    expect(stats.vifs[0]!.queues.map((q) => q.counters.tx_ring_packets)).toEqual([3, 4]);
    expect(formatStats(stats).split('\n')).toEqual([
      'vif3.1 (domid 3, devid 1)',
      '  counter          total  vif3.1-q0  vif3.1-q1',
      '  tx_ring_packets      7          3          4',
      '  rxCarrierDrops       1          -          -',
    ]);
    expect(formatList({ time: 0, vifs: [] })).toBe('no vifs');
  });
});

describe('wasm-netback list / stats against a running sim', () => {
  let dir: string;
  let socket: string;
  let sim: SimProcess;

  beforeAll(async () => {
    dir = tempDir();
    mkdirSync(join(dir, 'run'), { mode: 0o700 }); // a directory other than the default must exist
    socket = join(dir, 'run', 'control.sock');
    sim = startSim(socket, ['--seconds', '120', '--queues', '2']);
    await waitConnected(socket, 2, sim);
  }, 60_000);

  afterAll(async () => {
    if (sim.child.exitCode === null) {
      sim.child.kill('SIGINT');
      await sim.exited;
    }
  });

  it('control_socket_and_directory_are_owner_only', () => {
    const socketInfo = statSync(socket);
    expect(socketInfo.isSocket()).toBe(true);
    expect(socketInfo.mode & 0o777).toBe(0o600);
    expect(socketInfo.uid).toBe(process.geteuid!());
  });

  it('control_list_table_and_json', async () => {
    const { stdout } = await run(process.execPath, [bin, 'list', '--control-socket', socket]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^VIF\s+DOMID\s+DEVID\s+STATE\s+QUEUES\s+CARRIER\s+FEATURES$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 6))).toEqual([
      ['vif1.0', '1', '0', 'Connected', '2', 'on'], ['vif2.0', '2', '0', 'Connected', '2', 'on'],
    ]);
    const list = await cliJson<ListAnswer>(['list', '--control-socket', socket]);
    expect(list.vifs.map((v) => [v.name, v.domid, v.devid, v.state, v.queues, v.carrier, v.disabled])).toEqual([
      ['vif1.0', 1, 0, 'Connected', 2, true, null], ['vif2.0', 2, 0, 'Connected', 2, true, null],
    ]);
    for (const vif of list.vifs) expect(vif.features).toEqual(expect.arrayContaining(['sg', 'gsoTcpv4', 'gsoTcpv6', 'rxCopy']));
  });

  it('control_list_reads_the_environment_variable', async () => {
    const { stdout } = await run(process.execPath, [bin, 'list', '--json'], { env: { ...process.env, NETBACK_CONTROL_SOCKET: socket } });
    expect((JSON.parse(stdout) as ListAnswer).vifs).toHaveLength(2);
  });

  it('control_stats_counters_per_queue_and_increasing', async () => {
    const first = await cliJson<StatsAnswer>(['stats', '--control-socket', socket]);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const second = await cliJson<StatsAnswer>(['stats', '--control-socket', socket]);
    expect(second.time).toBeGreaterThan(first.time);
    for (const [i, vif] of second.vifs.entries()) {
      expect(vif.queues.map((q) => q.name)).toEqual([`${vif.name}-q0`, `${vif.name}-q1`]);
      for (const counter of ['tx_ring_packets', 'tx_ring_bytes', 'rx_ring_packets', 'rx_ring_bytes']) {
        expect(vif.counters[counter], `${vif.name} ${counter}`).toBeGreaterThan(first.vifs[i]!.counters[counter]!);
        // one snapshot: the vif's figure is the sum of its queues'
        expect(vif.counters[counter]).toBe(vif.queues.reduce((sum, q) => sum + q.counters[counter]!, 0));
      }
      expect(vif.counters.tx_fatal).toBe(0);
    }
    const { stdout } = await run(process.execPath, [bin, 'stats', '--control-socket', socket]);
    expect(stdout).toMatch(/^vif1\.0 \(domid 1, devid 0\)\n\s+counter\s+total\s+vif1\.0-q0\s+vif1\.0-q1\n/);
    expect(stdout).toMatch(/^\s+tx_ring_packets\s+[1-9][0-9]*\s+[0-9]+\s+[0-9]+$/m);
    expect(stdout).toContain('vif2.0 (domid 2, devid 0)');
  });

  it('control_hostile_clients_get_typed_refusals_and_the_server_answers_after', async () => {
    const before = await queryControl(socket, 'list');
    const cases: [string, Buffer | string, string | undefined, { halfClose?: boolean }][] = [
      ['unknown verb', 'set-mtu vif1.0 9000\n', 'NETBACK_CONTROL_UNKNOWN_VERB', {}],
      ['binary garbage', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x0a]), 'NETBACK_CONTROL_BAD_REQUEST', {}],
      ['line of MAX bytes', `${'a'.repeat(MAX_REQUEST_BYTES)}\n`, 'NETBACK_CONTROL_REQUEST_TOO_LONG', {}],
      ['1 MiB without newline', Buffer.alloc(1 << 20, 0x41), 'NETBACK_CONTROL_REQUEST_TOO_LONG', {}],
      ['verb then half-close, no newline', 'bogus', 'NETBACK_CONTROL_UNKNOWN_VERB', { halfClose: true }],
      ['two requests in one line burst', 'list\nstats\n', undefined, {}],
    ];
    for (const [name, bytes, code, options] of cases) {
      const { text } = await rawExchange(socket, bytes, options);
      if (code === undefined) {
        // only the first line is read; exactly one answer comes back
        expect(text.trim().split('\n'), name).toHaveLength(1);
        expect(JSON.parse(text), name).toMatchObject({ ok: true, verb: 'list' });
      } else {
        expect(errorCode(text), `${name}: ${text}`).toBe(code);
      }
    }
    // a client that never finishes its line is answered with a timeout and closed (10 s)
    const slow = await rawExchange(socket, 'lis');
    expect(errorCode(slow.text)).toBe('NETBACK_CONTROL_TIMEOUT');
    expect(slow.ms).toBeGreaterThanOrEqual(9900);
    expect(slow.ms).toBeLessThan(14_000);
    // a flood of idle connections beyond the limit is closed or timed out, never fatal
    const flood = await Promise.all(Array.from({ length: 40 }, () => rawExchange(socket, '')));
    for (const { text } of flood) expect([undefined, 'NETBACK_CONTROL_TIMEOUT']).toContain(errorCode(text));
    expect(flood.filter((f) => errorCode(f.text) === 'NETBACK_CONTROL_TIMEOUT').length).toBeGreaterThan(0);

    // still alive, and nothing changed
    expect(sim.child.exitCode).toBeNull();
    const after = await cliJson<ListAnswer>(['list', '--control-socket', socket]);
    expect(before.ok && before.verb === 'list' && before.data.vifs.map((v) => [v.name, v.state, v.queues, v.features])).toEqual(
      after.vifs.map((v) => [v.name, v.state, v.queues, v.features]));
  }, 60_000);

  it('control_client_bad_option_exits_64', async () => {
    expect((await cliFails(['list', '--control-socket', socket, '--bogus'])).code).toBe(64);
  });

  it('control_second_instance_refuses_a_live_socket_73', async () => {
    const second = startSim(socket, ['--seconds', '30']);
    expect(await second.exited).toBe(73);
    expect(second.output()).toMatch(/another wasm-netback is serving the control socket/);
    // the first instance's socket is untouched
    expect(statSync(socket).isSocket()).toBe(true);
    expect((await cliJson<ListAnswer>(['list', '--control-socket', socket])).vifs).toHaveLength(2);
  });

  it('control_refuses_non_root_clients_77', async () => {
    if (process.geteuid?.() !== 0) return; // the check needs a second user: root runs the client as nobody
    const failure = await cliFails(['list', '--control-socket', socket], { uid: 65534, cli: cliReadableByAnyone() });
    expect(failure.code).toBe(77);
    expect(failure.stderr).toContain(`no permission to connect to ${socket}`);
  });

  it('control_socket_removed_on_clean_exit', async () => {
    sim.child.kill('SIGINT');
    expect(await sim.exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    const failure = await cliFails(['list', '--control-socket', socket]);
    expect(failure.code).toBe(69);
    expect(failure.stderr).toContain(`no daemon listening at ${socket}`);
  });
});

describe('control socket start and client errors', () => {
  it('control_no_socket_exits_69_naming_the_path', async () => {
    const socket = join(tempDir(), 'absent.sock');
    const failure = await cliFails(['stats', '--control-socket', socket]);
    expect(failure.code).toBe(69);
    expect(failure.stderr).toContain(`no daemon listening at ${socket}`);
    expect(failure.stdout).toBe('');
  });

  it('control_answer_that_is_not_the_protocol_exits_76', async () => {
    const socket = join(tempDir(), 'impostor.sock');
    const connections = new Set<Socket>();
    const impostor = createServer((connection) => {
      connections.add(connection);
      connection.on('error', () => connection.destroy());
      connection.once('data', () => connection.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    });
    await new Promise<void>((resolve) => impostor.listen(socket, resolve));
    try {
      const failure = await cliFails(['list', '--control-socket', socket]);
      expect(failure.code).toBe(76);
      expect(failure.stderr).toContain('is not JSON');
    } finally {
      for (const connection of connections) connection.destroy();
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  it('control_stale_socket_is_reported_then_replaced_at_start', async () => {
    const dir = tempDir();
    const socket = join(dir, 'control.sock');
    // what a SIGKILLed daemon leaves: a bound socket file nobody listens on
    await run('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socket]);
    expect(statSync(socket).isSocket()).toBe(true);
    const failure = await cliFails(['list', '--control-socket', socket]);
    expect(failure.code).toBe(69);
    expect(failure.stderr).toContain(`no daemon listening at ${socket} (a stale socket`);
    const sim = startSim(socket, ['--seconds', '30']);
    try {
      await waitConnected(socket, 2, sim);
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      await waitTraffic(socket, sim); // so the SIGINT below ends a run whose summary is ok (exit 0)
    } finally {
      sim.child.kill('SIGINT');
      expect(await sim.exited, sim.output()).toBe(0);
    }
  });

  it('control_refuses_to_replace_a_file_that_is_not_a_socket_73', async () => {
    const socket = join(tempDir(), 'control.sock');
    writeFileSync(socket, 'not a socket\n');
    const sim = startSim(socket, ['--seconds', '30']);
    expect(await sim.exited).toBe(73);
    expect(sim.output()).toContain('exists and is not a socket');
    expect(readFileSync(socket, 'utf8')).toBe('not a socket\n');
  });

  it('control_refuses_a_directory_others_can_write_73', async () => {
    const shared = join(tempDir(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const sim = startSim(join(shared, 'control.sock'), ['--seconds', '30']);
    expect(await sim.exited).toBe(73);
    expect(sim.output()).toContain('writable by no one else');
    expect(existsSync(join(shared, 'control.sock'))).toBe(false);
  });

  it('control_missing_directory_is_not_created_73', async () => {
    const base = tempDir();
    const socket = join(base, 'nonexistent', 'dir', 'control.sock');
    const sim = startSim(socket, ['--seconds', '30']);
    expect(await sim.exited).toBe(73);
    expect(sim.output()).toContain(`control socket directory ${join(base, 'nonexistent', 'dir')} does not exist`);
    expect(existsSync(join(base, 'nonexistent'))).toBe(false);
  });

  it.skipIf(process.geteuid?.() !== 0)('control_default_directory_is_created_0700', async () => {
    // the one directory the server creates, /run/wasm-netback, on a tmpfs /run of a private mount
    // namespace (this machine's own /run is left alone); the sim reports its mode from inside
    const script = [
      'set -e', 'mount -t tmpfs -o mode=755 wnb-run /run',
      `"$0" "$1" sim --json --no-viz --seconds 1 --control-socket /run/wasm-netback/control.sock >/dev/null &`,
      'pid=$!', 'for i in $(seq 100); do [ -S /run/wasm-netback/control.sock ] && break; sleep 0.1; done',
      'stat -c "%a %U %F" /run/wasm-netback', 'wait $pid',
    ].join('\n');
    const { stdout } = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, bin], { timeout: 60_000 });
    expect(stdout.trim()).toBe('700 root directory');
  }, 60_000);

  it('control_socket_path_none_and_too_long', async () => {
    expect((await cliFails(['list', '--control-socket', 'none'])).code).toBe(64);
    const long = join(tempDir(), 'x'.repeat(120));
    const sim = startSim(long, ['--seconds', '30']);
    expect(await sim.exited).toBe(73);
    expect(sim.output()).toContain('longer than 107 bytes');
  });
});
