// `--metrics HOST:PORT` (NETBACK_METRICS) of `daemon` and `sim`: GET /metrics answers the
// Prometheus text exposition format (metrics-registry.ts) for a scraper. Read-only: any other
// method is refused (405), any other path is 404, and nothing a request carries reaches the host.
// No CORS header, so a web page of another origin cannot read the answer. Off unless asked for.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { NetbackError } from '../errors.js';
import { closeHttp, listenHttp } from './http-listen.js';
import type { Worker } from 'node:worker_threads';
import type { MetricsSource, WorkerLoad } from './metrics-registry.js';

export const METRICS_PATH = '/metrics';

export interface MetricsAddress { host: string; port: number }

/** A --metrics value that is not HOST:PORT. */
export class MetricsAddressError extends NetbackError {
  constructor(message: string) {
    super('NETBACK_BAD_METRICS_ADDRESS', message);
  }
}

/** `127.0.0.1:9470`, `[::1]:9470`, `0.0.0.0:9470` (port 0: one the kernel picks). */
export function parseMetricsAddress(raw: string): MetricsAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):([0-9]{1,5})$/.exec(raw.trim());
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new MetricsAddressError(`--metrics takes HOST:PORT (127.0.0.1:9470, [::1]:9470; port 0-65535), not ${JSON.stringify(raw)}`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/**
 * The busy time of worker threads, as a pool lists them (QueuePool.threads), for
 * MetricsSource.workers. A replaced worker starts again from 0, which Prometheus reads as a
 * counter reset.
 */
export function workerLoads(threads: readonly { index: number; worker: Worker }[]): WorkerLoad[] {
  return threads.map((thread) => ({ id: String(thread.index), activeSeconds: thread.worker.performance.eventLoopUtilization().active / 1000 }));
}

export interface MetricsServer {
  /** http://HOST:PORT/metrics */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(address: MetricsAddress, source: MetricsSource): Promise<MetricsServer> {
  // prom-client loads only when metrics are asked for: `list`, `stats` and a sim without them do not need it
  const { NetbackMetrics } = await import('./metrics-registry.js');
  const metrics = new NetbackMetrics(source);
  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end('the metrics could not be collected\n');
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain' });
      response.end('read-only: only GET /metrics\n');
      return;
    }
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== METRICS_PATH) {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end(`not found: the metrics are at ${METRICS_PATH}\n`);
      return;
    }
    const text = await metrics.scrape();
    response.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
    response.end(text);
  }

  const bound = await listenHttp(server, address.host, address.port);
  return { url: `http://${bound.authority}${METRICS_PATH}`, close: () => closeHttp(server) };
}
