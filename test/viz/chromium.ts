// Debian's Chromium, headless, driven by playwright-core: whether it can run here, and a browser
// with a fresh profile. A test file that needs it skips (printing why) only when it is not
// installed; WNB_REQUIRE_BROWSER=1 (CI) turns that skip into a failure.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests of `file` cannot run, or undefined; throws when WNB_REQUIRE_BROWSER=1 forbids the skip. */
export function browserSkipReason(file: string, what: string): string | undefined {
  const reason = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium)`;
  if (reason !== undefined) {
    if (process.env.WNB_REQUIRE_BROWSER === '1') throw new Error(`${file}: cannot run (${reason}) but WNB_REQUIRE_BROWSER=1`);
    console.warn(`SKIP ${file} (${what}): ${reason}`);
  }
  return reason;
}

export interface Browser { context: BrowserContext; close(): Promise<void> }

/** A headless Chromium with a fresh profile (--user-data-dir), removed on close. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'wnb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', ...extraArgs],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
