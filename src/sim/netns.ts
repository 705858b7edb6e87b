// Network namespaces of a run's own (the TAP suites, the tap_e2e benchmark), the `ip` commands
// that configure them, and processes run inside them with their stdout read as lines. Every wait
// is bounded; traffic inside a namespace never leaves the machine. Node only, root only.

import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A name made unique by random hex after the prefix, cut to an interface name's 15 bytes. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

export async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

export async function linkJson(name: string, netns?: string, ...flags: string[]): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await ip(...(netns ? ['-n', netns] : []), '-j', ...flags, 'link', 'show', 'dev', name);
    return (JSON.parse(out) as Record<string, unknown>[])[0];
  } catch {
    return undefined;
  }
}

/** The names of the namespaces `ip netns add` made (those in /run/netns). */
export async function netnsNames(): Promise<string[]> {
  const out = await ip('-j', 'netns', 'list');
  return out.trim() === '' ? [] : (JSON.parse(out) as Array<{ name: string }>).map((ns) => ns.name);
}

/** A named network namespace (`ip netns add`): it outlives this process unless destroy() runs. */
export class Netns {
  readonly name: string;
  private children = new Set<ChildProcessWithoutNullStreams>();

  /** `name`: the whole name, or a prefix that uniqueName() completes. */
  constructor(name: string, options: { exact?: boolean } = {}) {
    this.name = options.exact ? name : uniqueName(name);
  }

  async create(): Promise<void> {
    await ip('netns', 'add', this.name);
    await ip('-n', this.name, 'link', 'set', 'lo', 'up');
    // No IPv6 autoconfiguration chatter (RS, MLD, DAD) among the frames the tests read.
    for (const scope of ['all', 'default']) await this.exec('sysctl', '-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`);
  }

  async exec(...args: string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', this.name, ...args], { timeout: 10_000 });
    return stdout;
  }

  /** Runs `node -e script` inside the namespace; killed by destroy() at the latest. */
  node(script: string): NsProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, process.execPath, '-e', script]);
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return new NsProcess(child);
  }

  /** Kills what runs inside and deletes the namespace; idempotent, never throws. */
  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await ip('netns', 'del', this.name).catch(() => undefined);
  }
}

/** A child process's stdout as lines, with a bounded wait for a line matching a pattern. */
export class NsProcess {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  private stderr = '';

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { this.stderr += chunk; });
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        this.lines.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  waitFor(match: RegExp, timeoutMs = 10_000): Promise<string> {
    const found = new Promise<string>((resolve) => {
      const check = (): void => {
        const line = this.lines.find((l) => match.test(l));
        if (line !== undefined) resolve(line);
        else this.waiters.push(check);
      };
      check();
    });
    return withTimeout(found, timeoutMs, `a line matching ${match} (stderr: ${this.stderr.trim() || 'empty'})`);
  }

  /** Sends a signal (default SIGKILL); a process that already exited is left alone. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
