// `wasm-netback check`: the preflight. Names every missing piece the daemon needs on this domain
// and refuses when the kernel's own xen-netback is loaded or bound (two backends would fight over
// every vif). The probed paths hang off an injectable root so tests run it on a fake filesystem.
//
// Exit codes (sysexits.h):
//   0   EX_OK           everything the daemon needs is here
//   64  EX_USAGE        bad command line
//   69  EX_UNAVAILABLE  not a Xen domain, or a device / the native addon / the TUN driver is missing
//   77  EX_NOPERM       not root (the devices need it)
//   78  EX_CONFIG       the kernel's xen-netback is loaded or bound: refusing, two backends on one vif
// When several apply, the highest-priority one wins: 78, then 69, then 77.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { nativeAddonFile, nativeUnavailableReason } from '../native/addon.js';
import { XENBUS_DEVICE, XENSTORED_SOCKETS } from '../xen/real/xenstore.js';

export const EXIT = { ok: 0, usage: 64, unavailable: 69, software: 70, noperm: 77, config: 78 } as const;

export type CheckVerdict = 'ok' | 'missing' | 'refuse' | 'warn';

export interface CheckItem {
  readonly name: string;
  readonly verdict: CheckVerdict;
  readonly detail: string;
  /** The exit status this item forces: 0 when it is ok (or only a warning). */
  readonly exit: number;
}

export interface CheckReport {
  readonly items: CheckItem[];
  readonly exitCode: number;
  /** 'dom0', 'driver-domain' or undefined when not on Xen. */
  readonly role: 'dom0' | 'driver-domain' | undefined;
}

export interface CheckEnvironment {
  /** Prefix of every probed path ('/' on a real host). */
  root: string;
  uid: number;
  nativeAvailable: boolean;
  /** The addon item's detail: the file it loads from, or why it cannot load (with npm install's reason). */
  nativeDetail?: string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function runChecks(env: CheckEnvironment): CheckReport {
  const at = (path: string) => join(env.root, path);
  const items: CheckItem[] = [];
  // `exit` is what the item forces when it fails; an item that passes forces nothing
  const add = (name: string, verdict: CheckVerdict, detail: string, exit: number = EXIT.unavailable) =>
    items.push({ name, verdict, detail, exit: verdict === 'missing' || verdict === 'refuse' ? exit : EXIT.ok });

  // dom0 or driver domain: /proc/xen/capabilities says control_d in dom0 (xenfs mounted)
  const caps = readText(at('/proc/xen/capabilities'));
  const hypervisor = readText(at('/sys/hypervisor/type'))?.trim();
  let role: CheckReport['role'];
  if (caps !== undefined && caps.includes('control_d')) role = 'dom0';
  else if (caps !== undefined || hypervisor === 'xen') role = 'driver-domain';
  if (role === undefined) add('xen', 'missing', 'not a Xen domain (no /proc/xen/capabilities, /sys/hypervisor/type is not "xen"); mount xenfs on /proc/xen in dom0');
  else add('xen', 'ok', role === 'dom0' ? 'dom0 (control_d)' : 'driver domain (serving backends of this domain; run `xl devd` here for hotplug)');

  const socket = XENSTORED_SOCKETS.find((p) => existsSync(at(p)));
  if (socket !== undefined) add('xenstore', 'ok', `xenstored socket ${socket}`);
  else if (existsSync(at(XENBUS_DEVICE))) add('xenstore', 'ok', XENBUS_DEVICE);
  else add('xenstore', 'missing', `neither ${XENSTORED_SOCKETS.join(' nor ')} nor ${XENBUS_DEVICE} (is xenstored running? modprobe xenfs / xen-evtchn)`);

  for (const [device, module] of [['/dev/xen/gntdev', 'xen-gntdev'], ['/dev/xen/evtchn', 'xen-evtchn']] as const) {
    if (existsSync(at(device))) add(device, 'ok', 'present');
    else add(device, 'missing', `missing (modprobe ${module})`);
  }
  if (existsSync(at('/dev/net/tun'))) add('/dev/net/tun', 'ok', 'present');
  else add('/dev/net/tun', 'missing', 'missing (modprobe tun)');

  if (env.nativeAvailable) add('native addon', 'ok', env.nativeDetail ?? 'loads');
  else add('native addon', 'missing', env.nativeDetail ?? 'not built (npm run build:native; needs python3, make, gcc)');

  if (env.uid === 0) add('root', 'ok', 'running as root');
  else add('root', 'missing', `running as uid ${env.uid}; the Xen devices and TAP creation need root`, EXIT.noperm);

  // The kernel backend: loaded (module or built in) or registered as the xen-backend "vif" driver.
  const loaded = existsSync(at('/sys/module/xen_netback'));
  const bound = existsSync(at('/sys/bus/xen-backend/drivers/vif'));
  if (loaded || bound) {
    add('xen-netback', 'refuse', `the kernel's xen-netback is ${bound ? 'registered for vif devices' : 'loaded'}; two backends on one vif would fight: rmmod xen-netback (and blacklist it) first`, EXIT.config);
  } else {
    add('xen-netback', 'ok', 'the kernel netback is not loaded');
  }

  const failing = items.filter((i) => i.verdict === 'missing' || i.verdict === 'refuse').map((i) => i.exit);
  const exitCode = failing.includes(EXIT.config) ? EXIT.config : failing.includes(EXIT.unavailable) ? EXIT.unavailable : failing.includes(EXIT.noperm) ? EXIT.noperm : EXIT.ok;
  return { items, exitCode, role };
}

export function hostEnvironment(root = '/'): CheckEnvironment {
  const reason = nativeUnavailableReason();
  return { root, uid: process.getuid?.() ?? -1, nativeAvailable: reason === undefined, nativeDetail: reason ?? `loads ${nativeAddonFile()}` };
}

export function formatReport(report: CheckReport): string {
  const mark: Record<CheckVerdict, string> = { ok: 'ok     ', missing: 'MISSING', refuse: 'REFUSE ', warn: 'warn   ' };
  const lines = report.items.map((i) => `${mark[i.verdict]} ${i.name}: ${i.detail}`);
  lines.push(report.exitCode === 0 ? 'ready: the daemon can start' : `not ready (exit ${report.exitCode})`);
  return lines.join('\n');
}

/** Whether a path can be opened read-write by this process (used by the daemon's error messages). */
export function writable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('preflight: what the daemon needs on this domain, and whether the kernel netback is in the way (exit 0/69/77/78)')
    .option('--root <dir>', 'probe paths under this directory instead of / (testing)', '/')
    .option('--json', 'print the report as JSON')
    .action((opts: { root: string; json?: boolean }) => {
      const report = runChecks(hostEnvironment(opts.root));
      process.stdout.write(`${opts.json === true ? JSON.stringify(report) : formatReport(report)}\n`);
      process.exitCode = report.exitCode;
    });
}
