import type { ExecutorContext } from '@nx/devkit';
import { join } from 'node:path';
import { readForgeOptions } from '../config/forge-config.js';
import { describeError } from '../errors.js';
import { buildGraph } from '../graph/recipe-graph.js';
import { tasksInOrder } from '../graph/task-order.js';
import { loadProjects } from '../graph/workspace.js';
import { describeProblem, prepareSolve, readRecord, runSolve, SKIP_SOLVE_ENV, SOLVE_DIR, UnreadableChannelError, writeRecord, type SolveRecord } from '../solve/solver.js';
import { OutputStore } from '../store/outputs.js';
import { checkRunPreflight } from './run-preflight.js';

export interface SolveExecutorOptions {
  /** The variant id, e.g. `py3.12-cuda12.6`. */
  readonly variant: string;
}

/**
 * Resolves the build, host and run requirements of one variant task against
 * the channels and the packages the workspace will produce; fails, naming
 * each requirement that cannot be met and why, so its build and everything
 * downstream of it never start.
 *
 * The first solve task of an Nx run solves every variant task of the
 * workspace in one run of the solver (one process, one read of the
 * channels), so every problem is known within seconds, before the first
 * long build; the run's other solve tasks read their outcome from that.
 */
export default async function solveExecutor(options: SolveExecutorOptions, context: ExecutorContext): Promise<{ success: boolean }> {
  const project = context.projectName!;
  const label = `${project}:${options.variant}`;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (process.env[SKIP_SOLVE_ENV] === '1') {
    log(`${label}: not solved (${SKIP_SOLVE_ENV}=1)`);
    return { success: true };
  }
  try {
    checkRunPreflight(context, readForgeOptions(context.root));
  } catch (error) {
    log(`${label}: error: ${describeError(error)}`);
    return { success: false };
  }
  try {
    const root = context.root;
    const forge = readForgeOptions(root);
    const graph = buildGraph(await loadProjects(root, forge));
    const task = graph.tasks.get(project)?.find((t) => t.id === options.variant);
    if (!task) throw new Error(`project ${project} has no variant \`${options.variant}\` (known: ${(graph.tasks.get(project) ?? []).map((t) => t.id).join(', ')})`);
    const run = process.env.NX_INVOCATION_ANCESTOR_PIDS;
    const current = (r: SolveRecord | undefined, key: string) => run !== undefined && r?.run === run && r.key === key;
    const store = new OutputStore(join(root, forge.outputDir));
    const record = await store.lock(SOLVE_DIR, 'workspace', async () => {
      const job = prepareSolve(root, forge, graph, run === undefined ? [task] : tasksInOrder(graph));
      const mine = job.tasks.find((t) => t.task === task)!;
      const known = readRecord(root, forge, project, task.id);
      if (current(known, mine.key)) return known!;
      const pending = job.tasks.filter((t) => !current(readRecord(root, forge, t.task.project, t.task.id), t.key));
      const { records } = await runSolve(root, forge, { ...job, tasks: pending }, run);
      for (const solved of records) writeRecord(root, forge, solved);
      return records.find((r) => r.project === project && r.variant === task.id)!;
    });
    if (record.solvable) {
      log(`${label}: solvable (build, host and run requirements resolve)`);
      return { success: true };
    }
    log(`${label}: unsolvable:`);
    for (const problem of record.problems) log(`  ${describeProblem(problem)}`);
    return { success: false };
  } catch (error) {
    // A build reads the same channels, so skipping the solve is no way around an unreadable one.
    const hint = error instanceof UnreadableChannelError ? '' : ` (${SKIP_SOLVE_ENV}=1 builds without solving first)`;
    log(`${label}: error: ${describeError(error)}${hint}`);
    return { success: false };
  }
}
