// The CPU time of one thread of this process (user + system), read from /proc: what the tap_e2e
// rows charge to the backend's thread(s), so a figure per backend core holds on a shared machine
// where wall-clock rates do not. Linux only.
// see: proc(5) /proc/[pid]/task/[tid]/schedstat (first field: ns on the CPU), /proc/[pid]/task/[tid]/stat (utime, stime)

import { readFileSync, readlinkSync } from 'node:fs';

/** The calling thread's kernel thread id (the main thread's is the pid). */
export function currentThreadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/** CPU seconds (user + system) thread `tid` of this process has used so far. */
export function threadCpuSeconds(tid: number): number {
  const task = `/proc/${process.pid}/task/${tid}`;
  try {
    return Number(readFileSync(`${task}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    // without CONFIG_SCHED_INFO: clock ticks (10 ms each at USER_HZ 100)
    const stat = readFileSync(`${task}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }
}
