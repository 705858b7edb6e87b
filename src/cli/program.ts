// The wasm-netback command tree. Subcommands (daemon, sim, bench, check, list, stats) register
// here as they arrive; each lives in its own file under src/cli/.

import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBench } from './bench.js';
import { registerCheck } from './check.js';
import { registerControl } from './control.js';
import { registerDaemon } from './daemon.js';
import { registerSim } from './sim.js';

export function buildProgram(): Command {
  const program = new Command('wasm-netback')
    .description('Userspace Xen network backend: netif rings to Linux TAP devices, packet code in WebAssembly')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    // Usage errors become a CommanderError main.ts turns into exit 64 (sysexits EX_USAGE).
    .exitOverride();
  registerSim(program);
  registerBench(program);
  registerCheck(program);
  registerDaemon(program);
  registerControl(program);
  return program;
}
