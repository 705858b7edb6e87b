// The read-only HTTP face of a running host for the visualizer: GET /snapshot (one JSON
// snapshot), GET /events (Server-Sent Events, a snapshot per interval), and — when the page has
// been built into dist/viz — the page's static files. Anything but GET is refused (405), so
// nothing here can change the host. Bound to 127.0.0.1 unless told otherwise. Node only.
//
// The data is what the root-only control socket serves (MACs, rings, counters), and a TCP port
// answers every local user, so every request must carry a secret only whoever started us can
// read: a random token made at each start, the first path segment of every URL
// (http://127.0.0.1:7040/<token>/, printed in the log and the readiness line, as Jupyter prints
// its token). In the path rather than a cookie, because a cookie for 127.0.0.1 would also go to
// every other local port, another user's server among them; in the path, the page's relative
// URLs (its assets, ?attach=<base>/events) carry it without the page knowing. A request whose
// Host header is not the bound address is refused as well, so a web page cannot reach the port
// under a name of its own (DNS rebinding). Cross-origin reads are allowed only from loopback
// pages (the page's dev server on another port), and they too need the token.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeHttp, listenHttp, type BoundAddress } from './http-listen.js';

export interface VizServerOptions {
  host: string;
  port: number;
  snapshot: () => unknown;
  /** Milliseconds between SSE snapshots (default 250). */
  intervalMs?: number;
  /** Where the built page lives (default dist/viz of this package). */
  staticRoot?: string;
  /** The secret every request's path starts with (default: 32 random bytes, base64url). */
  token?: string;
}

export interface VizServer {
  /** `http://HOST:PORT/<token>/`: the base of every URL the server answers (…snapshot, …events, the page, which attaches to it). */
  readonly url: string;
  /** Whether dist/viz/index.html exists, so `url` opens the page itself. */
  readonly page: boolean;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png', '.map': 'application/json',
};

/** dist/viz next to this file's dist/src/cli. */
export function defaultStaticRoot(): string {
  return fileURLToPath(new URL('../../viz/', import.meta.url));
}

const LOOPBACK_ORIGIN = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?$/;

export function newVizToken(): string {
  return randomBytes(32).toString('base64url');
}

const isLoopback = (address: string) => /^127\./.test(address) || address === '::1' || address === '::ffff:127.0.0.1';
const isWildcard = (address: string) => address === '0.0.0.0' || address === '::';

/**
 * Whether a Host header names the address the server is bound to: that address with its port;
 * `localhost` too when bound to loopback or to every address; any IP literal when bound to every
 * address. A DNS name never passes, since whoever owns a name can point it at 127.0.0.1.
 */
export function hostMatches(header: string | undefined, bound: Pick<BoundAddress, 'address' | 'port'>): boolean {
  if (header === undefined) return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(header.trim());
  if (m === null || Number(m[2] ?? '80') !== bound.port) return false;
  const name = m[1]!.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost') return isLoopback(bound.address) || isWildcard(bound.address);
  if (isIP(name) === 0) return false;
  if (isWildcard(bound.address)) return true;
  // the forms a URL writes an address in (::1 for 0:0:0:0:0:0:0:1)
  const canonical = (ip: string) => new URL(`http://${isIP(ip) === 6 ? `[${ip}]` : ip}/`).hostname;
  return canonical(name) === canonical(bound.address);
}

/** Constant-time comparison of the request's first path segment with the token. */
function tokenMatches(segment: string, token: Buffer): boolean {
  const given = Buffer.from(segment);
  return given.length === token.length && timingSafeEqual(given, token);
}

function refuse(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(`${message}\n`);
}

export async function startVizServer(options: VizServerOptions): Promise<VizServer> {
  const root = resolve(options.staticRoot ?? defaultStaticRoot());
  const page = await stat(resolve(root, 'index.html')).then((s) => s.isFile(), () => false);
  const clients = new Set<ServerResponse>();
  const interval = options.intervalMs ?? 250;
  const token = options.token ?? newVizToken();
  const tokenBytes = Buffer.from(token);
  let bound: BoundAddress | undefined;

  const server: Server = createServer((request, response) => {
    void handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // the URL is a secret: no page it opens learns it from a Referer
    response.setHeader('Referrer-Policy', 'no-referrer');
    if (!hostMatches(request.headers.host, bound!)) {
      refuse(response, 403, `wasm-netback visualizer: the Host header must name the address it listens on (${bound!.authority})`);
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && LOOPBACK_ORIGIN.test(origin)) response.setHeader('Access-Control-Allow-Origin', origin);
    if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain' });
      response.end('read-only: only GET\n');
      return;
    }
    const full = new URL(request.url ?? '/', 'http://localhost').pathname;
    const slash = full.indexOf('/', 1);
    if (slash < 0 && tokenMatches(full.slice(1), tokenBytes)) {
      response.writeHead(308, { Location: `${full}/` });
      response.end();
      return;
    }
    if (slash < 0 || !tokenMatches(full.slice(1, slash), tokenBytes)) {
      refuse(response, 403, 'wasm-netback visualizer: open the URL with the token printed at start (the daemon logs it: "visualizer: http://…/<token>/")');
      return;
    }
    const path = full.slice(slash);
    if (path === '/snapshot') {
      response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      response.end(JSON.stringify(options.snapshot()));
      return;
    }
    if (path === '/events') {
      response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
      response.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(options.snapshot())}\n\n`);
      clients.add(response);
      request.on('close', () => clients.delete(response));
      return;
    }
    if (page) {
      const file = resolve(root, `.${path === '/' ? '/index.html' : decodeURIComponent(path)}`);
      if (file.startsWith(root + sep)) {
        const body = await readFile(file).catch(() => undefined);
        if (body !== undefined) {
          response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
          response.end(body);
          return;
        }
      }
    } else if (path === '/') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('wasm-netback: the visualizer page is not built here; read-only data at /snapshot (JSON) and /events (Server-Sent Events)\n');
      return;
    }
    response.writeHead(404, { 'Content-Type': 'text/plain' });
    response.end('not found\n');
  }

  const timer = setInterval(() => {
    if (clients.size === 0) return;
    const message = `event: snapshot\ndata: ${JSON.stringify(options.snapshot())}\n\n`;
    for (const client of clients) client.write(message);
  }, interval);
  timer.unref();

  bound = await listenHttp(server, options.host, options.port);
  const url = `http://${bound.authority}/${token}/`;
  return {
    url,
    page,
    close: async () => {
      clearInterval(timer);
      for (const client of clients) client.end();
      clients.clear();
      await closeHttp(server);
    },
  };
}
