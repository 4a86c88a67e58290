import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { atExit } from '../at-exit.js';
import { isInnerPath, isObject, isStringMap, readJsonFile } from '../json-file.js';
import type { KeyInputs } from './content-key.js';
import { acquireLock, removeDeadDrafts, tryLock } from './lock-file.js';

/** What a finished build left: written last, so its presence means the build completed. */
export interface Manifest {
  readonly project: string;
  readonly id: string;
  readonly key: string;
  readonly inputs: KeyInputs;
  readonly files: ReadonlyArray<{ file: string; sha256: string; size: number }>;
  readonly builtAt: string;
  readonly seconds: number;
  /** Set when the artifacts were found on this channel instead of built. */
  readonly channel?: string;
}

/** A failed attempt: its key, when, and the last lines of its log. */
export interface Failure {
  readonly key: string;
  readonly at: string;
  readonly tail: string[];
}

export const MANIFEST = 'manifest.json';
/** Only the key, so downstream Nx hashes do not change with a rebuild's timestamp. */
export const KEY_FILE = 'content-key';

/**
 * The local outputs: `output/<project>/<variant>/` is a conda channel
 * (`<subdir>/*.conda` + repodata.json, written by the engine) plus the
 * manifest. Each variant task owns its folder, so parallel builds never
 * share an index.
 */
export class OutputStore {
  private attempts = 0;
  /** Staging folders of this process not yet published or discarded, with the exit hook that removes them. */
  private readonly unpublished = new Map<string, () => void>();

  constructor(readonly dir: string) {}

  taskDir(project: string, id: string): string {
    return join(this.dir, project, id);
  }

  /** The manifest as forge writes it; a damaged one counts as none, so the variant builds again. */
  readManifest(project: string, id: string): Manifest | undefined {
    return readJsonFile(join(this.taskDir(project, id), MANIFEST), isManifest);
  }

  /** The variant ids of a project that have a build here, current or from an earlier matrix. */
  builtIds(project: string): string[] {
    let ids: string[];
    try {
      ids = readdirSync(join(this.dir, project));
    } catch {
      return [];
    }
    return ids.filter((id) => existsSync(join(this.taskDir(project, id), MANIFEST))).sort();
  }

  /** The manifest if it matches the key and every file it lists is intact. */
  valid(project: string, id: string, key: string): Manifest | undefined {
    const manifest = this.readManifest(project, id);
    if (!manifest || manifest.key !== key) return undefined;
    for (const entry of manifest.files) {
      const path = join(this.taskDir(project, id), entry.file);
      if (!existsSync(path) || statSync(path).size !== entry.size || sha256File(path) !== entry.sha256) return undefined;
    }
    return manifest;
  }

  /** A failed attempt, kept so `forge plan` can tell that the same inputs will fail again. */
  recordFailure(project: string, id: string, key: string, tail: readonly string[]): void {
    const dir = join(this.dir, '.failed', project);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${id}.json`);
    writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify({ key, at: new Date().toISOString(), tail }));
    renameSync(`${file}.${process.pid}.tmp`, file);
  }

  failure(project: string, id: string): Failure | undefined {
    return readJsonFile(join(this.dir, '.failed', project, `${id}.json`), isFailure);
  }

  clearFailure(project: string, id: string): void {
    rmSync(join(this.dir, '.failed', project, `${id}.json`), { force: true });
  }

  /**
   * A private folder for one build attempt, inside the store so the final
   * rename stays on one file system. Until it is published or discarded, it
   * is removed if this process ends (exit, SIGINT, SIGTERM): a CUDA build's
   * work folder is gigabytes. Call it only while holding the task's lock.
   */
  stagingDir(project: string, id: string): string {
    const dir = join(this.dir, STAGING, taskName(project, id), `${process.pid}-${this.attempts++}`);
    mkdirSync(dir, { recursive: true });
    this.unpublished.set(dir, atExit(() => removeAttempt(dir)));
    return dir;
  }

  /**
   * The scratch folder (source copy, build tree, environment) of the attempt
   * `staged`, emptied first and removed with the attempt. Its path depends only
   * on the task, not on the attempt: compilers write their source and working
   * folders into objects and debug information, so the compile cache hits on a
   * rebuild only when the tree stays where it was. The task's lock makes the
   * one path safe.
   */
  workDir(staged: string): string {
    const dir = join(dirname(staged), WORK);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Removes a staging folder that will not be published. */
  discard(staged: string): void {
    this.unpublished.get(staged)?.();
    this.unpublished.delete(staged);
    removeAttempt(staged);
  }

  /**
   * Moves a finished build into place: the staged folder (channel + manifest
   * already written) replaces the task's folder by rename, so readers see the
   * old complete folder or the new complete one, never a mix.
   */
  publish(staged: string, project: string, id: string): void {
    const target = this.taskDir(project, id);
    mkdirSync(join(this.dir, project), { recursive: true });
    const old = `${staged}.old`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(staged, target);
    this.unpublished.get(staged)?.();
    this.unpublished.delete(staged);
    removeAttempt(old);
  }

  /** Serialises builds of the same variant across processes (two `nx run-many` at once). */
  async lock<T>(project: string, id: string, run: () => Promise<T>, onWait?: () => void): Promise<T> {
    mkdirSync(join(this.dir, LOCKS), { recursive: true });
    const held = await acquireLock(this.lockFile(project, id), onWait);
    try {
      return await run();
    } finally {
      held.release();
    }
  }

  /**
   * Removes what builds of dead processes left (a process killed with
   * SIGKILL, a machine that lost power): the staging folders of every task
   * whose lock is free or held by a dead owner, and those locks. A task whose
   * lock a live process holds is left alone: that build is running.
   */
  sweep(): void {
    const staged = readdirIfAny(join(this.dir, STAGING));
    if (staged.length) mkdirSync(join(this.dir, LOCKS), { recursive: true });
    for (const name of staged) {
      const held = tryLock(join(this.dir, LOCKS, `${name}.lock`));
      if (!held) continue;
      try {
        rmSync(join(this.dir, STAGING, name), { recursive: true, force: true, maxRetries: 3 });
      } finally {
        held.release();
      }
    }
    const locks = readdirIfAny(join(this.dir, LOCKS));
    for (const name of locks.filter((n) => n.endsWith('.lock'))) tryLock(join(this.dir, LOCKS, name))?.release();
    removeDeadDrafts(join(this.dir, LOCKS), locks);
  }

  private lockFile(project: string, id: string): string {
    return join(this.dir, LOCKS, `${taskName(project, id)}.lock`);
  }

}

const STAGING = '.staging';
const WORK = 'work';
const LOCKS = '.locks';

/** One name per variant task for its lock and its staging folder, so the sweep can tell which lock guards which folder. */
function taskName(project: string, id: string): string {
  return `${project}-${id}`;
}

/**
 * A staging attempt, and its task's staging folder once no attempt is left.
 * Only the task's lock holder creates attempts there, so this cannot race.
 */
function removeAttempt(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  rmSync(join(dirname(dir), WORK), { recursive: true, force: true, maxRetries: 3 });
  try {
    rmdirSync(dirname(dir));
  } catch {
    // another attempt is still there, or the folder is gone already
  }
}

function isManifest(value: unknown): value is Manifest {
  if (!isObject(value) || typeof value.key !== 'string' || typeof value.builtAt !== 'string' || !Array.isArray(value.files)) return false;
  const inputs = value.inputs;
  return isObject(inputs) && isStringMap(inputs.files) && isObject(inputs.variant) && Object.values(inputs.variant).every(isObject)
    && isStringMap(inputs.upstream) && typeof inputs.engine === 'string'
    && (inputs.source === undefined || isStringMap(inputs.source)) && (inputs.toolchain === undefined || isStringMap(inputs.toolchain))
    && value.files.every((entry: unknown) => isObject(entry) && isInnerPath(entry.file) && typeof entry.sha256 === 'string' && typeof entry.size === 'number');
}

function isFailure(value: unknown): value is Failure {
  return isObject(value) && typeof value.key === 'string' && typeof value.at === 'string' && Array.isArray(value.tail) && value.tail.every((line) => typeof line === 'string');
}

function readdirIfAny(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
