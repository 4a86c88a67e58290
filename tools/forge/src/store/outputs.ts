import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { atExit } from '../at-exit.js';
import { isInnerPath, isObject, isStringMap, readJsonFile, writeFileAtomic } from '../json-file.js';
import { explainChange, type KeyInputs } from './content-key.js';
import { acquireLock, removeDeadDrafts, tryLock } from '../lock-file.js';

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
  /** Work slots this process holds, by the staging folder they serve, with what frees them. */
  private readonly work = new Map<string, () => void>();

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
    if (!manifest || manifest.key !== key || this.damagedFiles(project, id, manifest).length) return undefined;
    return manifest;
  }

  /** The files a manifest lists that are gone or no longer have their size and SHA-256. */
  damagedFiles(project: string, id: string, manifest: Manifest): string[] {
    return manifest.files
      .filter((entry) => {
        const path = join(this.taskDir(project, id), entry.file);
        return !existsSync(path) || statSync(path).size !== entry.size || sha256File(path) !== entry.sha256;
      })
      .map((entry) => entry.file);
  }

  /**
   * Why a variant with no valid output for `key` builds, for `forge plan`: never built, which inputs
   * changed, or (same inputs) which of its files were removed or changed since.
   */
  buildReason(project: string, id: string, key: string, inputs: KeyInputs): string {
    const previous = this.readManifest(project, id);
    if (!previous) return 'never built';
    if (previous.key === key) return `files of the last build removed or changed: ${this.damagedFiles(project, id, previous).join(', ')}`;
    return `inputs changed: ${explainChange(previous.inputs, inputs).join('; ')}`;
  }

  /** A failed attempt, kept so `forge plan` can tell that the same inputs will fail again. */
  recordFailure(project: string, id: string, key: string, tail: readonly string[]): void {
    writeFileAtomic(join(this.dir, '.failed', project, `${id}.json`), JSON.stringify({ key, at: new Date().toISOString(), tail }));
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
   * The scratch folder (source copy, build tree, environment, engine output)
   * of the attempt `staged`: `.staging/work-<n>`, the lowest slot no running
   * build holds, emptied first and removed with the attempt. Compilers write
   * their source and working folders into objects and debug information, and
   * the compile cache hashes them: in a path of the attempt's own every
   * rebuild missed, in one of the task's own the next variant of a project
   * missed. Builds one after another share slot 0, so a rebuild and the next
   * variant compile in the same place; builds at once take other slots.
   */
  workDir(staged: string): string {
    mkdirSync(join(this.dir, LOCKS), { recursive: true });
    for (let slot = 0; ; slot++) {
      const name = `${WORK}-${slot}`;
      const held = tryLock(join(this.dir, LOCKS, `${name}.lock`));
      if (!held) continue;
      const dir = join(this.dir, STAGING, name);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      mkdirSync(dir, { recursive: true });
      const forget = atExit(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
      this.work.set(staged, () => {
        forget();
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        held.release();
      });
      return dir;
    }
  }

  private releaseWork(staged: string): void {
    this.work.get(staged)?.();
    this.work.delete(staged);
  }

  /** Removes a staging folder that will not be published. */
  discard(staged: string): void {
    this.releaseWork(staged);
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
    this.releaseWork(staged);
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

/** One name per variant task for its lock, its staging folder and its kept build tree, so the sweep can tell which lock guards which folder. */
export function taskName(project: string, id: string): string {
  return `${project}-${id}`;
}

/**
 * A staging attempt, and its task's staging folder once no attempt is left.
 * Only the task's lock holder creates attempts there, so this cannot race.
 */
function removeAttempt(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
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
