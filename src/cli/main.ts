#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError, EX_SOFTWARE, EX_USAGE } from './exit.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander printed the message (and the help) already; --help and --version end with 0
    process.exitCode = error.exitCode === 0 ? 0 : EX_USAGE;
  } else if (error instanceof CliError) {
    process.stderr.write(`wasm-netback: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`wasm-netback: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = EX_SOFTWARE;
  }
}
