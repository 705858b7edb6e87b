// The XenStore interface over a real xenstored: its unix socket when this domain runs xenstored
// (dom0), else the kernel's /dev/xen/xenbus (a driver domain, or dom0 with a stub xenstored).
// Pure TypeScript: the socket is a node:net connection, the device is read and written with
// node:fs; neither needs the native addon.
//
// Wire format (netif-protocol.md §3.4): a 16-byte little-endian header {type, req_id, tx_id, len}
// then `len` payload bytes. Replies are matched to requests by req_id; WATCH_EVENT messages arrive
// unsolicited, interleaved with replies, and are dispatched by token. Each watch gets a wire token
// of its own (`<n>:<token>`) so two watches that share a caller token never see each other's
// events. A watch fires once right after it is registered: xenstored (and the kernel device, which
// relays its events) sends that event itself, so the handler is installed before the WATCH
// request goes out and nothing is synthesised here.
// see: xen/include/public/io/xs_wire.h; docs/misc/xenstore.txt; linux drivers/xen/xenbus/xenbus_dev_frontend.c

import { closeSync, existsSync, openSync, read as fsRead, write as fsWrite } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { XenStoreError } from '../errors.js';
import type { XenStore, XenStoreErrno, XenStoreTransaction, XenStoreWatch, XenStoreWatchHandler } from '../types.js';

// XS_* message types. see: xs_wire.h enum xsd_sockmsg_type
export const XS = {
  CONTROL: 0, DIRECTORY: 1, READ: 2, GET_PERMS: 3, WATCH: 4, UNWATCH: 5, TRANSACTION_START: 6,
  TRANSACTION_END: 7, INTRODUCE: 8, RELEASE: 9, GET_DOMAIN_PATH: 10, WRITE: 11, MKDIR: 12, RM: 13,
  SET_PERMS: 14, WATCH_EVENT: 15, ERROR: 16, IS_DOMAIN_INTRODUCED: 17, RESUME: 18, SET_TARGET: 19,
  RESET_WATCHES: 21, DIRECTORY_PART: 22,
} as const;

export const XS_HEADER_SIZE = 16;
/** XENSTORE_PAYLOAD_MAX: xenstored drops a connection that sends more. */
export const XS_PAYLOAD_MAX = 4096;
/** The kernel device buffers one message of at most 4096 bytes including its header. */
export const XS_DEVICE_PAYLOAD_MAX = 4096 - XS_HEADER_SIZE;

const KNOWN_ERRNOS: ReadonlySet<string> = new Set<XenStoreErrno>(['ENOENT', 'EACCES', 'EAGAIN', 'EINVAL', 'E2BIG', 'EEXIST', 'EISDIR', 'ENOSPC', 'EIO', 'EBUSY', 'EROFS', 'EQUOTA']);
const DEFAULT_ATTEMPTS = 16;

export const XENSTORED_SOCKETS = ['/var/run/xenstored/socket', '/run/xenstored/socket'] as const;
export const XENBUS_DEVICE = '/dev/xen/xenbus';

/** One message on the wire. */
export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

export function encodeMessage(message: XsMessage): Buffer {
  const out = Buffer.alloc(XS_HEADER_SIZE + message.payload.length);
  out.writeUInt32LE(message.type, 0);
  out.writeUInt32LE(message.reqId >>> 0, 4);
  out.writeUInt32LE(message.txId >>> 0, 8);
  out.writeUInt32LE(message.payload.length, 12);
  message.payload.copy(out, XS_HEADER_SIZE);
  return out;
}

/**
 * Splits a byte stream into messages: bytes may arrive in any chunking (the device hands out as
 * much as the read asked for, splitting messages; a socket coalesces them), so a partial header
 * or payload waits for the next chunk. A header announcing more than the payload limit means the
 * stream is corrupt; `onCorrupt` is called and nothing more is parsed.
 */
export class MessageDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private broken = false;

  constructor(private readonly onMessage: (message: XsMessage) => void, private readonly onCorrupt: (reason: string) => void) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= XS_HEADER_SIZE) {
      const len = this.pending.readUInt32LE(12);
      if (len > XS_PAYLOAD_MAX) {
        this.broken = true;
        this.onCorrupt(`message announces ${len} payload bytes (limit ${XS_PAYLOAD_MAX})`);
        return;
      }
      if (this.pending.length < XS_HEADER_SIZE + len) return;
      const message: XsMessage = {
        type: this.pending.readUInt32LE(0),
        reqId: this.pending.readUInt32LE(4),
        txId: this.pending.readUInt32LE(8),
        payload: Buffer.from(this.pending.subarray(XS_HEADER_SIZE, XS_HEADER_SIZE + len)),
      };
      this.pending = this.pending.subarray(XS_HEADER_SIZE + len);
      this.onMessage(message);
    }
  }
}

/** A byte pipe to xenstored: the socket, the kernel device, or a test's fake. */
export interface XsTransport {
  /** The payload limit of this transport (4096 on the socket, 4080 through the device). */
  readonly payloadMax: number;
  /** Sends one whole message (a single write: the device takes one message per write). */
  send(bytes: Buffer): void;
  /** Starts delivering received bytes; `onClose` runs once when the pipe ends or fails. */
  start(onData: (chunk: Buffer) => void, onClose: (reason: string) => void): void;
  close(): Promise<void>;
}

/** xenstored's unix socket. */
export function socketTransport(path: string): XsTransport {
  let socket: Socket | undefined;
  return {
    payloadMax: XS_PAYLOAD_MAX,
    send(bytes) {
      socket?.write(bytes);
    },
    start(onData, onClose) {
      socket = connect(path);
      socket.on('data', onData);
      socket.on('error', (error) => onClose(error.message));
      socket.on('close', () => onClose('connection closed'));
    },
    async close() {
      const s = socket;
      socket = undefined;
      if (s === undefined || s.destroyed) return;
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.destroy();
      });
    },
  };
}

/**
 * /dev/xen/xenbus through node:fs. Reads block a libuv pool thread until the device has a
 * message, so one read is kept outstanding at a time. Writes are serialised: each is one whole
 * message. On close a cheap request is sent so the outstanding read returns before the fd closes
 * (a read blocked in the pool cannot otherwise be woken).
 */
export function deviceTransport(path = XENBUS_DEVICE): XsTransport {
  let fd: number | undefined;
  let closing = false;
  let reading: Promise<void> | undefined;
  const writes: Buffer[] = [];
  let writing = false;
  let failed: ((reason: string) => void) | undefined;

  const pump = (): void => {
    if (writing || fd === undefined) return;
    const next = writes.shift();
    if (next === undefined) return;
    writing = true;
    fsWrite(fd, next, 0, next.length, null, (error) => {
      writing = false;
      if (error !== null && !closing) failed?.(`write ${path}: ${error.message}`);
      pump();
    });
  };

  return {
    payloadMax: XS_DEVICE_PAYLOAD_MAX,
    send(bytes) {
      writes.push(bytes);
      pump();
    },
    start(onData, onClose) {
      failed = onClose;
      try {
        fd = openSync(path, 'r+');
      } catch (error) {
        queueMicrotask(() => onClose(`open ${path}: ${(error as Error).message}`));
        return;
      }
      const buffer = Buffer.alloc(XS_PAYLOAD_MAX + XS_HEADER_SIZE);
      const handle = fd;
      reading = (async () => {
        while (!closing) {
          const n = await new Promise<number>((resolve) => {
            fsRead(handle, buffer, 0, buffer.length, null, (error, bytes) => {
              if (error !== null) {
                if (!closing) onClose(`read ${path}: ${error.message}`);
                resolve(-1);
              } else resolve(bytes);
            });
          });
          if (n <= 0) {
            if (n === 0 && !closing) onClose(`${path}: end of file`);
            return;
          }
          if (!closing) onData(Buffer.from(buffer.subarray(0, n)));
        }
      })();
    },
    async close() {
      if (fd === undefined || closing) return;
      closing = true;
      // wake the pool thread blocked in read(): any request gets a reply
      writes.push(encodeMessage({ type: XS.READ, reqId: 0xffffffff, txId: 0, payload: Buffer.from('/\0') }));
      pump();
      await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      const handle = fd;
      fd = undefined;
      try {
        closeSync(handle);
      } catch {
        // already gone
      }
    },
  };
}

interface Pending {
  readonly type: number;
  readonly operation: string;
  readonly path: string;
  resolve(payload: Buffer): void;
  reject(error: Error): void;
}

interface WatchEntry {
  readonly path: string;
  readonly token: string;
  readonly handler: XenStoreWatchHandler;
  open: boolean;
}

export interface RealXenStoreOptions {
  /** Where to connect: a socket path, the device path, or a transport (tests). Default: probe. */
  transport?: XsTransport;
  /** Called when the connection to xenstored is lost (the daemon then exits). */
  onDisconnect?: (reason: string) => void;
}

/** Picks the transport the way libxenstore does: the daemon's socket if present, else the device. */
export function defaultTransport(exists: (path: string) => boolean = existsSync): XsTransport {
  const socket = XENSTORED_SOCKETS.find((path) => exists(path));
  return socket !== undefined ? socketTransport(socket) : deviceTransport();
}

function errnoOf(payload: Buffer): XenStoreErrno {
  const name = payload.toString('latin1').replace(/\0+$/, '');
  return (KNOWN_ERRNOS.has(name) ? name : 'EIO') as XenStoreErrno;
}

export class RealXenStore implements XenStore {
  private readonly transport: XsTransport;
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<string, WatchEntry>();
  private readonly decoder: MessageDecoder;
  private readonly onDisconnect: ((reason: string) => void) | undefined;
  private nextReqId = 1;
  private nextWatch = 1;
  private lost: string | undefined;
  /** Watch events received, for tests and stats. */
  watchEvents = 0;

  private constructor(options: RealXenStoreOptions) {
    this.transport = options.transport ?? defaultTransport();
    this.onDisconnect = options.onDisconnect;
    this.decoder = new MessageDecoder((message) => this.dispatch(message), (reason) => this.fail(`corrupt stream: ${reason}`));
  }

  /** Connects (lazily: the first request goes out on the open transport). */
  static open(options: RealXenStoreOptions = {}): RealXenStore {
    const xs = new RealXenStore(options);
    xs.transport.start((chunk) => xs.decoder.push(chunk), (reason) => xs.fail(reason));
    return xs;
  }

  domainPath(domid: number): string {
    return `/local/domain/${domid}`;
  }

  async read(path: string, tx?: XenStoreTransaction): Promise<string | undefined> {
    try {
      const payload = await this.request(XS.READ, 'read', path, [path], tx);
      return payload.toString('utf8');
    } catch (error) {
      if (error instanceof XenStoreError && error.errno === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(path: string, value: string, tx?: XenStoreTransaction): Promise<void> {
    // the value is not NUL-terminated: the payload is `path\0value`
    await this.request(XS.WRITE, 'write', path, [path], tx, Buffer.from(value, 'utf8'));
  }

  async rm(path: string, tx?: XenStoreTransaction): Promise<void> {
    try {
      await this.request(XS.RM, 'rm', path, [path], tx);
    } catch (error) {
      if (error instanceof XenStoreError && error.errno === 'ENOENT') return;
      throw error;
    }
  }

  async directory(path: string, tx?: XenStoreTransaction): Promise<string[]> {
    try {
      const payload = await this.request(XS.DIRECTORY, 'directory', path, [path], tx);
      return payload.toString('utf8').split('\0').filter((name) => name.length > 0);
    } catch (error) {
      if (error instanceof XenStoreError && error.errno === 'ENOENT') return [];
      throw error;
    }
  }

  async watch(path: string, token: string, handler: XenStoreWatchHandler): Promise<XenStoreWatch> {
    const wireToken = `${this.nextWatch++}:${token}`;
    const entry: WatchEntry = { path, token, handler, open: true };
    // installed first: xenstored may send the registration event right behind its reply
    this.watches.set(wireToken, entry);
    try {
      await this.request(XS.WATCH, 'watch', path, [path, wireToken]);
    } catch (error) {
      this.watches.delete(wireToken);
      throw error;
    }
    return {
      path, token,
      close: async () => {
        if (!entry.open) return;
        entry.open = false;
        this.watches.delete(wireToken);
        if (this.lost !== undefined) return;
        try {
          await this.request(XS.UNWATCH, 'unwatch', path, [path, wireToken]);
        } catch (error) {
          if (!(error instanceof XenStoreError) || error.errno !== 'ENOENT') throw error;
        }
      },
    };
  }

  async transaction<T>(body: (tx: XenStoreTransaction) => Promise<T>, attempts = DEFAULT_ATTEMPTS): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const started = await this.request(XS.TRANSACTION_START, 'transaction_start', '', ['']);
      const id = Number.parseInt(started.toString('latin1'), 10);
      if (!Number.isInteger(id) || id <= 0) throw new XenStoreError('EIO', 'transaction_start', `(reply ${JSON.stringify(started.toString('latin1'))})`);
      const tx: XenStoreTransaction = { id };
      let result: T;
      try {
        result = await body(tx);
      } catch (error) {
        await this.request(XS.TRANSACTION_END, 'transaction_end', '', ['F'], tx).catch(() => undefined);
        throw error;
      }
      try {
        await this.request(XS.TRANSACTION_END, 'transaction_end', '', ['T'], tx);
        return result;
      } catch (error) {
        if (error instanceof XenStoreError && error.errno === 'EAGAIN' && attempt < attempts) continue;
        throw error;
      }
    }
  }

  async close(): Promise<void> {
    for (const entry of this.watches.values()) entry.open = false;
    this.watches.clear();
    this.fail('closed', false);
    await this.transport.close();
  }

  /** Requests in flight, for tests. */
  get inFlight(): number {
    return this.pending.size;
  }

  private request(type: number, operation: string, path: string, strings: string[], tx?: XenStoreTransaction, raw?: Buffer): Promise<Buffer> {
    if (this.lost !== undefined) return Promise.reject(new XenStoreError('EIO', operation, `${path} (${this.lost})`));
    // each string NUL-terminated; a raw value (WRITE) follows unterminated
    const parts: Buffer[] = strings.map((s) => Buffer.from(`${s}\0`, 'utf8'));
    if (raw !== undefined) parts.push(raw);
    const payload = Buffer.concat(parts);
    if (payload.length > this.transport.payloadMax) return Promise.reject(new XenStoreError('E2BIG', operation, path));
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0x7fffffff ? 1 : this.nextReqId + 1;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(reqId, { type, operation, path, resolve, reject });
      this.transport.send(encodeMessage({ type, reqId, txId: tx?.id ?? 0, payload }));
    });
  }

  private dispatch(message: XsMessage): void {
    if (message.type === XS.WATCH_EVENT) {
      const [path, wireToken] = message.payload.toString('utf8').split('\0');
      const entry = wireToken === undefined ? undefined : this.watches.get(wireToken);
      if (path === undefined || entry === undefined || !entry.open) return; // a late event of a closed watch
      this.watchEvents++;
      entry.handler(path, entry.token);
      return;
    }
    let pending = this.pending.get(message.reqId);
    let reqId = message.reqId;
    if (pending === undefined) {
      // a reply whose req_id was not echoed: the oldest request of its type (replies come in order)
      for (const [id, p] of this.pending) {
        if (p.type === message.type || message.type === XS.ERROR) {
          pending = p;
          reqId = id;
          break;
        }
      }
      if (pending === undefined) return;
    }
    this.pending.delete(reqId);
    if (message.type === XS.ERROR) pending.reject(new XenStoreError(errnoOf(message.payload), pending.operation, pending.path));
    else pending.resolve(message.payload);
  }

  private fail(reason: string, notify = true): void {
    if (this.lost !== undefined) return;
    this.lost = reason;
    for (const p of this.pending.values()) p.reject(new XenStoreError('EIO', p.operation, `${p.path} (${reason})`));
    this.pending.clear();
    if (notify) this.onDisconnect?.(reason);
  }
}
