// Node-only: finds the built .wasm next to this package. The browser page passes the bytes it
// fetched instead, so the engine core never imports this file.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export type KernelBuild = 'release' | 'debug';

const FILE_BY_BUILD: Record<KernelBuild, string> = {
  release: 'netback.wasm',
  debug: 'netback.debug.wasm',
};

/** build/ sits at the package root: two levels above src/wasm/, three above dist/src/wasm/. */
export function kernelsPath(build: KernelBuild = 'release'): string {
  const file = FILE_BY_BUILD[build];
  const candidates = [`../../build/${file}`, `../../../build/${file}`].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error(`the kernels module ${file} is not built (looked in ${candidates.join(', ')}): run npm run build:wasm`);
  }
  return found;
}

export async function readKernels(build: KernelBuild = 'release'): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await readFile(kernelsPath(build)));
}
