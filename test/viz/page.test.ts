// The ring visualizer as a person uses it: Debian's Chromium (headless, driven by playwright-core)
// opens the built page (dist/viz, `npm run build:viz`) from a static server on 127.0.0.1; the page
// loads the .wasm, the rings advance, pause + step runs one batch, the hostile frontend shows a
// disabled vif, GSO off at the receiver makes the engine segment in Wasm. A screenshot goes to
// test-artifacts/viz.png. Skips (with the reason printed) only when Chromium is not installed;
// WNB_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, readKernels } from '../../src/index.js';
import { VizSim } from '../../src/viz/driver.js';
import { browserSkipReason, launchChromium, type Browser } from './chromium.js';

const DIST = resolve('dist/viz');
const ARTIFACTS = resolve('test-artifacts');

const reason = browserSkipReason('test/viz/page.test.ts', 'browser visualizer');

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

/** dist/viz over HTTP, plus /events: one SSE stream of snapshots from a SimHost running in Node (the attach mode). */
function serve(events: () => string | undefined): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'access-control-allow-origin': '*' });
      const timer = setInterval(() => {
        const data = events();
        if (data !== undefined) res.write(`data: ${data}\n\n`);
      }, 100);
      req.on('close', () => clearInterval(timer));
      return;
    }
    const file = normalize(join(DIST, path === '/' ? 'index.html' : path));
    if (!file.startsWith(DIST) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    ok({ server, url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` });
  }));
}

interface QueueData { queue: string; txReqProd: number; txReqCons: number; rxRspProd: number; batches: number }

async function queues(page: Page): Promise<QueueData[]> {
  return page.$$eval('.queue', (nodes) => nodes.map((n) => {
    const d = (n as HTMLElement).dataset;
    return {
      queue: d.queue ?? '', txReqProd: Number(d.txReqProd), txReqCons: Number(d.txReqCons), rxRspProd: Number(d.rxRspProd),
      batches: Number(d.txBatches) + Number(d.rxBatches),
    };
  }));
}

const totalBatches = (qs: QueueData[]): number => qs.reduce((n, q) => n + q.batches, 0);
const vifAttr = (page: Page, vif: string, attr: string): Promise<string | null> => page.getAttribute(`.vif[data-vif="${vif}"]`, `data-${attr}`);

describe.skipIf(reason !== undefined)('browser ring visualizer', () => {
  let chromium: Browser;
  let browser: BrowserContext;
  let server: Server;
  let url: string;
  let nodeSim: VizSim | undefined;

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error('dist/viz is not built: npm run build:viz');
    ({ server, url } = await serve(() => (nodeSim === undefined ? undefined : JSON.stringify(nodeSim.snapshot()))));
    chromium = await launchChromium();
    browser = chromium.context;
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await chromium?.close();
    await nodeSim?.close();
    await new Promise((ok) => server?.close(ok));
  });

  it('page_runs_the_engine_steps_and_shows_offloads', async () => {
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1280, height: 1000 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/`);
    await page.waitForSelector('body[data-wasm="loaded"][data-status="running"]');
    await page.waitForFunction(() => document.querySelectorAll('.queue').length === 2);

    // the rings advance between two reads
    const first = await queues(page);
    await page.waitForFunction((before) => {
      const q = document.querySelector<HTMLElement>('.queue[data-queue="vif1.0-q0"]');
      return q !== null && Number(q.dataset.txReqCons) > before + 50;
    }, first.find((q) => q.queue === 'vif1.0-q0')!.txReqCons);
    const second = await queues(page);
    for (const q of second) {
      const before = first.find((f) => f.queue === q.queue)!;
      expect(q.txReqProd).toBeGreaterThan(before.txReqProd);
      expect(q.rxRspProd).toBeGreaterThan(before.rxRspProd);
    }

    // pause: nothing moves; step: exactly one batch
    await page.click('#pause');
    await page.waitForSelector('body[data-status="paused"]');
    const paused = await queues(page);
    await page.waitForTimeout(300);
    expect(totalBatches(await queues(page))).toBe(totalBatches(paused));
    for (let i = 1; i <= 3; i++) {
      const before = totalBatches(await queues(page));
      await page.click('#step');
      await page.waitForSelector(`body[data-steps="${i}"]`);
      await page.waitForTimeout(150); // a few redraws: work held in step mode must not run meanwhile
      expect(await page.getAttribute('body', 'data-step-batches')).toBe('1');
      expect(totalBatches(await queues(page))).toBe(before + 1);
    }
    await page.click('#pause'); // run again
    await page.waitForSelector('body[data-status="running"]');

    // GSO bulk towards a receiver without GSO: the engine segments in Wasm
    await page.selectOption('#mix', 'bulk');
    await page.waitForTimeout(300);
    expect(await vifAttr(page, 'vif2.0', 'rx-software-segments')).toBe('0');
    await page.uncheck('#rx-gso');
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('.vif[data-vif="vif2.0"]')?.dataset.rxSoftwareSegments) > 0);
    await page.waitForTimeout(1500); // a few seconds of plot history for the screenshot

    // the hostile frontend: its vif alone is disabled
    await page.selectOption('#mix', 'hostile');
    await page.waitForSelector('.vif[data-vif="vif3.0"][data-disabled="NETBACK_FATAL_TOO_MANY_SLOTS"]');
    expect(await vifAttr(page, 'vif1.0', 'disabled')).toBe('');
    expect(await vifAttr(page, 'vif2.0', 'disabled')).toBe('');
    expect(await vifAttr(page, 'vif3.0', 'carrier')).toBe('false');
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(ARTIFACTS, 'viz.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('page_attaches_to_a_snapshot_stream', async () => {
    nodeSim = await VizSim.create({ kernels: await compileKernels(await readKernels()), mix: 'hostile' });
    nodeSim.run();
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${url}/?attach=${encodeURIComponent(url)}`);
    await page.waitForSelector('.vif[data-vif="vif3.0"][data-disabled="NETBACK_FATAL_TOO_MANY_SLOTS"]');
    const before = (await queues(page)).find((q) => q.queue === 'vif1.0-q0')!.txReqCons;
    await page.waitForFunction((b) => Number(document.querySelector<HTMLElement>('.queue[data-queue="vif1.0-q0"]')?.dataset.txReqCons) > b, before);
    expect(await page.isDisabled('#pause')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'viz-attached.png') });
    await page.close();
  });

  it('bench_tab_runs_the_kernels', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.click('#tab-bench');
    await page.click('#bench-run');
    await page.waitForSelector('body[data-bench="done"]', { timeout: 60_000 });
    const rows = await page.$$eval('#bench-table tbody tr', (trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    expect(rows.map((r) => r.kernel)).toEqual(expect.arrayContaining(['raw_cksum', 'csum_complete_tcp4', 'tso_tcp4', 'tso_tcp6', 'tx_build_commit_64B']));
    for (const r of rows) expect(Number(r.mops)).toBeGreaterThan(0);
    console.log(`browser bench (${await page.evaluate(() => navigator.userAgent)}):\n${rows.map((r) => `  ${r.kernel} ${r.size}: ${Number(r.gbps).toFixed(2)} GB/s ${Number(r.mops).toFixed(3)} Mops`).join('\n')}`);
    await page.screenshot({ path: join(ARTIFACTS, 'viz-bench.png') });
    await page.close();
  });
});
