// What `npm pack` ships: the LICENSE package.json names, and every file of this repository the
// shipped documents point a reader to (README's packaging/, SECURITY.md, bench/README.md...), so
// a user of the npm package finds what the README tells them to open.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { license: string };

/** Repository paths a document names: packaging/…, LICENSE, and *.md files, that exist here. */
function pointedAt(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/(?<![\w/.-])(packaging\/[\w./-]*[\w/]|[\w/-]+\.md|LICENSE)(?![\w/-])/g)) {
    if (existsSync(`${root}${match[1]}`)) found.add(match[1]!.replace(/\/$/, ''));
  }
  return [...found].sort();
}

describe('npm package contents', () => {
  let files: string[];
  beforeAll(async () => {
    // --ignore-scripts: the file list only, no rebuild
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
    files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  }, 60_000);

  it('npmPack_ships_the_mit_license_package_json_names', () => {
    expect(pkg.license).toBe('MIT');
    expect(files).toContain('LICENSE');
    const text = readFileSync(`${root}LICENSE`, 'utf8');
    expect(text).toMatch(/^MIT License/);
    expect(text).toContain('Copyright (c) 2026 the wasm-netback authors');
  });

  it('npmPack_ships_every_file_the_shipped_documents_point_to', () => {
    const documents = files.filter((f) => f.endsWith('.md'));
    expect(documents).toEqual(expect.arrayContaining(['README.md']));
    const pointed = documents.flatMap((doc) => pointedAt(readFileSync(`${root}${doc}`, 'utf8')));
    // the README's own pointers, so the scan itself cannot come back empty unnoticed
    expect(pointed).toEqual(expect.arrayContaining(['SECURITY.md', 'bench/README.md', 'packaging/systemd', 'packaging/systemd/wasm-netback.service']));
    const missing = pointed.filter((path) => !files.some((f) => f === path || f.startsWith(`${path}/`)));
    expect(missing).toEqual([]);
  });
});
