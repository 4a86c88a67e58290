import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { COMPILE_CACHE_ENV, switchedOff } from '../engine/compile-cache.js';
import { isInnerPath, isObject, readJsonFile, writeFileAtomic } from '../json-file.js';
import { taskName } from './outputs.js';

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
 * content. A change ninja would not see (a new header, one no depfile names,
 * a moved link) drops the tree. What no file shows (the toolchain, the
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
  restore(task: string, sourceRoot: string, identity: string, tracked: (folder: string) => ReadonlySet<string> | undefined): Restored {
    const snapshot = snapshotFiles(sourceRoot);
    const kept = join(this.dir, task);
    if (!existsSync(kept)) return { snapshot, outcome: 'none kept: the build compiles every object' };
    try {
      const record = readJsonFile(join(kept, TREE_FILE), isTreeRecord);
      if (!record) return { snapshot, outcome: 'the kept one is damaged: dropped, the build compiles every object' };
      if (record.identity !== identity) return { snapshot, outcome: 'the kept one was built with another toolchain, variables, settings or folder: dropped, the build compiles every object' };
      if (record.folders.some((folder) => existsSync(join(sourceRoot, folder)))) return { snapshot, outcome: 'the source has its own object folders: the kept one is dropped' };
      // A link's time is never set: utimes would follow it and move its target's.
      const unchanged = Object.keys(snapshot).filter((path) => record.files[path]?.[0] === snapshot[path]![0] && !snapshot[path]![0].startsWith(LINK));
      const changed = Object.keys(snapshot).filter((path) => path in record.files && record.files[path]![0] !== snapshot[path]![0]);
      const added = Object.keys(snapshot).filter((path) => !(path in record.files));
      const gone = Object.keys(record.files).filter((path) => !(path in snapshot));
      const unsafe = this.unseen(sourceRoot, snapshot, record, kept, { changed, added, gone }, tracked);
      if (unsafe) return { snapshot, outcome: `${unsafe}: the kept one is dropped, the build compiles every object` };
      for (const path of unchanged) {
        const time = new Date(record.files[path]![1]);
        utimesSync(join(sourceRoot, path), time, time);
        snapshot[path] = [snapshot[path]![0], record.files[path]![1]];
      }
      for (const folder of record.folders) {
        mkdirSync(dirname(join(sourceRoot, folder)), { recursive: true });
        renameSync(join(kept, OBJECTS, folder), join(sourceRoot, folder));
      }
      return { snapshot, outcome: `the last build's objects are back (${record.folders.join(', ')}); ${changed.length + added.length} source file(s) new or changed since, ${gone.length} gone: ninja compiles what they touch` };
    } finally {
      rmSync(kept, { recursive: true, force: true });
    }
  }

  /**
   * Why a change to the source is one ninja would not see, if it is: a new
   * file that could be included (it may shadow a header the objects were
   * compiled with, or turn a `__has_include` true), a changed or removed one
   * that no depfile or ninja file of the kept tree names (a header reached
   * through `-isystem`, which g++'s `-MMD` leaves out), a symbolic link made
   * or moved. Changes to anything else (Python files, data) are safe.
   */
  private unseen(sourceRoot: string, snapshot: SourceSnapshot, record: TreeRecord, kept: string, change: { changed: string[]; added: string[]; gone: string[] }, tracked: (folder: string) => ReadonlySet<string> | undefined): string | undefined {
    const isLink = (entry: [string, number] | undefined) => entry?.[0].startsWith(LINK) === true;
    const link = [...change.changed, ...change.added, ...change.gone].find((path) => isLink(record.files[path]) || isLink(snapshot[path]));
    if (link) return `the symbolic link ${link} was made, moved or removed`;
    const added = change.added.find(includable);
    if (added) return `${added} is new and could be included in place of a file the kept objects were compiled with`;
    const touched = [...change.changed, ...change.gone].filter(includable);
    if (!touched.length) return undefined;
    const known = new Set<string>();
    for (const folder of record.folders) {
      const paths = tracked(join(kept, OBJECTS, folder));
      if (!paths) return `${touched[0]} changed and ninja's deps of the kept objects cannot be read`;
      // As ninja wrote them: absolute, or relative to where it ran (the folder's place in the source); `..` kept.
      for (const path of paths) known.add(resolve(join(sourceRoot, folder), path));
    }
    const untracked = touched.find((path) => !known.has(join(sourceRoot, path)));
    return untracked && `${untracked} changed and no depfile of the kept objects names it (a header ninja does not track)`;
  }

  /**
   * After a successful build: keeps the object folders it left in `buildDir`
   * (setuptools' `build/temp.*`) as the task's tree, replacing the last one.
   * Nothing is kept where the build system keeps no objects there; why not,
   * where it does but a file the build brought into the source (not in the
   * snapshot) is older than the build, as an unpacked archive's are: its next
   * version could come with a time older than the objects too.
   */
  keep(task: { readonly project: string; readonly name: string }, sourceRoot: string, buildDir: string, snapshot: SourceSnapshot, identity: string, builtSince: number): string | undefined {
    const build = join(buildDir, 'build');
    // lstat: a `build` link in the source would have the kept folders taken from wherever it points.
    const folders = existsSync(build) && lstatSync(build).isDirectory() ? readdirSync(build, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith('temp.')).map((e) => relative(sourceRoot, join(build, e.name))) : [];
    if (!folders.length) return undefined;
    const unrecorded = olderUnrecorded(sourceRoot, build, snapshot, builtSince);
    if (unrecorded) return `${unrecorded} came with the build (a download or an unpacked archive) with a time older than the build: a later change to it could look older than the objects`;
    const incoming = join(this.dir, `${task.name}${INCOMING}`);
    rmSync(incoming, { recursive: true, force: true });
    for (const folder of folders) {
      mkdirSync(dirname(join(incoming, OBJECTS, folder)), { recursive: true });
      renameSync(join(sourceRoot, folder), join(incoming, OBJECTS, folder));
    }
    const record: TreeRecord = { identity, folders, files: snapshot, project: task.project };
    writeFileAtomic(join(incoming, TREE_FILE), JSON.stringify(record));
    const kept = join(this.dir, task.name);
    rmSync(kept, { recursive: true, force: true });
    renameSync(incoming, kept);
    return undefined;
  }

  /**
   * Removes the project's trees whose variant is no longer one of `current`
   * (tree names): a variant gone from the matrix would keep its objects for
   * ever. Only trees that name the project in their record; one being written
   * is left to its writer. Returns the names removed.
   */
  prune(project: string, current: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const name of existsSync(this.dir) ? readdirSync(this.dir) : []) {
      // The name first: reading other projects' records (each holds its source snapshot) would cost every build.
      if (!name.startsWith(taskName(project, '')) || current.has(name) || name.endsWith(INCOMING)) continue;
      const record = readJsonFile(join(this.dir, name, TREE_FILE), isTreeRecord);
      if (record?.project !== project) continue;
      rmSync(join(this.dir, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}

/** The source files as a build saw them: relative path -> [sha256, modification time in ms]. */
export type SourceSnapshot = Record<string, [string, number]>;

export interface Restored {
  readonly snapshot: SourceSnapshot;
  /** What became of the kept tree, for the log. */
  readonly outcome: string;
}

/** One identity for what a tree's objects were compiled against besides the source (see BuildTrees). */
export function treeIdentity(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export const BUILD_TREES_ENV = 'FORGE_BUILD_TREES';

/** Kept build trees are off with FORGE_BUILD_TREES=off (or 0, false), and with the compile cache. */
export function buildTreesOff(env: NodeJS.ProcessEnv = process.env): boolean {
  return (switchedOff(BUILD_TREES_ENV, env) ?? switchedOff(COMPILE_CACHE_ENV, env)) !== undefined;
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
  "for d in sorted(m.distributions(), key=lambda d: (str(d.metadata['Name']), str(d.version), str(d.locate_file('')))):",
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
  /** The wheel project it belongs to (trees kept before 2026-12-05 lack it, and are never pruned). */
  readonly project?: string;
}

/** A symbolic link's entry in a snapshot: its target, not a hash (ninja follows it; forge never sets its time). */
const LINK = 'link:';

/** Files a compiler can be handed or an `#include` can name: C, C++ and CUDA sources and headers, and extensionless ones. */
const INCLUDABLE = /(\.(h|hh|hpp|hxx|h\+\+|cuh|inl|inc|ipp|tcc|tpp|def|c|cc|cpp|cxx|c\+\+|cu)|\/[^./]+|^[^./]+)$/i;

function includable(path: string): boolean {
  return INCLUDABLE.test(path);
}

function snapshotFiles(root: string): SourceSnapshot {
  const files: SourceSnapshot = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files[relative(root, path)] = [createHash('sha256').update(readFileSync(path)).digest('hex'), lstatSync(path).mtimeMs];
      else if (entry.isSymbolicLink()) files[relative(root, path)] = [`${LINK}${readlinkSync(path)}`, 0];
    }
  };
  walk(root);
  return files;
}

/** A file under `root` but outside `build` (setuptools copies with the sources' times there) that the snapshot lacks and that is older than `since`. */
function olderUnrecorded(root: string, build: string, snapshot: SourceSnapshot, since: number): string | undefined {
  const walk = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (path === build) continue;
      if (entry.isDirectory()) {
        const found = walk(path);
        if (found) return found;
      } else if (entry.isFile() && !(relative(root, path) in snapshot) && lstatSync(path).mtimeMs < since) return relative(root, path);
    }
    return undefined;
  };
  return walk(root);
}

function isTreeRecord(value: unknown): value is TreeRecord {
  return isObject(value) && typeof value.identity === 'string'
    && Array.isArray(value.folders) && value.folders.every(isInnerPath)
    && isObject(value.files) && Object.values(value.files).every((entry) => Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'number')
    && (value.project === undefined || typeof value.project === 'string');
}
