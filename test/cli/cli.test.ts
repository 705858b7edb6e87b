import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };

describe('wasm-netback CLI', () => {
  it('cli_bin_points_at_the_built_entry', () => {
    expect(new URL(`../../${pkg.bin['wasm-netback']}`, import.meta.url).pathname).toBe(bin);
  });

  it('cli_version_prints_the_package_version', async () => {
    const { stdout } = await run(process.execPath, [bin, '--version']);
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('cli_help_describes_the_command', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toMatch(/^Usage: wasm-netback/m);
    expect(stdout).toContain('--version');
  });

  it('cli_unknown_option_fails_with_usage', async () => {
    await expect(run(process.execPath, [bin, '--no-such-option'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining("unknown option '--no-such-option'") });
  });
});
