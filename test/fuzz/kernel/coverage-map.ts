// The counter map build:cover writes next to the instrumented kernels (test/fuzz/instrument/
// edge-counters.mjs): one entry per edge counter, with its function, kind and source location.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export interface CounterInfo { id: number; fn: string; kind: string; location?: string }
export interface CoverMap { base: number; counters: CounterInfo[] }

/** The package root: the directory above test/ (source) or dist/ (built). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('no package.json above test/fuzz/kernel');
    dir = up;
  }
  return dir;
}

export function coverMap(): CoverMap {
  const file = join(repoRoot(), 'build', 'netback.cover.json');
  if (!existsSync(file)) throw new Error('build/netback.cover.json is missing: npm run build:cover');
  return JSON.parse(readFileSync(file, 'utf8')) as CoverMap;
}
