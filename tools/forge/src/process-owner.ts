import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who holds a lock or a staging folder. A pid alone is not enough to tell a
 * dead owner from a live one: pids are reused, so the process's start time
 * (Linux: clock ticks since boot, from /proc) goes with it. On systems
 * without /proc the start is empty and only the pid is checked.
 */
export interface ProcessOwner {
  readonly host: string;
  readonly pid: number;
  readonly start: string;
}

export function currentOwner(): ProcessOwner {
  return { host: hostname(), pid: process.pid, start: processStart(process.pid) ?? '' };
}

/**
 * False only when the owner is certainly gone: same host, and no process
 * with that pid, or one that started at another time (a reused pid). An
 * owner on another host (an output folder on a shared file system) counts
 * as alive, since nothing here can see its processes.
 */
export function ownerAlive(owner: ProcessOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(owner.pid);
  return !owner.start || start === undefined || start === owner.start;
}

/** Field 22 of /proc/<pid>/stat; the command name before it may hold spaces and parentheses, so count from the last `)`. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
