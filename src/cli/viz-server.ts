// The read-only HTTP face of a running host for the visualizer: GET /snapshot (one JSON
// snapshot), GET /events (Server-Sent Events, a snapshot per interval), and — when the page has
// been built into dist/viz — the page's static files. Anything but GET is refused (405), so
// nothing here can change the host. Bound to 127.0.0.1 unless told otherwise; cross-origin reads
// are allowed only from loopback pages (the page's dev server on another port). Node only.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

export interface VizServerOptions {
  host: string;
  port: number;
  snapshot: () => unknown;
  /** Milliseconds between SSE snapshots (default 250). */
  intervalMs?: number;
  /** Where the built page lives (default dist/viz of this package). */
  staticRoot?: string;
}

export interface VizServer {
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

export async function startVizServer(options: VizServerOptions): Promise<VizServer> {
  const root = resolve(options.staticRoot ?? defaultStaticRoot());
  const page = await stat(resolve(root, 'index.html')).then((s) => s.isFile(), () => false);
  const clients = new Set<ServerResponse>();
  const interval = options.intervalMs ?? 250;

  const server: Server = createServer((request, response) => {
    void handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const origin = request.headers.origin;
    if (origin !== undefined && LOOPBACK_ORIGIN.test(origin)) response.setHeader('Access-Control-Allow-Origin', origin);
    if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain' });
      response.end('read-only: only GET\n');
      return;
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
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

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => { server.off('error', reject); resolveListen(); });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}/`,
    page,
    close: async () => {
      clearInterval(timer);
      for (const client of clients) client.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
