// Service readiness for systemd (Type=notify): READY=1 once serving, RELOADING=1 around a
// SIGHUP reload, STOPPING=1 when shutting down. The datagram is sent by this very process
// through the native addon, so systemd attributes it to the main PID and the unit can keep
// NotifyAccess=main; a spawned systemd-notify may have exited before systemd reads its
// credentials, and then the message is dropped. see: sd_notify(3)

import { loadNative } from '../native/addon.js';
import { NetbackError } from '../errors.js';

export type NotifySend = (socketPath: string, message: string) => number;

/** The addon in this checkout predates sdNotify (rebuild with npm run build:native). */
export class SdNotifyUnavailableError extends NetbackError {
  constructor() {
    super('NETBACK_SD_NOTIFY_UNAVAILABLE', 'the native addon has no sdNotify (built before it was added): npm run build:native');
  }
}

function nativeSend(socketPath: string, message: string): number {
  const native = loadNative();
  if (native.sdNotify === undefined) throw new SdNotifyUnavailableError();
  return native.sdNotify(socketPath, message);
}

/**
 * Sends `KEY=value` lines to $NOTIFY_SOCKET. Returns false when not started by systemd (no
 * NOTIFY_SOCKET); throws the addon's typed errors (NativeAddonMissingError, SyscallError) when the
 * datagram cannot be sent, for the caller to log.
 */
export function sdNotify(fields: Record<string, string | number>, env: NodeJS.ProcessEnv = process.env, send: NotifySend = nativeSend): boolean {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === '') return false;
  send(socketPath, Object.entries(fields).map(([key, value]) => `${key}=${value}`).join('\n'));
  return true;
}

/** CLOCK_MONOTONIC in microseconds, which systemd wants next to RELOADING=1 (Type=notify-reload). */
export function monotonicMicroseconds(): number {
  return Math.floor(Number(process.hrtime.bigint() / 1000n));
}
