// Listening for the two HTTP faces of a running host (viz-server.ts, metrics-server.ts): bind,
// and name where it listens the way a browser or a scraper writes it (IPv6 in brackets).

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The address and port the kernel bound, port 0 resolved. */
export interface BoundAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** `127.0.0.1:7040` or `[::1]:7040`: the authority of a URL, and the Host header a client sends. */
  authority: string;
}

export async function listenHttp(server: Server, host: string, port: number): Promise<BoundAddress> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolveListen(); });
  });
  const bound = server.address() as AddressInfo;
  const family = bound.family === 'IPv6' ? 'IPv6' : 'IPv4';
  return { address: bound.address, family, port: bound.port, authority: `${family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` };
}

/** Stops listening and drops every open connection (a scraper's keep-alive, an SSE stream). */
export async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
}
