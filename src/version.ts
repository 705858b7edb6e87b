// The package version, read once from package.json (Node only).
import { readFileSync } from 'node:fs';

function findVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wasm-netback' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this depth: src/ runs from source, dist/src/ from the build
    }
  }
  return '0.0.0';
}

export const VERSION = findVersion();
