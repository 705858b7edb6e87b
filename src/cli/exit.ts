// Exit statuses, sysexits-style, and the typed error a command throws to end with one.
// see: sysexits.h

import { NetbackError } from '../errors.js';

export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
export const EX_OSERR = 71;
export const EX_CANTCREAT = 73;
export const EX_PROTOCOL = 76;
export const EX_NOPERM = 77;

/** A failure a command reports with a message and a sysexits status (no stack trace). */
export class CliError extends NetbackError {
  constructor(code: string, message: string, readonly exitCode: number) {
    super(code, message);
  }
}

/** A bad option value: exit 64. */
export function usageError(message: string): CliError {
  return new CliError('NETBACK_CLI_USAGE', message, EX_USAGE);
}

export function integerOption(name: string, min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^[0-9]+$/.test(raw)) throw usageError(`${name} takes a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    const value = Number(raw);
    if (value < min || value > max) throw usageError(`${name} takes a whole number from ${min} to ${max}, not ${raw}`);
    return value;
  };
}

export function secondsOption(name: string): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || !(value > 0) || value > 86400 * 365) {
      throw usageError(`${name} takes a positive number of seconds, not ${JSON.stringify(raw)}`);
    }
    return value;
  };
}
