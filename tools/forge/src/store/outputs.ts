import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyInputs } from './content-key.js';

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
  constructor(readonly dir: string) {}

  taskDir(project: string, id: string): string {
    return join(this.dir, project, id);
  }

  readManifest(project: string, id: string): Manifest | undefined {
    try {
      return JSON.parse(readFileSync(join(this.taskDir(project, id), MANIFEST), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
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

  failure(project: string, id: string): { key: string; at: string; tail: string[] } | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, '.failed', project, `${id}.json`), 'utf8')) as { key: string; at: string; tail: string[] };
    } catch {
      return undefined;
    }
  }

  clearFailure(project: string, id: string): void {
    rmSync(join(this.dir, '.failed', project, `${id}.json`), { force: true });
  }

  /** A private folder for one build attempt, inside the store so the final rename stays on one file system. */
  stagingDir(project: string, id: string): string {
    const dir = join(this.dir, '.staging', `${project}-${id}-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    return dir;
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
    rmSync(old, { recursive: true, force: true });
  }

  /** Serialises builds of the same variant across processes (two `nx run-many` at once). */
  async lock<T>(project: string, id: string, run: () => Promise<T>, onWait?: () => void): Promise<T> {
    mkdirSync(join(this.dir, '.locks'), { recursive: true });
    const file = join(this.dir, '.locks', `${project}-${id}.lock`);
    let waited = false;
    for (;;) {
      try {
        closeSync(openSync(file, 'wx'));
        writeFileSync(file, String(process.pid));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (staleLock(file)) {
          rmSync(file, { force: true });
          continue;
        }
        if (!waited) onWait?.();
        waited = true;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    try {
      return await run();
    } finally {
      rmSync(file, { force: true });
    }
  }
}

/** A lock whose owner process is gone. */
function staleLock(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (!pid) return Date.now() - statSync(file).mtimeMs > 5_000;
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
