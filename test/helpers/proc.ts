// A process's memory and CPU as Linux reports them in /proc: for the tests that bound a server's growth
// under attack and for the benches that print memory and CPU figures.
import { readFileSync } from 'node:fs';

/** The number in a /proc/PID/status line (kB for the Vm* and Rss* keys), NaN when absent. */
function statusField(status: string, key: string): number {
  return Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? Number.NaN);
}

/** Resident memory of a process, in MB. */
export function rssMb(pid: number | 'self'): number {
  return statusField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') / 1024;
}

/** Resident memory of a process and all its descendants, in MB. */
export function treeRssMb(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {}
  return (rssMb(pid) || 0) + children.reduce((sum, c) => sum + treeRssMb(c), 0);
}

/**
 * A process's resident memory in MB, named after `who`: now, anonymous, file-backed, its peak over its life
 * (VmHWM); and its threads.
 */
export function procStatus(pid: number | 'self', who = 'server'): Record<string, number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string) => Math.round(statusField(status, key) / 1024);
  return {
    [`${who}_rss_mb`]: mb('VmRSS'),
    [`${who}_rss_anon_mb`]: mb('RssAnon'),
    [`${who}_rss_file_mb`]: mb('RssFile'),
    [`${who}_life_peak_rss_mb`]: mb('VmHWM'),
    [`${who}_threads`]: statusField(status, 'Threads'),
  };
}

/** A process's CPU time so far, user and system, all threads (/proc/PID/stat, in clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
