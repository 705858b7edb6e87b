// npm's install hook. The prebuilt addon for this platform (prebuilds/linux-x64/, linux-arm64/:
// `npm run prebuild`, shipped in the npm package) is used when it loads: no compiler needed. Else
// node-gyp builds it (python3, make, gcc). When that fails the install still succeeds, since only
// real TAP and real Xen need the addon, and node-gyp's output stays in build/native-install.log:
// npm shows nothing a dependency's install script prints unless the script fails, so
// `wasm-netback check` and the first use of the addon (src/native/addon.ts) quote that log instead.
// Same switches as node-gyp-build's own install step: --build-from-source (npm_config_build_from_source)
// skips the prebuilt binary.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const failureLog = join(root, 'build', 'native-install.log');
const require = createRequire(import.meta.url);

/** The prebuilt binary node-gyp-build picks for this platform, if it loads here. */
function loadablePrebuild() {
  // a checkout builds its own: prebuilds/ there may predate a change to netback.c
  if (process.env.npm_config_build_from_source === 'true' || existsSync(join(root, '.git'))) return undefined;
  try {
    const path = require('node-gyp-build').path(root);
    // a local build/Release is rebuilt (incrementally) so a changed netback.c is never stale
    if (!relative(root, path).startsWith(`prebuilds${sep}`)) return undefined;
    require(path);
    return path;
  } catch {
    return undefined;
  }
}

/** node-gyp configure build with its output both shown (when npm shows it) and kept. */
function nodeGyp() {
  return new Promise((resolve) => {
    const output = [];
    const child = spawn('node-gyp', ['configure', 'build'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => { output.push(chunk); process.stderr.write(chunk); });
    }
    child.on('error', (error) => resolve({ ok: false, output: `${Buffer.concat(output)}node-gyp not found: ${error.message}\n` }));
    child.on('close', (code, signal) => resolve({ ok: code === 0, output: `${Buffer.concat(output)}${code === 0 ? '' : `node-gyp exited with ${code ?? signal}\n`}` }));
  });
}

rmSync(failureLog, { force: true });
const prebuilt = loadablePrebuild();
if (prebuilt !== undefined) {
  process.stderr.write(`wasm-netback: using the prebuilt native addon ${relative(root, prebuilt)}\n`);
} else {
  const result = await nodeGyp();
  if (!result.ok) {
    mkdirSync(dirname(failureLog), { recursive: true });
    writeFileSync(failureLog, result.output);
    process.stderr.write(
      `wasm-netback: the native addon was not built and there is no prebuilt one for ${process.platform}-${process.arch}; ` +
        `real TAP and real Xen need it (python3, make, gcc), everything else works without it. ` +
        `node-gyp's output: ${failureLog}; \`wasm-netback check\` says the same. Retry with: npm run build:native\n`,
    );
  }
}
