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

  it('cli_help_shows_the_defaults', async () => {
    // options that take a value and have none until given (an extra run, a file to read)
    const noDefault = new Set(['bench --baseline', 'bench --baseline-dist', 'daemon --config']);
    const missing: string[] = [];
    for (const command of ['sim', 'bench', 'check', 'daemon', 'list', 'stats']) {
      const { stdout } = await run(process.execPath, [bin, command, '--help']);
      const options = stdout.split('Options:')[1]!.split(/\n(?=  -)/).map((entry) => entry.replace(/\s+/g, ' ').trim());
      for (const option of options.filter((o) => /^--[\w-]+ </.test(o))) {
        const name = `${command} ${option.split(' ')[0]}`;
        if (!noDefault.has(name) && !/\([^)]*\bdefault\b[^)]*\)/.test(option)) missing.push(name);
      }
    }
    expect(missing).toEqual([]);
    const { stdout: sim } = await run(process.execPath, [bin, 'sim', '--help']);
    expect(sim.replace(/\s+/g, ' ')).toMatch(/--viz <port> .*\(default: 7040\b/);
  });

  it('cli_unknown_option_fails_with_usage', async () => {
    await expect(run(process.execPath, [bin, '--no-such-option'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining("unknown option '--no-such-option'") });
  });
});
