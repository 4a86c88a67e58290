import type { ExecutorContext } from '@nx/devkit';
import { join } from 'node:path';
import { readForgeOptions, type ForgeOptions } from '../config/forge-config.js';
import { describeError } from '../errors.js';
import { buildGraph, type VariantTask } from '../graph/recipe-graph.js';
import { tasksInOrder } from '../graph/task-order.js';
import { loadProjects } from '../graph/workspace.js';
import { describeProblem, prepareSolve, readRecord, runSolve, SKIP_SOLVE_ENV, SOLVE_DIR, UnreadableChannelError, writeRecord, type SolveRecord } from '../solve/solver.js';
import { OutputStore } from '../store/outputs.js';
import { checkRunPreflight } from './run-preflight.js';

export interface SolveExecutorOptions {
  /** The variant id, e.g. `py3.12-cuda12.6`. */
  readonly variant: string;
}

export interface Wanted {
  readonly project: string;
  readonly variant: string;
}

export interface Outcome {
  readonly success: boolean;
  readonly lines: readonly string[];
}

/**
 * Resolves the build, host and run requirements of one variant task against
 * the channels and the packages the workspace will produce; fails, naming
 * each requirement that cannot be met and why, so its build and everything
 * downstream of it never start.
 */
export default async function solveExecutor(options: SolveExecutorOptions, context: ExecutorContext): Promise<{ success: boolean }> {
  const [outcome] = await solveVariants(context, [{ project: context.projectName!, variant: options.variant }]);
  for (const line of outcome!.lines) process.stdout.write(`${line}\n`);
  return { success: outcome!.success };
}

/**
 * The first solve of an Nx run solves every variant task of the workspace in
 * one run of the solver (one process, one read of the channels), so every
 * problem is known within seconds, before the first long build; the run's
 * later solve tasks (another batch, or `--batch=false`) read their outcome
 * from the records it wrote.
 */
export async function solveVariants(context: ExecutorContext, wanted: readonly Wanted[]): Promise<Outcome[]> {
  const label = ({ project, variant }: Wanted) => `${project}:${variant}`;
  const all = (lines: (w: Wanted) => string, success: boolean) => wanted.map((w) => ({ success, lines: [lines(w)] }));
  if (process.env[SKIP_SOLVE_ENV] === '1') return all((w) => `${label(w)}: not solved (${SKIP_SOLVE_ENV}=1)`, true);
  const root = context.root;
  let forge: ForgeOptions;
  try {
    forge = readForgeOptions(root);
    checkRunPreflight(context, forge);
  } catch (error) {
    return all((w) => `${label(w)}: error: ${describeError(error)}`, false);
  }
  try {
    const graph = buildGraph(await loadProjects(root, forge), root);
    const tasks = new Map<Wanted, VariantTask | undefined>(wanted.map((w) => [w, graph.tasks.get(w.project)?.find((t) => t.id === w.variant)]));
    const run = process.env.NX_INVOCATION_ANCESTOR_PIDS;
    const current = (r: SolveRecord | undefined, key: string) => run !== undefined && r?.run === run && r.key === key;
    const known = [...tasks.values()].filter((t): t is VariantTask => t !== undefined);
    const store = new OutputStore(join(root, forge.outputDir));
    const records = await store.lock(SOLVE_DIR, 'workspace', async () => {
      const job = prepareSolve(root, forge, graph, run === undefined ? known : tasksInOrder(graph));
      const pending = job.tasks.filter((t) => !current(readRecord(root, forge, t.task.project, t.task.id), t.key));
      if (pending.length) for (const solved of (await runSolve(root, forge, { ...job, tasks: pending }, run)).records) writeRecord(root, forge, solved);
      return new Map(known.map((t) => [t, readRecord(root, forge, t.project, t.id)]));
    });
    return wanted.map((w) => {
      const task = tasks.get(w);
      if (!task) return { success: false, lines: [`${label(w)}: error: project ${w.project} has no variant \`${w.variant}\` (known: ${(graph.tasks.get(w.project) ?? []).map((t) => t.id).join(', ')})`] };
      const record = records.get(task);
      if (!record) return { success: false, lines: [`${label(w)}: error: the solver left no record for it`] };
      if (record.solvable) return { success: true, lines: [`${label(w)}: solvable (build, host and run requirements resolve)`] };
      return { success: false, lines: [`${label(w)}: unsolvable:`, ...record.problems.map((problem) => `  ${describeProblem(problem)}`)] };
    });
  } catch (error) {
    // A build reads the same channels, so skipping the solve is no way around an unreadable one.
    const hint = error instanceof UnreadableChannelError ? '' : ` (${SKIP_SOLVE_ENV}=1 builds without solving first)`;
    return all((w) => `${label(w)}: error: ${describeError(error)}${hint}`, false);
  }
}
