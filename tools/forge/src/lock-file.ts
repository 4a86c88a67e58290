import { closeSync, fstatSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { atExit } from './at-exit.js';
import { currentOwner, ownerAlive, type ProcessOwner } from './process-owner.js';

export interface HeldLock {
  release(): void;
}

let sequence = 0;

/**
 * Takes the lock if it is free or its owner is gone (see ownerAlive);
 * undefined while a live process holds it. The lock file is created with its
 * owner already in it (a private file hard-linked to the lock's name, which
 * fails if the name exists), so no reader ever sees an empty lock.
 */
export function tryLock(file: string): HeldLock | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    const created = create(file);
    if (created !== undefined) return held(file, created);
    const holder = readHolder(file);
    if (holder === 'released') continue;
    if (holder.alive) return undefined;
    breakStale(file, holder.ino);
  }
  return undefined;
}

/** Waits for the lock (polling: the holder may be another process), telling `onWait` once. */
export async function acquireLock(file: string, onWait?: () => void): Promise<HeldLock> {
  let waited = false;
  for (;;) {
    const lock = tryLock(file);
    if (lock) return lock;
    if (!waited) onWait?.();
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Removes the private files (`<lock>.<pid>.<n>.tmp` while creating, `.stale`
 * while breaking) that a process killed in those few instructions left in `dir`.
 */
export function removeDeadDrafts(dir: string, names: readonly string[]): void {
  for (const name of names) {
    const pid = /\.(\d+)\.\d+\.(?:tmp|stale)$/.exec(name)?.[1];
    if (pid && !ownerAlive({ host: hostname(), pid: Number(pid), start: '' })) rmSync(join(dir, name), { force: true });
  }
}

/** The lock file's inode, or undefined when another process holds the name. */
function create(file: string): number | undefined {
  const draft = `${file}.${process.pid}.${sequence++}.tmp`;
  writeFileSync(draft, JSON.stringify(currentOwner()));
  try {
    linkSync(draft, file);
    return statSync(draft).ino;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** Held until released, or until this process ends by any means signal-exit can see (exit, SIGINT, SIGTERM, …). */
function held(file: string, ino: number): HeldLock {
  const remove = () => {
    try {
      // Only our own file: a lock broken by mistake and retaken belongs to its new owner.
      if (statSync(file).ino === ino) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
  const forget = atExit(remove);
  return {
    release() {
      forget();
      remove();
    },
  };
}

function readHolder(file: string): { alive: boolean; ino: number } | 'released' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'released';
    throw error;
  }
  try {
    const { ino, mtimeMs } = fstatSync(fd);
    const owner = parseOwner(readFileSync(fd, 'utf8'));
    // An unreadable lock (written by an older wv-forge, which created it empty and then wrote its pid) gets a few seconds.
    return { alive: owner ? ownerAlive(owner) : Date.now() - mtimeMs < 5_000, ino };
  } finally {
    closeSync(fd);
  }
}

function parseOwner(text: string): ProcessOwner | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'number') return { host: hostname(), pid: value, start: '' };
    if (value && typeof value === 'object' && typeof (value as ProcessOwner).pid === 'number') return value as ProcessOwner;
  } catch {
    // fall through
  }
  return undefined;
}

/**
 * Removes a dead owner's lock, and only that one: the file is moved aside
 * first, and if it turns out to be a newer lock (another process broke the
 * stale one and took the lock in between), it is linked back.
 */
function breakStale(file: string, staleIno: number): void {
  const aside = `${file}.${process.pid}.${sequence++}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if (statSync(aside).ino !== staleIno) linkSync(aside, file);
  } catch {
    // A third process took the name meanwhile: two holders now, which costs
    // a duplicate build at worst, since results are moved into place by rename.
  } finally {
    rmSync(aside, { force: true });
  }
}
