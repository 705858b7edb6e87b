// The wasm-netback command tree. Subcommands (daemon, sim, bench, check, list, stats) register
// here as they arrive; each lives in its own file under src/cli/.

import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerCheck } from './check.js';
import { registerDaemon } from './daemon.js';

export function buildProgram(): Command {
  const program = new Command('wasm-netback')
    .description('Userspace Xen network backend: netif rings to Linux TAP devices, packet code in WebAssembly')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError();
  registerCheck(program);
  registerDaemon(program);
  return program;
}
