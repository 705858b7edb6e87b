// The xenstore wire client against a fake xenstored written here from xs_wire.h and
// docs/misc/xenstore.txt (not from the client): framing in any chunking, replies matched by req_id
// when they come back out of order, watch events interleaved with replies, errno-name errors,
// transactions with EAGAIN retry, payload limits, and the real unix-socket transport.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { XenStoreError } from '../../src/xen/errors.js';
import { RealXenStore, socketTransport, type XsTransport } from '../../src/xen/real/xenstore.js';

// xs_wire.h message types, typed in from the header by hand
const T = { DIRECTORY: 1, READ: 2, WATCH: 4, UNWATCH: 5, TX_START: 6, TX_END: 7, WRITE: 11, RM: 13, WATCH_EVENT: 15, ERROR: 16 };

interface Req { type: number; reqId: number; txId: number; payload: Buffer }

function frame(type: number, reqId: number, txId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(type, 0); h.writeUInt32LE(reqId, 4); h.writeUInt32LE(txId, 8); h.writeUInt32LE(payload.length, 12);
  return Buffer.concat([h, payload]);
}
const z = (...s: string[]) => Buffer.from(s.map((x) => `${x}\0`).join(''), 'utf8');

/** A tiny xenstored: flat map of path → value, watches, transactions; output chunking is controllable. */
class FakeXenstored {
  readonly store = new Map<string, string>();
  readonly requests: Req[] = [];
  readonly watches: { path: string; token: string }[] = [];
  /** Commits that fail with EAGAIN before one succeeds. */
  eagainCommits = 0;
  /** Replies are held back and released in reverse order (out-of-order matching). */
  holdReplies = 0;
  private held: Buffer[] = [];
  private inbuf = Buffer.alloc(0);
  private nextTx = 7;
  send: (bytes: Buffer) => void = () => {};

  feed(chunk: Buffer): void {
    this.inbuf = Buffer.concat([this.inbuf, chunk]);
    while (this.inbuf.length >= 16 && this.inbuf.length >= 16 + this.inbuf.readUInt32LE(12)) {
      const len = this.inbuf.readUInt32LE(12);
      const req = { type: this.inbuf.readUInt32LE(0), reqId: this.inbuf.readUInt32LE(4), txId: this.inbuf.readUInt32LE(8), payload: this.inbuf.subarray(16, 16 + len) };
      this.inbuf = this.inbuf.subarray(16 + len);
      this.requests.push(req);
      this.handle(req);
    }
  }

  private reply(req: Req, type: number, payload: Buffer): void {
    const bytes = frame(type, req.reqId, req.txId, payload);
    if (this.holdReplies > 0) {
      this.held.push(bytes);
      if (this.held.length === this.holdReplies) {
        const all = this.held.reverse();
        this.held = [];
        this.holdReplies = 0;
        this.send(Buffer.concat(all));
      }
      return;
    }
    this.send(bytes);
  }

  private error(req: Req, name: string): void {
    this.reply(req, T.ERROR, z(name));
  }

  event(path: string, token: string): void {
    this.send(frame(T.WATCH_EVENT, 0, 0, z(path, token)));
  }

  private fire(path: string): void {
    for (const w of this.watches) if (path === w.path || path.startsWith(`${w.path}/`)) this.event(path, w.token);
  }

  private handle(req: Req): void {
    const strings = req.payload.toString('utf8').split('\0');
    const path = strings[0] ?? '';
    switch (req.type) {
      case T.READ: {
        const v = this.store.get(path);
        if (v === undefined) this.error(req, 'ENOENT');
        else this.reply(req, T.READ, Buffer.from(v)); // no trailing NUL
        return;
      }
      case T.WRITE: {
        const nul = req.payload.indexOf(0);
        const value = req.payload.subarray(nul + 1).toString('utf8');
        if (path.startsWith('/ro')) return this.error(req, 'EACCES');
        this.store.set(path, value);
        this.reply(req, T.WRITE, z('OK'));
        this.fire(path);
        return;
      }
      case T.RM: {
        if (![...this.store.keys()].some((k) => k === path || k.startsWith(`${path}/`))) return this.error(req, 'ENOENT');
        for (const k of [...this.store.keys()]) if (k === path || k.startsWith(`${path}/`)) this.store.delete(k);
        this.reply(req, T.RM, z('OK'));
        return;
      }
      case T.DIRECTORY: {
        const names = new Set<string>();
        for (const k of this.store.keys()) if (k.startsWith(`${path}/`)) names.add(k.slice(path.length + 1).split('/')[0]!);
        if (names.size === 0 && !this.store.has(path)) return this.error(req, 'ENOENT');
        this.reply(req, T.DIRECTORY, z(...names));
        return;
      }
      case T.WATCH: {
        this.watches.push({ path, token: strings[1]! });
        // xenstored acks, then fires the registration event
        this.reply(req, T.WATCH, z('OK'));
        this.event(path, strings[1]!);
        return;
      }
      case T.UNWATCH: {
        const i = this.watches.findIndex((w) => w.path === path && w.token === strings[1]);
        if (i < 0) return this.error(req, 'ENOENT');
        this.watches.splice(i, 1);
        this.reply(req, T.UNWATCH, z('OK'));
        return;
      }
      case T.TX_START:
        this.reply(req, T.TX_START, z(String(this.nextTx++)));
        return;
      case T.TX_END:
        if (strings[0] === 'T' && this.eagainCommits > 0) {
          this.eagainCommits--;
          return this.error(req, 'EAGAIN');
        }
        this.reply(req, T.TX_END, z('OK'));
        return;
      default:
        this.error(req, 'EINVAL');
    }
  }
}

/** An in-process duplex: the client's sends reach the fake, the fake's bytes reach the client in `chunk`-byte pieces. */
function pipe(fake: FakeXenstored, chunk = Infinity, payloadMax = 4096): XsTransport {
  let deliver: ((b: Buffer) => void) | undefined;
  fake.send = (bytes) => {
    queueMicrotask(() => {
      for (let i = 0; i < bytes.length; i += Math.min(chunk, bytes.length)) deliver?.(bytes.subarray(i, Math.min(bytes.length, i + chunk)));
    });
  };
  return {
    payloadMax,
    send: (bytes) => queueMicrotask(() => fake.feed(bytes)),
    start: (onData) => { deliver = onData; },
    close: async () => { deliver = undefined; },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('RealXenStore over a fake xenstored', () => {
  it('xenstore_real_read_write_directory_rm', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    await xs.write('/local/domain/0/backend/vif/1/0/state', '1');
    await xs.write('/local/domain/0/backend/vif/1/0/mac', '00:16:3e:00:00:02');
    expect(await xs.read('/local/domain/0/backend/vif/1/0/mac')).toBe('00:16:3e:00:00:02');
    expect((await xs.directory('/local/domain/0/backend/vif/1/0')).sort()).toEqual(['mac', 'state']);
    expect(await xs.read('/nothing')).toBeUndefined();
    expect(await xs.directory('/nothing')).toEqual([]);
    await xs.rm('/local/domain/0/backend/vif/1');
    await xs.rm('/local/domain/0/backend/vif/1'); // ENOENT swallowed
    expect(await xs.read('/local/domain/0/backend/vif/1/0/state')).toBeUndefined();
    // the WRITE payload is path\0value with no NUL after the value (xs_wire.h)
    const write = fake.requests.find((r) => r.type === T.WRITE)!;
    expect(write.payload.equals(Buffer.from('/local/domain/0/backend/vif/1/0/state\u00001'))).toBe(true);
    expect(xs.domainPath(3)).toBe('/local/domain/3');
    await xs.close();
  });

  it('xenstore_real_framing_byte_by_byte', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake, 1) });
    await xs.write('/a/b', 'x'.repeat(300));
    expect(await xs.read('/a/b')).toBe('x'.repeat(300));
    expect(await xs.directory('/a')).toEqual(['b']);
    await xs.close();
  });

  it('xenstore_real_framing_coalesced_out_of_order_replies', async () => {
    const fake = new FakeXenstored();
    fake.store.set('/k/1', 'one'); fake.store.set('/k/2', 'two'); fake.store.set('/k/3', 'three');
    const xs = RealXenStore.open({ transport: pipe(fake, 7) });
    fake.holdReplies = 3; // three replies come back in one chunk stream, newest first
    const values = await Promise.all([xs.read('/k/1'), xs.read('/k/2'), xs.read('/k/3')]);
    expect(values).toEqual(['one', 'two', 'three']);
    await xs.close();
  });

  it('xenstore_real_watch_fires_on_register_and_interleaves_with_replies', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake, 5) });
    const events: string[] = [];
    const watch = await xs.watch('/be/vif', 'tok', (path, token) => events.push(`${token}:${path}`));
    await settle();
    expect(events).toEqual(['tok:/be/vif']);
    // an event arriving between a request and its reply reaches the handler; the reply still matches
    const reading = xs.read('/be/vif/1/0/state');
    fake.event('/be/vif/1', fake.watches[0]!.token);
    fake.store.set('/be/vif/1/0/state', '2');
    expect(await reading).toBe('2');
    await xs.write('/be/vif/1/0/state', '3');
    await settle();
    expect(events).toEqual(['tok:/be/vif', 'tok:/be/vif/1', 'tok:/be/vif/1/0/state']);
    await watch.close();
    await watch.close(); // twice is fine
    expect(fake.watches).toEqual([]);
    await xs.write('/be/vif/1/0/state', '4');
    await settle();
    expect(events).toHaveLength(3);
    await xs.close();
  });

  it('xenstore_real_watch_same_token_two_paths_separate', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    const a: string[] = [];
    const b: string[] = [];
    await xs.watch('/a', 'same', (p) => a.push(p));
    await xs.watch('/b', 'same', (p) => b.push(p));
    await settle();
    await xs.write('/b/x', '1');
    await settle();
    expect(a).toEqual(['/a']);
    expect(b).toEqual(['/b', '/b/x']);
    await xs.close();
  });

  it('xenstore_real_errors_by_errno_name', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    const error = await xs.write('/ro/x', 'v').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(XenStoreError);
    expect(error).toMatchObject({ errno: 'EACCES', code: 'NETBACK_XENSTORE_EACCES', path: '/ro/x' });
    await xs.close();
  });

  it('xenstore_real_payload_limits', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    // "/v\0" is 3 bytes: 4093 value bytes make exactly 4096
    await xs.write('/v', 'x'.repeat(4093));
    await expect(xs.write('/v', 'x'.repeat(4094))).rejects.toMatchObject({ errno: 'E2BIG' });
    await xs.close();
    const dev = RealXenStore.open({ transport: pipe(new FakeXenstored(), Infinity, 4080) });
    await dev.write('/v', 'x'.repeat(4077));
    await expect(dev.write('/v', 'x'.repeat(4078))).rejects.toMatchObject({ errno: 'E2BIG' });
    await dev.close();
  });

  it('xenstore_real_transaction_commits_with_tx_id', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    const result = await xs.transaction(async (tx) => {
      await xs.write('/t/a', '1', tx);
      return 42;
    });
    expect(result).toBe(42);
    const write = fake.requests.find((r) => r.type === T.WRITE)!;
    expect(write.txId).toBe(7); // the id TRANSACTION_START answered, in binary in the header
    const end = fake.requests.find((r) => r.type === T.TX_END)!;
    expect(end.payload.equals(Buffer.from('T\0'))).toBe(true);
    expect(end.txId).toBe(7);
    await xs.close();
  });

  it('xenstore_real_transaction_retries_on_eagain', async () => {
    const fake = new FakeXenstored();
    fake.eagainCommits = 2;
    const xs = RealXenStore.open({ transport: pipe(fake) });
    let runs = 0;
    await xs.transaction(async (tx) => {
      runs++;
      await xs.write('/t/a', String(runs), tx);
    });
    expect(runs).toBe(3);
    fake.eagainCommits = 5;
    await expect(xs.transaction(async () => {}, 3)).rejects.toMatchObject({ errno: 'EAGAIN' });
    await xs.close();
  });

  it('xenstore_real_transaction_body_error_aborts', async () => {
    const fake = new FakeXenstored();
    const xs = RealXenStore.open({ transport: pipe(fake) });
    await expect(xs.transaction(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    const end = fake.requests.find((r) => r.type === T.TX_END)!;
    expect(end.payload.equals(Buffer.from('F\0'))).toBe(true);
    await xs.close();
  });

  it('xenstore_real_connection_loss_rejects_pending', async () => {
    let lost = '';
    let closeIt: ((r: string) => void) | undefined;
    const transport: XsTransport = {
      payloadMax: 4096, send: () => {}, start: (_d, onClose) => { closeIt = onClose; }, close: async () => {},
    };
    const xs = RealXenStore.open({ transport, onDisconnect: (r) => { lost = r; } });
    const reading = xs.read('/x');
    closeIt!('connection closed');
    await expect(reading).rejects.toMatchObject({ errno: 'EIO' });
    await expect(xs.read('/y')).rejects.toBeInstanceOf(XenStoreError);
    expect(lost).toBe('connection closed');
  });
});

describe('RealXenStore over a unix socket', () => {
  let dir: string | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('xenstore_real_socket_transport_round_trip', async () => {
    dir = mkdtempSync(join(tmpdir(), 'xs-'));
    const path = join(dir, 'socket');
    const fake = new FakeXenstored();
    server = createServer((conn) => {
      fake.send = (bytes) => conn.write(bytes);
      conn.on('data', (chunk) => fake.feed(chunk));
    });
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    const xs = RealXenStore.open({ transport: socketTransport(path) });
    const events: string[] = [];
    await xs.watch('/w', 't', (p) => events.push(p));
    await xs.write('/w/x', 'hello');
    expect(await xs.read('/w/x')).toBe('hello');
    await settle();
    expect(events).toEqual(['/w', '/w/x']);
    await xs.close();
  });
});
