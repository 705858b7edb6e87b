// The control socket of a running `daemon` (or `sim`): a Unix stream socket that answers `list`
// and `stats` (control-protocol.ts) for `wasm-netback list|stats`. Read-only — every verb is a
// view of snapshotHost() — and owner-only: the socket is created 0600 inside a directory that is
// not writable by anyone else: the default one, /run/wasm-netback, is created 0700 when missing
// (systemd's RuntimeDirectory= makes it so under the unit); any other must exist already.
//
// A client gets one answer and the connection closes. Whatever it sends — a line without a
// newline, more than MAX_REQUEST_BYTES, binary bytes, nothing at all — ends in a typed error
// answer or a closed connection, never in an exception in the daemon.
//
// The socket file doubles as the single-instance guard: at start a leftover socket that nothing
// answers on (a killed daemon's) is removed, one that answers means another instance is serving
// and this one refuses to start.

import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { silentLogger, type Logger } from '../log.js';
import type { HostSnapshot } from '../viz/snapshot.js';
import {
  answer, CONTROL_ERROR, ControlRequestError, DEFAULT_CONTROL_SOCKET, errorAnswer, MAX_REQUEST_BYTES, MAX_SOCKET_PATH_BYTES, parseRequest,
  type ControlAnswer,
} from './control-protocol.js';
import { CliError, EX_CANTCREAT } from './exit.js';

export interface ControlServerOptions {
  path: string;
  snapshot: () => HostSnapshot;
  /** How long a client may take to send its request line (default 10000 ms). */
  requestTimeoutMs?: number;
  log?: Logger;
}

export interface ControlServer {
  /** The absolute path of the socket. */
  readonly path: string;
  /** Stops answering, drops open connections and removes the socket file (once; later calls wait for the first). */
  close(): Promise<void>;
}

/** The control socket could not be set up; the daemon does not start (EX_CANTCREAT). */
export class ControlSocketError extends CliError {
  constructor(code: string, message: string) {
    super(code, message, EX_CANTCREAT);
  }
}

// Generous: in the Xen test bed (dom0 under TCG on a loaded 2-core host) a `stats` client's line
// arrived more than 2 s after its connect. It only bounds a client that connects and says nothing.
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The one directory the server creates (systemd's RuntimeDirectory= makes it under the unit). */
const DEFAULT_CONTROL_DIRECTORY = dirname(DEFAULT_CONTROL_SOCKET);
/** Time a client gets to read its answer before the connection is dropped. */
const ANSWER_LINGER_MS = 5000;
/** A local root process could open connections in a loop; past this many they are refused. */
const MAX_CONNECTIONS = 32;
const PROBE_TIMEOUT_MS = 1000;

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const path = resolve(options.path);
  const log = options.log ?? silentLogger;
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketError('NETBACK_CONTROL_PATH_TOO_LONG', `control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (sun_path)`);
  }
  prepareDirectory(dirname(path));
  await removeStaleSocket(path, log);

  const connections = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket, options.snapshot, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, log);
  });
  server.maxConnections = MAX_CONNECTIONS;
  await listenOwnerOnly(server, path);
  const identity = lstatSync(path);

  let closing: Promise<void> | undefined;
  const close = async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((done) => server.close(() => done()));
    // libuv unlinks the socket it bound on close; this covers a runtime that does not, without
    // removing a socket another instance may have bound at the same path since
    const now = statOrUndefined(path);
    if (now !== undefined && now.ino === identity.ino && now.dev === identity.dev) unlinkSync(path);
  };
  return { path, close: () => (closing ??= close()) };
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Creates the default runtime directory (/run/wasm-netback) 0700 when missing, and only that one:
 * any other directory must exist already, so a mistyped --control-socket does not leave
 * directories behind, made by root. An existing one is used as it is (it may be /run itself), but
 * only if nobody else could write to it: whoever can write there can swap the socket for their own.
 */
function prepareDirectory(dir: string): void {
  if (dir === DEFAULT_CONTROL_DIRECTORY) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ControlSocketError('NETBACK_CONTROL_DIR', `cannot create the control socket directory ${dir}: ${(error as Error).message}`);
      }
    }
  }
  let info: Stats;
  try {
    info = statSync(dir);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist (only the default, ' + DEFAULT_CONTROL_DIRECTORY + ', is created)' : (error as Error).message;
    throw new ControlSocketError('NETBACK_CONTROL_DIR_MISSING', `control socket directory ${dir} ${reason}`);
  }
  const uid = process.geteuid?.() ?? 0;
  if (!info.isDirectory() || (info.uid !== uid && info.uid !== 0) || (info.mode & 0o022) !== 0) {
    throw new ControlSocketError('NETBACK_CONTROL_UNSAFE_DIR',
      `control socket directory ${dir} must be a directory owned by this user or root and writable by no one else (mode ${(info.mode & 0o777).toString(8)}, uid ${info.uid}); use a private directory such as ${DEFAULT_CONTROL_DIRECTORY}`);
  }
}

/** Leaves the path free, or throws when something that must be kept is there. */
async function removeStaleSocket(path: string, log: Logger): Promise<void> {
  const existing = statOrUndefined(path);
  if (existing === undefined) return;
  if (!existing.isSocket()) {
    throw new ControlSocketError('NETBACK_CONTROL_NOT_A_SOCKET', `${path} exists and is not a socket; not removing it`);
  }
  const state = await probe(path);
  if (state === 'answers') {
    throw new ControlSocketError('NETBACK_CONTROL_IN_USE', `another wasm-netback is serving the control socket ${path}; stop it first (or pass --control-socket elsewhere)`);
  }
  if (state === 'refused') {
    log('info', `removing the stale control socket ${path} (nothing listens on it)`, { event: 'control-stale' });
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ControlSocketError('NETBACK_CONTROL_STALE', `cannot remove the stale control socket ${path}: ${(error as Error).message}`);
    }
  }
}

/** Whether a listener accepts connections at path: 'refused' only when the kernel says none is bound. */
function probe(path: string): Promise<'answers' | 'refused' | 'gone'> {
  return new Promise((done) => {
    const socket = connect(path);
    const timer = setTimeout(() => { socket.destroy(); done('answers'); }, PROBE_TIMEOUT_MS);
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); done('answers'); });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // EAGAIN: a listener whose backlog is full is alive; anything unknown is not ours to delete
      done(error.code === 'ECONNREFUSED' ? 'refused' : error.code === 'ENOENT' ? 'gone' : 'answers');
    });
  });
}

/**
 * Binds with umask 0177 so the socket is 0600 from its first moment (bind(2) honours the umask),
 * then chmods it anyway in case a runtime binds later than listen() returns.
 */
async function listenOwnerOnly(server: Server, path: string): Promise<void> {
  await new Promise<void>((done, fail) => {
    const onError = (error: NodeJS.ErrnoException) => {
      fail(new ControlSocketError(error.code === 'EADDRINUSE' ? 'NETBACK_CONTROL_IN_USE' : 'NETBACK_CONTROL_LISTEN', `cannot listen on ${path}: ${error.message}`));
    };
    server.once('error', onError);
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => { server.off('error', onError); done(); });
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(path, 0o600);
}

function serveConnection(socket: Socket, snapshot: () => HostSnapshot, timeoutMs: number, log: Logger): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let answered = false;
  // a peer that resets or vanishes only ends its own connection
  socket.on('error', () => socket.destroy());

  const reply = (message: ControlAnswer) => {
    if (answered) return;
    answered = true;
    clearTimeout(deadline);
    socket.end(`${JSON.stringify(message)}\n`);
    // a client that never reads its answer does not keep the connection
    setTimeout(() => socket.destroy(), ANSWER_LINGER_MS).unref();
  };
  const refuse = (code: string, message: string) => reply(errorAnswer(code, message));
  const handle = (line: string) => {
    try {
      reply(answer(parseRequest(line), snapshot));
    } catch (error) {
      if (error instanceof ControlRequestError) {
        refuse(error.code, error.message);
      } else {
        log('warn', `control socket: answering failed: ${(error as Error).message}`, { event: 'control-error' });
        refuse(CONTROL_ERROR.internal, 'the snapshot could not be taken');
      }
    }
  };

  const deadline = setTimeout(() => refuse(CONTROL_ERROR.timeout, `no request line within ${timeoutMs} ms`), timeoutMs);
  deadline.unref();
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    const newline = chunk.indexOf(0x0a);
    const take = newline < 0 ? chunk : chunk.subarray(0, newline);
    received += take.length;
    if (received >= MAX_REQUEST_BYTES) {
      refuse(CONTROL_ERROR.tooLong, `the request line is longer than ${MAX_REQUEST_BYTES - 1} bytes`);
      return;
    }
    chunks.push(take);
    if (newline >= 0) handle(Buffer.concat(chunks).toString('latin1'));
  });
  // a client that half-closes after its verb (printf list | socat) has sent its whole request
  socket.on('end', () => {
    if (!answered) handle(Buffer.concat(chunks).toString('latin1'));
  });
}
