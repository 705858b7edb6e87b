// The visualizer as `wasm-netback sim` serves it: the page at the URL sim prints, and the same page
// without ?attach, shows that sim (its four guests), not a simulation of its own; the header's
// link switches to the in-page simulation (two guests, the .wasm loaded in the browser) and back.
// A real sim child process and Debian's Chromium (headless, playwright-core); skips, saying why,
// only when Chromium is not installed (WNB_REQUIRE_BROWSER=1 makes that a failure).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSkipReason, launchChromium, type Browser } from './chromium.js';

const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const reason = browserSkipReason('test/viz/served-by-sim.test.ts', 'the visualizer sim serves');

/** `sim --viz 0` with four guests; resolves with the visualizer URL it prints. */
function startSim(): { child: ChildProcess; url: Promise<string> } {
  const child = spawn(process.execPath, [bin, 'sim', '--guests', '4', '--viz', '0', '--seconds', '120'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = new Promise<string>((ok, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^visualizer: (\S+)$/m.exec(out);
      if (match !== null) ok(match[1]!);
    });
    child.on('exit', (code) => fail(new Error(`sim exited ${code} before printing the visualizer URL: ${out}`)));
  });
  return { child, url };
}

const vifNames = (page: Page): Promise<string[]> => page.$$eval('.vif', (nodes) => nodes.map((n) => (n as HTMLElement).dataset.vif ?? ''));

async function expectAttachedToTheSim(page: Page): Promise<void> {
  await page.waitForSelector('body[data-status="attached"]', { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelectorAll('.vif').length === 4, undefined, { timeout: 60_000 });
  expect(await vifNames(page)).toEqual(['vif1.0', 'vif2.0', 'vif3.0', 'vif4.0']);
  // the page's own engine never started
  expect(await page.getAttribute('body', 'data-wasm')).toBeNull();
  expect(await page.textContent('#switch-source')).toBe('run the simulation in this page instead');
}

describe.skipIf(reason !== undefined)('the visualizer sim serves', () => {
  let browser: Browser;
  let sim: ReturnType<typeof startSim>;
  let printed: string;

  beforeAll(async () => {
    if (!existsSync(resolve('dist/viz/index.html'))) throw new Error('dist/viz is not built: npm run build:viz');
    sim = startSim();
    printed = await sim.url;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    sim?.child.kill('SIGINT');
  });

  it('vizPage_url_sim_prints_shows_that_sim', async () => {
    const page = await browser.context.newPage();
    await page.goto(printed);
    await expectAttachedToTheSim(page);
  }, 150_000);

  it('vizPage_served_by_sim_attaches_by_default_and_switches_to_the_in_page_sim', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // the page's own address (with the token, if any), no ?attach: it finds the sim that serves it
    const base = new URL(printed);
    base.search = '';
    await page.goto(base.href);
    await expectAttachedToTheSim(page);

    await page.click('#switch-source');
    await page.waitForSelector('body[data-wasm="loaded"][data-status="running"]', { timeout: 90_000 });
    expect(new URL(page.url()).searchParams.has('in-page')).toBe(true);
    await page.waitForFunction(() => document.querySelectorAll('.vif').length >= 2, undefined, { timeout: 60_000 });
    expect((await vifNames(page)).slice(0, 2)).toEqual(['vif1.0', 'vif2.0']);
    expect(await vifNames(page)).not.toContain('vif4.0');
    await page.waitForSelector('#switch-source:not([hidden])');
    expect(await page.textContent('#switch-source')).toBe('show the sim serving this page');

    await page.click('#switch-source');
    await expectAttachedToTheSim(page);
    expect(errors).toEqual([]);
  }, 300_000);
});
