// The one logging interface every part of the project writes through: the engine, the device
// handles and the CLI take a Logger and never print. The daemon's implementation writes JSON lines
// (or a human format on a TTY, src/cli/daemon.ts); tests and the browser page pass their own. No
// Node module here, so the engine that takes it still runs in a browser.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One structured log line; fields follow the daemon's JSON-lines schema (domid, devid, vif…). */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export const silentLogger: Logger = () => {};
