// The visualizer port (`daemon --viz`, `sim --viz`) as an attacker meets it: it serves what the
// root-only control socket serves, so a request without the per-start token, one naming a Host
// other than the bound address (DNS rebinding), a local user who is not root, and a page of
// another origin in a real browser are each refused, while the URL the sim prints still opens the
// page attached to it. The browser cases drive Debian's Chromium (test/viz/chromium.ts).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostMatches, newVizToken, startVizServer, type VizServer } from '../../src/cli/viz-server.js';
import type { HostSnapshot } from '../../src/viz/snapshot.js';
import { browserSkipReason, launchChromium, type Browser } from './chromium.js';

const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const SNAPSHOT: HostSnapshot = { version: 1, time: 1, vifs: [] };

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One GET with the Host header we choose (fetch will not send a foreign one). */
function rawGet(url: string, host?: string, method = 'GET'): Promise<Answer> {
  return new Promise((done, fail) => {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, path: `${target.pathname}${target.search}`, method, headers: host === undefined ? {} : { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      // an SSE stream never ends: its first event is enough
      res.on('data', (chunk: string) => { body += chunk; if (res.headers['content-type'] === 'text/event-stream' && body.includes('\n\n')) res.destroy(); });
      res.on('close', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('hostMatches', () => {
  it('viz_host_matches_matrix', () => {
    const v4 = { address: '127.0.0.1', port: 7040 };
    const v6 = { address: '::1', port: 7040 };
    const any4 = { address: '0.0.0.0', port: 7040 };
    const lan = { address: '192.0.2.7', port: 7040 };
    const cases: [string | undefined, { address: string; port: number }, boolean][] = [
      ['127.0.0.1:7040', v4, true], ['localhost:7040', v4, true], ['LOCALHOST:7040', v4, true],
      ['127.0.0.1', v4, false], ['127.0.0.1:7041', v4, false], ['127.0.0.2:7040', v4, false], ['[::1]:7040', v4, false],
      ['evil.example:7040', v4, false], ['evil.example', v4, false], ['127.0.0.1.nip.io:7040', v4, false], ['localhost.evil.example:7040', v4, false],
      ['', v4, false], [undefined, v4, false], ['127.0.0.1:7040:7040', v4, false], ['127.0.0.1:07040', v4, true],
      ['[::1]:7040', v6, true], ['[0:0:0:0:0:0:0:1]:7040', v6, true], ['localhost:7040', v6, true], ['127.0.0.1:7040', v6, false], ['::1:7040', v6, false],
      ['192.0.2.99:7040', any4, true], ['localhost:7040', any4, true], ['dom0.example:7040', any4, false], ['192.0.2.99:80', any4, false],
      ['192.0.2.7:7040', lan, true], ['localhost:7040', lan, false], ['dom0.example:7040', lan, false],
    ];
    for (const [header, bound, allowed] of cases) expect(hostMatches(header, bound), `${header} on ${bound.address}`).toBe(allowed);
  });
});

describe('the visualizer port in process', () => {
  let viz: VizServer;
  let origin: string;
  let token: string;
  beforeAll(async () => {
    token = newVizToken();
    viz = await startVizServer({ host: '127.0.0.1', port: 0, snapshot: () => SNAPSHOT, token });
    origin = new URL(viz.url).origin;
  });
  afterAll(async () => { await viz?.close(); });

  it('viz_port_token_is_random_per_start', async () => {
    const tokens = new Set(Array.from({ length: 8 }, () => newVizToken()));
    expect(tokens.size).toBe(8);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes
    const other = await startVizServer({ host: '127.0.0.1', port: 0, snapshot: () => SNAPSHOT });
    try {
      expect(other.url).not.toContain(token);
      expect(other.url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+\/[A-Za-z0-9_-]{43}\/$/);
    } finally {
      await other.close();
    }
  });

  it('viz_port_refuses_requests_without_the_token', async () => {
    const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const path of ['/', '/snapshot', '/events', '/index.html', '/assets/', `/${wrong}/snapshot`, `/${wrong}/events`, `/${token.slice(0, 20)}/snapshot`,
      `/${token}x/snapshot`, `/x/${token}/snapshot`, `/snapshot?token=${token}`, `/${token.toLowerCase()}/snapshot`]) {
      const answer = await rawGet(`${origin}${path}`);
      expect(answer.status, path).toBe(403);
      expect(answer.body, path).not.toContain('vifs');
    }
  });

  it('viz_port_answers_with_the_token', async () => {
    const snapshot = await rawGet(`${viz.url}snapshot`);
    expect(snapshot.status).toBe(200);
    expect(JSON.parse(snapshot.body)).toEqual(SNAPSHOT);
    expect(snapshot.headers['referrer-policy']).toBe('no-referrer');
    const events = await rawGet(`${viz.url}events`);
    expect(events.status).toBe(200);
    expect(events.body).toMatch(/^retry: 1000\nevent: snapshot\ndata: \{/);
    // the base without its slash leads to the page, token kept
    const bare = await rawGet(viz.url.replace(/\/$/, ''));
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe(`/${token}/`);
    expect((await rawGet(`${viz.url}snapshot`, undefined, 'POST')).status).toBe(405);
  });

  it('viz_port_refuses_a_foreign_host_header', async () => {
    const port = new URL(viz.url).port;
    for (const host of [`evil.example:${port}`, `rebind.test:${port}`, `127.0.0.1:${Number(port) + 1}`, '127.0.0.1', `127.0.0.1.nip.io:${port}`]) {
      const answer = await rawGet(`${viz.url}snapshot`, host); // the right token, the wrong name
      expect(answer.status, host).toBe(403);
      expect(answer.body, host).toMatch(/Host header/);
    }
    expect((await rawGet(`${viz.url}snapshot`, `localhost:${port}`)).status).toBe(200);
    // HTTP/1.0 without any Host header
    const raw = await new Promise<string>((done) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(`GET /${token}/snapshot HTTP/1.0\r\n\r\n`));
      let text = '';
      socket.on('data', (chunk) => { text += chunk.toString(); });
      socket.on('close', () => done(text));
    });
    expect(raw).toMatch(/^HTTP\/1\.[01] 403 /);
  });
});

/** `sim --viz 0` as a child: its printed page URL once it serves. */
async function startSim(): Promise<{ child: ChildProcess; printedUrl: string; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, [bin, 'sim', '--viz', '0', '--hostile'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((done) => child.on('exit', done));
  let out = '';
  const printedUrl = await new Promise<string>((done, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /visualizer: (http:\/\/\S+)/.exec(out);
      if (m !== null) done(m[1]!);
    });
    child.on('exit', () => fail(new Error(`sim exited: ${out}`)));
  });
  return { child, printedUrl, exited };
}

const NOBODY = 65534;
const canDropPrivileges = typeof process.getuid === 'function' && process.getuid() === 0;

describe('the visualizer port of a running sim', () => {
  let sim: Awaited<ReturnType<typeof startSim>>;
  beforeAll(async () => {
    if (!existsSync(resolve('dist/viz/index.html'))) throw new Error('dist/viz is not built: npm run build:viz');
    sim = await startSim();
  });
  afterAll(async () => {
    sim?.child.kill('SIGTERM');
    await sim?.exited;
  });

  it.skipIf(!canDropPrivileges)('viz_port_refuses_a_non_root_client', () => {
    // another local user: what it can read of the sim (its command line) does not hold the token,
    // and without it every path is refused
    const base = new URL(sim.printedUrl);
    const token = base.pathname.split('/')[1]!;
    expect(readFileSync(`/proc/${sim.child.pid}/cmdline`, 'utf8')).not.toContain(token);
    const script = `
      const fs = require('node:fs');
      const out = { environ: 'readable' };
      try { fs.readFileSync('/proc/${sim.child.pid}/environ'); } catch (e) { out.environ = e.code; }
      const paths = ['/', '/snapshot', '/events', '/index.html', '/${'x'.repeat(43)}/snapshot'];
      Promise.all(paths.map((p) => fetch('${base.origin}' + p).then((r) => [p, r.status]))).then((statuses) => {
        out.statuses = Object.fromEntries(statuses);
        console.log(JSON.stringify(out));
      });`;
    const result = spawnSync(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, cwd: '/', encoding: 'utf8', timeout: 20_000 });
    expect(result.status, result.stderr).toBe(0);
    const seen = JSON.parse(result.stdout) as { environ: string; statuses: Record<string, number> };
    expect(seen.environ).toBe('EACCES');
    expect(seen.statuses).toEqual({ '/': 403, '/snapshot': 403, '/events': 403, '/index.html': 403, [`/${'x'.repeat(43)}/snapshot`]: 403 });
  });

  describe.skipIf(browserSkipReason('test/viz/viz-port.test.ts', 'the visualizer port in a browser') !== undefined)('in Chromium', () => {
    let browser: Browser;
    let attacker: Server;
    let attackerPort: number;
    beforeAll(async () => {
      // rebind.test and attacker.test resolve to 127.0.0.1, as a rebinding attacker's name would
      browser = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1']);
      attacker = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>attacker</title>'));
      await new Promise<void>((done) => attacker.listen(0, '127.0.0.1', done));
      attackerPort = (attacker.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await browser?.close();
      await new Promise((done) => attacker?.close(done));
    });

    it('viz_page_attaches_with_the_printed_url', async () => {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(sim.printedUrl);
      await page.waitForSelector('body[data-status="attached"]');
      await page.waitForSelector('.vif[data-vif="vif3.0"][data-disabled="NETBACK_FATAL_TOO_MANY_SLOTS"]', { timeout: 30_000 });
      await page.waitForFunction(() => Number(document.body.dataset.snapshots) > 3);
      expect(await page.$$eval('.vif', (nodes) => nodes.map((n) => (n as HTMLElement).dataset.vif))).toEqual(['vif1.0', 'vif2.0', 'vif3.0']);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('viz_port_refuses_a_cross_origin_page', async () => {
      const viz = new URL(sim.printedUrl);
      for (const from of [`http://attacker.test:${attackerPort}/`, `http://127.0.0.1:${attackerPort}/`]) {
        const page = await browser.context.newPage();
        await page.goto(from);
        // everything a page of another origin can try without the token: fetch (cors and
        // no-cors), the event stream, the page itself in a frame
        const outcome = await page.evaluate(async (base) => {
          const results: Record<string, string> = {};
          for (const path of ['/snapshot', '/events', '/', '/index.html']) {
            results[`fetch ${path}`] = await fetch(base + path).then(async (r) => `${r.status} ${(await r.text()).includes('vifs') ? 'DATA' : ''}`.trim(), (e: Error) => `error ${e.name}`);
          }
          results['no-cors /snapshot'] = await fetch(`${base}/snapshot`, { mode: 'no-cors' }).then((r) => `${r.type} ${r.status}`, (e: Error) => `error ${e.name}`);
          results['EventSource /events'] = await new Promise<string>((done) => {
            const source = new EventSource(`${base}/events`);
            source.onmessage = () => { source.close(); done('message'); };
            source.addEventListener('snapshot', () => { source.close(); done('snapshot'); });
            source.onerror = () => { source.close(); done('error'); };
          });
          return results;
        }, viz.origin);
        for (const [attempt, result] of Object.entries(outcome)) expect(result, `${from} ${attempt}`).not.toMatch(/DATA|snapshot|message|^200/);
        // a loopback page is allowed to read the refusal, which carries nothing
        if (from.includes('127.0.0.1')) expect(outcome['fetch /snapshot']).toBe('403');
        await page.close();
      }
    });

    it('viz_port_refuses_a_dns_rebinding_page', async () => {
      // the attacker's name now points at the visualizer's port: the browser calls it same-origin,
      // the server sees Host: rebind.test and refuses, even with the right token in the URL
      const viz = new URL(sim.printedUrl);
      const rebound = `http://rebind.test:${viz.port}${viz.pathname}`;
      const page = await browser.context.newPage();
      const response = await page.goto(rebound);
      expect(response?.status()).toBe(403);
      const reads = await page.evaluate(async () => Promise.all(['snapshot', 'events'].map((p) => fetch(p).then((r) => r.status, () => -1))));
      expect(reads).toEqual([403, 403]);
      await page.close();
    });
  });
});
