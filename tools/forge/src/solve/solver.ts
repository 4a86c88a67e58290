import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PLUGIN_NAME, type ForgeOptions } from '../config/forge-config.js';
import { embeddedPython } from '../engine/engine.js';
import { ForgeError, isForgeError } from '../errors.js';
import { isObject, readJsonFile, writeFileAtomic } from '../json-file.js';
import type { RecipeGraph, VariantTask } from '../graph/recipe-graph.js';
import { closure } from '../graph/task-order.js';
import { buildChannels } from '../store/channels.js';
import { runDepends, taskEnvironments, type Environment, type EnvironmentKind } from './environments.js';
import { writePredictedChannel } from './predicted-channel.js';

/** The solver front's exit code for a channel it cannot read (forge_solve.py). */
const UNREADABLE_CHANNEL_EXIT = 3;

/** A channel that cannot be read: solving again or skipping the solve does not help, another channel URL does. */
export class UnreadableChannelError extends ForgeError {}

/** The solver front over py-rattler, shipped in this package. */
export const SOLVE_FRONT = fileURLToPath(new URL('../../python/forge_solve.py', import.meta.url));

/** Why a requirement cannot be met: no such package, no matching version, not a match spec, or no set of packages that fits together. */
export type ProblemKind = 'missing' | 'version' | 'invalid' | 'conflict';

export interface SolveProblem {
  readonly package: string;
  readonly environment: EnvironmentKind;
  /** The match spec (empty for a conflict among several). */
  readonly spec: string;
  readonly kind: ProblemKind;
  readonly detail: string;
}

/** The outcome of solving one variant task, kept in `<outputDir>/.solve/<project>/<variant>.json`. */
export interface SolveRecord {
  readonly project: string;
  readonly variant: string;
  /** Hash of what the outcome depends on: the environments, the channels, the predicted packages, the CONDA_OVERRIDE_* values. */
  readonly key: string;
  readonly solvable: boolean;
  readonly problems: readonly SolveProblem[];
  readonly channels: readonly string[];
  readonly at: string;
  /** The Nx invocation that solved it (`NX_INVOCATION_ANCESTOR_PIDS`), so its other solve tasks reuse it. */
  readonly run?: string;
}

export const SOLVE_DIR = '.solve';
export { SKIP_SOLVE_ENV } from '../config/forge-config.js';
const OVERRIDES = ['CONDA_OVERRIDE_CUDA', 'CONDA_OVERRIDE_GLIBC', 'CONDA_OVERRIDE_ARCHSPEC'];

interface FrontAnswer {
  readonly virtualPackages: string[];
  readonly environments: Array<{ id: string; problems: Array<{ spec: string; kind: ProblemKind; detail: string }> }>;
}

/** What solving is about to ask, before asking: the channels in order and each task's environments and key. */
export interface SolveJob {
  readonly channels: readonly string[];
  readonly tasks: ReadonlyArray<{ readonly task: VariantTask; readonly environments: readonly Environment[]; readonly key: string }>;
}

/**
 * Prepares the solve of the given tasks: writes the predicted channel and
 * lists the channels as a build of the task would use them (upstream
 * outputs, here predicted, then artifact channels, then channels).
 */
export function prepareSolve(root: string, options: ForgeOptions, graph: RecipeGraph, tasks: readonly VariantTask[]): SolveJob {
  const predicted = writePredictedChannel(join(root, options.outputDir, SOLVE_DIR), graph, options.targetPlatform);
  let readable: ReturnType<typeof buildChannels>;
  try {
    readable = buildChannels(options, root);
  } catch (error) {
    // A missing channel folder fails the build as well: no hint to skip the solve.
    throw isForgeError(error) ? new UnreadableChannelError(error.message, { file: error.file, line: error.line }) : error;
  }
  const channels = [...new Set([pathToFileURL(predicted.path).href, ...readable.artifactChannels, ...readable.channels])];
  const overrides = OVERRIDES.map((name) => `${name}=${process.env[name] ?? ''}`);
  return {
    channels,
    tasks: tasks.map((task) => {
      const environments = taskEnvironments(task);
      // The predicted packages it can reach, not all of them: an edit elsewhere leaves its outcome current.
      const upstream = closure(graph, task).map((t) => [t.project, t.id, t.outputs.map((o) => [o.file, runDepends(o, t.outputs)])]);
      const key = createHash('sha256')
        .update(JSON.stringify({ environments: environments.map((e) => [e.id, e.specs]), upstream, channels: channels.slice(1), overrides, platform: options.targetPlatform }))
        .digest('hex');
      return { task, environments, key };
    }),
  };
}

/** Solves every environment of the job's tasks in one run of the solver front. */
export async function runSolve(root: string, options: ForgeOptions, job: SolveJob, run?: string): Promise<{ records: SolveRecord[]; virtualPackages: string[] }> {
  const python = embeddedPython(root);
  if (!python) throw new ForgeError('solving needs py-rattler in the embedded engine: run `npm run setup:engine`');
  const environments = job.tasks.flatMap((t) => t.environments);
  const answer = environments.length
    ? (JSON.parse(await runFront(python, { channels: job.channels, platform: options.targetPlatform, environments: environments.map((e) => ({ id: e.id, specs: e.specs })) })) as FrontAnswer)
    : { virtualPackages: [], environments: [] };
  const byId = new Map(answer.environments.map((e) => [e.id, e.problems]));
  const at = new Date().toISOString();
  const records = job.tasks.map(({ task, environments: envs, key }) => {
    const problems = envs.flatMap((env) => (byId.get(env.id) ?? []).map((p) => ({ package: env.package, environment: env.kind, spec: p.spec, kind: p.kind, detail: p.detail })));
    return { project: task.project, variant: task.id, key, solvable: problems.length === 0, problems, channels: job.channels.slice(1), at, ...(run ? { run } : {}) };
  });
  return { records, virtualPackages: answer.virtualPackages };
}

function runFront(python: string, input: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [SOLVE_FRONT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => reject(new ForgeError(`the solver front does not run: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) return resolve(stdout);
      const line = (stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}`).replace(/^error: /, '');
      if (code === UNREADABLE_CHANNEL_EXIT) {
        reject(new UnreadableChannelError(`${line} (without network, set \`channels\` and \`artifactChannels\` of ${PLUGIN_NAME} in nx.json to a mirror or a local channel folder)`));
      } else reject(new ForgeError(`solving failed: ${line}`));
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** One line per problem: `host: ccimport >=0.4.4: no such package on any channel`. */
export function describeProblem(problem: SolveProblem): string {
  const spec = problem.spec ? `${problem.spec}: ` : '';
  return `${problem.environment} of ${problem.package}: ${spec}${problem.detail}`;
}

/** The reasons of an unsolvable record, one line, for plan and the build log. */
export function describeRecord(record: SolveRecord): string {
  return record.problems.map(describeProblem).join('; ');
}

export function recordFile(root: string, options: ForgeOptions, project: string, variant: string): string {
  return join(root, options.outputDir, SOLVE_DIR, project, `${variant}.json`);
}

export function writeRecord(root: string, options: ForgeOptions, record: SolveRecord): void {
  const file = recordFile(root, options, record.project, record.variant);
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}

/** The last outcome of a variant's solve; a damaged record counts as none, so it is solved again. */
export function readRecord(root: string, options: ForgeOptions, project: string, variant: string): SolveRecord | undefined {
  return readJsonFile(recordFile(root, options, project, variant), isSolveRecord);
}

function isSolveRecord(value: unknown): value is SolveRecord {
  return isObject(value) && typeof value.project === 'string' && typeof value.variant === 'string' && typeof value.key === 'string'
    && typeof value.solvable === 'boolean' && typeof value.at === 'string'
    && Array.isArray(value.channels) && value.channels.every((channel) => typeof channel === 'string')
    && Array.isArray(value.problems) && value.problems.every((problem: unknown) => isObject(problem) && ['package', 'environment', 'spec', 'kind', 'detail'].every((field) => typeof problem[field] === 'string'));
}
