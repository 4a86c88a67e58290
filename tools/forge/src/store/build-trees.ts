import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { isInnerPath, isObject, readJsonFile, writeFileAtomic } from '../json-file.js';

/**
 * Kept build trees: the object folders of a variant's last successful build
 * (setuptools' `build/temp.*`, where torch's cpp_extension keeps its objects,
 * build.ninja and ninja's log and deps), put back into the next build of the
 * same variant, so ninja compiles only the objects whose sources or commands
 * changed. The compile cache still has to preprocess every file to find a hit
 * (nvcc's once per architecture); here an unchanged object is not looked at.
 *
 * ninja judges by modification times, and every build copies its source
 * afresh, so the times are made to tell the truth: a file whose content is the
 * one the kept objects were compiled from gets back the time it had then
 * (older than those objects); a changed or new file keeps the copy's time
 * (newer than any of them), and so does a file an edit put back to older
 * content. What no command line or depfile shows (the toolchain, the
 * variables compilers read, the variant, the upstream wheels, the build's
 * settings, the folder it compiles in) is the tree's identity: a tree of
 * another identity is dropped, not reused.
 */
export class BuildTrees {
  constructor(private readonly dir: string) {}

  /**
   * Before a build, after its source is copied and patched: records the source
   * files, and where the task has a kept tree of the same identity, moves its
   * object folders into `sourceRoot` and sets the times of the unchanged files.
   * Call it while holding the task's lock: the tree goes into this build (a
   * failed or interrupted build takes it with its folder, and the next one
   * compiles what it needs).
   */
  restore(task: string, sourceRoot: string, identity: string): Restored {
    const snapshot = snapshotFiles(sourceRoot);
    const kept = join(this.dir, task);
    if (!existsSync(kept)) return { snapshot, outcome: 'none kept: the build compiles every object' };
    try {
      const record = readJsonFile(join(kept, TREE_FILE), isTreeRecord);
      if (!record) return { snapshot, outcome: 'the kept one is damaged: dropped, the build compiles every object' };
      if (record.identity !== identity) return { snapshot, outcome: 'the kept one was built with another toolchain, variables, settings or folder: dropped, the build compiles every object' };
      if (record.folders.some((folder) => existsSync(join(sourceRoot, folder)))) return { snapshot, outcome: 'the source has its own object folders: the kept one is dropped' };
      let changed = 0;
      for (const [path, [sha256]] of Object.entries(snapshot)) {
        const was = record.files[path];
        if (was && was[0] === sha256) {
          const time = new Date(was[1]);
          utimesSync(join(sourceRoot, path), time, time);
          snapshot[path] = [sha256, was[1]];
        } else changed++;
      }
      for (const folder of record.folders) {
        mkdirSync(dirname(join(sourceRoot, folder)), { recursive: true });
        renameSync(join(kept, OBJECTS, folder), join(sourceRoot, folder));
      }
      const gone = Object.keys(record.files).filter((path) => !(path in snapshot)).length;
      return { snapshot, outcome: `the last build's objects are back (${record.folders.join(', ')}); ${changed} source file(s) new or changed since, ${gone} gone: ninja compiles what they touch`, reused: true };
    } finally {
      rmSync(kept, { recursive: true, force: true });
    }
  }

  /**
   * After a successful build: keeps the object folders it left in `buildDir`
   * (setuptools' `build/temp.*`) as the task's tree, replacing the last one.
   * Returns the folders kept, relative to `sourceRoot` (none where the build
   * system keeps no objects there).
   */
  keep(task: string, sourceRoot: string, buildDir: string, snapshot: SourceSnapshot, identity: string): string[] {
    const build = join(buildDir, 'build');
    const folders = existsSync(build) ? readdirSync(build, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith('temp.')).map((e) => relative(sourceRoot, join(build, e.name))) : [];
    if (!folders.length) return [];
    const incoming = join(this.dir, `${task}${INCOMING}`);
    rmSync(incoming, { recursive: true, force: true });
    for (const folder of folders) {
      mkdirSync(dirname(join(incoming, OBJECTS, folder)), { recursive: true });
      renameSync(join(sourceRoot, folder), join(incoming, OBJECTS, folder));
    }
    const record: TreeRecord = { identity, folders, files: snapshot };
    writeFileAtomic(join(incoming, TREE_FILE), JSON.stringify(record));
    const kept = join(this.dir, task);
    rmSync(kept, { recursive: true, force: true });
    renameSync(incoming, kept);
    return folders;
  }
}

/** The source files as a build saw them: relative path -> [sha256, modification time in ms]. */
export type SourceSnapshot = Record<string, [string, number]>;

export interface Restored {
  readonly snapshot: SourceSnapshot;
  /** What became of the kept tree, for the log. */
  readonly outcome: string;
  readonly reused?: true;
}

/** One identity for what a tree's objects were compiled against besides the source (see BuildTrees). */
export function treeIdentity(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The kept trees' folder in a store: `<wheelhouse>/.build-trees/<project>-<variant>/`. */
export const BUILD_TREES = '.build-trees';

/**
 * Python, run by the build's interpreter: one digest of its installed
 * distributions, their names, versions and RECORD files (which list every
 * installed file's hash), so a package upgraded in place changes it even where
 * the installer kept old modification times (uv links files from its cache).
 */
export const INSTALLED_DISTRIBUTIONS_DIGEST = [
  'import hashlib, importlib.metadata as m',
  'h = hashlib.sha256()',
  "for d in sorted(m.distributions(), key=lambda d: (str(d.metadata['Name']), d.version, str(d.locate_file('')))):",
  "    h.update(f\"{d.metadata['Name']}=={d.version}\\n\".encode()); h.update((d.read_text('RECORD') or '').encode())",
  'print(h.hexdigest())',
].join('\n');

const TREE_FILE = 'tree.json';
const OBJECTS = 'objects';
/** A tree being written: the kept one is replaced by a rename; the next keep removes what an interrupted one left. */
const INCOMING = '.incoming';

interface TreeRecord {
  readonly identity: string;
  readonly folders: string[];
  readonly files: SourceSnapshot;
}

function snapshotFiles(root: string): SourceSnapshot {
  const files: SourceSnapshot = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files[relative(root, path)] = [createHash('sha256').update(readFileSync(path)).digest('hex'), lstatSync(path).mtimeMs];
    }
  };
  walk(root);
  return files;
}

function isTreeRecord(value: unknown): value is TreeRecord {
  return isObject(value) && typeof value.identity === 'string'
    && Array.isArray(value.folders) && value.folders.every(isInnerPath)
    && isObject(value.files) && Object.values(value.files).every((entry) => Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'number');
}
