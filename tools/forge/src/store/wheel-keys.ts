import { join, posix } from 'node:path';
import { inFile, isForgeError } from '../errors.js';
import type { WheelProject, WheelTask } from '../graph/wheel-graph.js';
import { folderFiles, hashInputs, UNCOPIED_SOURCE_FILES, type ContentKey, type KeyInputs } from './content-key.js';
import type { SourceCache } from './source-cache.js';


/** Bumped when forge's wheel steps (labelling, placement) change their output for the same inputs. */
export const WHEEL_PIPELINE = 'forge-wheel 1';

/** A wheel project's source: what goes into the key, and where its files are once fetched. */
export interface ResolvedWheelSource {
  /** `{git, commit[, subdirectory]}` or `{path[, subdirectory]}`: never a tag or branch name. */
  readonly id: Readonly<Record<string, string>>;
  /** The commit of a git source; undefined for a local folder. */
  readonly commit: string | undefined;
}

/**
 * The exact source of a project: a git `rev` as is, a `tag` through the source
 * cache (resolved once, then recorded). `offline` answers from the record only,
 * with undefined when the tag was never resolved.
 */
export async function resolveWheelSource(project: WheelProject, sources: SourceCache, offline = false): Promise<ResolvedWheelSource | undefined> {
  const { source } = project.spec;
  const sub: Record<string, string> = source.subdirectory ? { subdirectory: source.subdirectory } : {};
  if (source.kind === 'path') return { id: { path: posix.relative(project.root, source.path), ...sub }, commit: undefined };
  const commit = source.rev ?? (offline ? sources.recordedTag(source.url, source.tag!) : await atSource(project, () => sources.resolveTag(source.url, source.tag!)));
  return commit ? { id: { git: source.url, commit, ...sub }, commit } : undefined;
}

/** The files of a git project's resolved commit, fetched into the source cache if need be. */
export function wheelSourceTree(project: WheelProject, sources: SourceCache, commit: string, log: (line: string) => void): Promise<string> {
  const { source } = project.spec;
  if (source.kind !== 'git') throw new Error(`${project.name} has no git source`);
  return atSource(project, () => sources.tree(source.url, commit, log));
}

/** A missing tag or commit, an unreachable remote: the error names wheel.yaml's `rev` or `tag` line. */
async function atSource<T>(project: WheelProject, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!isForgeError(error)) throw error;
    const { source } = project.spec;
    throw inFile(error, project.file, project.spec.yaml.lineOf(['source', source.kind === 'git' && source.rev ? 'rev' : 'tag']));
  }
}

/**
 * A wheel task's content key: the project's wheel folder (wheel.yaml, patches),
 * a local source outside it, the resolved source, the variant
 * values, the upstream wheel tasks' keys and the toolchain (environment kind,
 * python, nvcc, torch, compiler, image).
 */
export function wheelKey(
  root: string,
  project: WheelProject,
  task: WheelTask,
  parts: { readonly source: ResolvedWheelSource; readonly toolchain: Readonly<Record<string, string>>; readonly upstream: Readonly<Record<string, string>> },
): ContentKey {
  const wheelDir = posix.dirname(project.file);
  // Patches are inside the wheel folder (wheel.yaml refuses one that leaves it), so its listing has them.
  const files: Record<string, string> = { ...folderFiles(join(root, wheelDir)) };
  const { source } = project.spec;
  if (source.kind === 'path') {
    for (const [file, hash] of Object.entries(folderFiles(join(root, source.path), UNCOPIED_SOURCE_FILES))) files[`${posix.relative(wheelDir, source.path)}/${file}`] = hash;
  }
  const inputs: KeyInputs = {
    files,
    variant: { [project.spec.name]: { ...task.values } },
    upstream: parts.upstream,
    engine: WHEEL_PIPELINE,
    source: parts.source.id,
    toolchain: parts.toolchain,
  };
  return { key: hashInputs(inputs), inputs };
}
