// `wasm-netback list` and `wasm-netback stats`: ask a running daemon (or `sim --control-socket`)
// over its control socket (control-server.ts) and print the answer as a table, or as JSON with
// --json. The socket is root-only, so these run as root like the daemon.
//
// Exit codes (sysexits.h): 0 answered; 64 bad option; 69 no daemon listening (no socket, or a
// stale one) or no answer in time; 76 the daemon refused the request or answered something that
// is not the protocol; 77 no permission to connect (not root).

import { connect } from 'node:net';
import type { Command } from 'commander';
import {
  CONTROL_SOCKET_OFF, DEFAULT_CONTROL_SOCKET, type ControlAnswer, type ControlVerb, type ListAnswer, type StatsAnswer,
} from './control-protocol.js';
import { CliError, EX_NOPERM, EX_PROTOCOL, EX_UNAVAILABLE, usageError } from './exit.js';

/** An answer bigger than this is not the protocol (a stats answer for 1000 vifs is a few MB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
// longer than the server's wait for a request line (control-server.ts), so its refusal arrives first
const ANSWER_TIMEOUT_MS = 15_000;

export function noDaemonError(path: string, reason: string): CliError {
  return new CliError('NETBACK_CONTROL_NO_DAEMON', `no daemon listening at ${path} (${reason})`, EX_UNAVAILABLE);
}

/** Sends one verb and returns the daemon's answer; every failure is a CliError with its exit code. */
export function queryControl(path: string, verb: ControlVerb, timeoutMs = ANSWER_TIMEOUT_MS): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (error: CliError) => { clearTimeout(timer); socket.destroy(); reject(error); };
    const timer = setTimeout(() => fail(new CliError('NETBACK_CONTROL_NO_ANSWER', `the daemon at ${path} did not answer within ${timeoutMs} ms`, EX_UNAVAILABLE)), timeoutMs);
    socket.once('connect', () => socket.write(`${verb}\n`));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) fail(new CliError('NETBACK_CONTROL_BAD_ANSWER', `the answer from ${path} is larger than ${MAX_ANSWER_BYTES} bytes`, EX_PROTOCOL));
      else chunks.push(chunk);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        reject(new CliError('NETBACK_CONTROL_BAD_ANSWER', `the answer from ${path} is not JSON: ${JSON.stringify(text.slice(0, 80))}`, EX_PROTOCOL));
        return;
      }
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { ok?: unknown }).ok !== 'boolean') {
        reject(new CliError('NETBACK_CONTROL_BAD_ANSWER', `the answer from ${path} is not a control answer`, EX_PROTOCOL));
        return;
      }
      resolve(parsed as ControlAnswer);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      switch (error.code) {
        case 'ENOENT': fail(noDaemonError(path, 'no such socket')); break;
        case 'ECONNREFUSED': fail(noDaemonError(path, 'a stale socket: nothing accepts connections on it')); break;
        case 'ENOTSOCK': fail(noDaemonError(path, 'not a socket')); break;
        case 'EACCES': case 'EPERM': fail(new CliError('NETBACK_CONTROL_DENIED', `no permission to connect to ${path} (the control socket is root-only)`, EX_NOPERM)); break;
        default: fail(new CliError('NETBACK_CONTROL_IO', `talking to ${path}: ${error.message}`, EX_UNAVAILABLE));
      }
    });
  });
}

async function fetchData(path: string, verb: 'list'): Promise<ListAnswer>;
async function fetchData(path: string, verb: 'stats'): Promise<StatsAnswer>;
async function fetchData(path: string, verb: ControlVerb): Promise<ListAnswer | StatsAnswer> {
  const reply = await queryControl(path, verb);
  if (!reply.ok) throw new CliError(reply.error.code, `the daemon refused ${verb}: ${reply.error.message}`, EX_PROTOCOL);
  if (reply.verb !== verb || !Array.isArray((reply.data as { vifs?: unknown } | undefined)?.vifs)) {
    throw new CliError('NETBACK_CONTROL_BAD_ANSWER', `the answer from ${path} does not carry a ${verb} table`, EX_PROTOCOL);
  }
  return reply.data;
}

/** Left-aligned text columns, right-aligned numbers, two spaces between columns. */
function table(rows: string[][], numeric: (column: number) => boolean): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => (numeric(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

export function formatList(list: ListAnswer): string {
  if (list.vifs.length === 0) return 'no vifs';
  const rows = [['VIF', 'DOMID', 'DEVID', 'STATE', 'QUEUES', 'CARRIER', 'FEATURES']];
  for (const vif of list.vifs) {
    rows.push([vif.name, String(vif.domid), String(vif.devid), vif.disabled === null ? vif.state : `${vif.state} (disabled: ${vif.disabled})`,
      String(vif.queues), vif.carrier ? 'on' : 'off', vif.features.join(',') || '-']);
  }
  return table(rows, (c) => c === 1 || c === 2 || c === 4);
}

/** One block per vif: a row per counter, the vif's total then each queue's value. */
export function formatStats(stats: StatsAnswer): string {
  if (stats.vifs.length === 0) return 'no vifs';
  return stats.vifs.map((vif) => {
    const names = [...new Set([...Object.keys(vif.counters), ...vif.queues.flatMap((q) => Object.keys(q.counters))])];
    const rows = [['counter', 'total', ...vif.queues.map((q) => q.name)]];
    for (const name of names) rows.push([name, String(vif.counters[name] ?? 0), ...vif.queues.map((q) => (name in q.counters ? String(q.counters[name]) : '-'))]);
    return `${vif.name} (domid ${vif.domid}, devid ${vif.devid})\n${table(rows, (c) => c > 0).replace(/^/gm, '  ')}`;
  }).join('\n\n');
}

interface ControlCommandOptions { json: boolean; controlSocket?: string }

function socketPath(options: ControlCommandOptions): string {
  const path = options.controlSocket ?? process.env.NETBACK_CONTROL_SOCKET ?? DEFAULT_CONTROL_SOCKET;
  if (path === '' || path === CONTROL_SOCKET_OFF) throw usageError(`--control-socket: list and stats need a socket path, not ${JSON.stringify(path)}`);
  return path;
}

export function registerControl(program: Command): void {
  const socketHelp = `the daemon's control socket (NETBACK_CONTROL_SOCKET; default ${DEFAULT_CONTROL_SOCKET})`;
  program.command('list')
    .description('list the vifs a running daemon serves: state, queues, negotiated features, carrier')
    .option('--json', 'print JSON', false)
    .option('--control-socket <path>', socketHelp)
    .action(async (options: ControlCommandOptions) => {
      const list = await fetchData(socketPath(options), 'list');
      process.stdout.write(`${options.json ? JSON.stringify(list, null, 2) : formatList(list)}\n`);
    });
  program.command('stats')
    .description("a running daemon's counters per vif and per queue (named like the kernel netback's)")
    .option('--json', 'print JSON', false)
    .option('--control-socket <path>', socketHelp)
    .action(async (options: ControlCommandOptions) => {
      const stats = await fetchData(socketPath(options), 'stats');
      process.stdout.write(`${options.json ? JSON.stringify(stats, null, 2) : formatStats(stats)}\n`);
    });
}
