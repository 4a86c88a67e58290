import type { ExecutorContext } from '@nx/devkit';
import { readForgeOptions } from '../config/forge-config.js';
import { isForgeError } from '../errors.js';
import { buildGraph } from '../graph/recipe-graph.js';
import { loadProjects } from '../graph/workspace.js';
import { describeProblem, prepareSolve, runSolve, SKIP_SOLVE_ENV, writeRecord } from '../solve/solver.js';

export interface SolveExecutorOptions {
  /** The variant id, e.g. `py3.12-cuda12.6`. */
  readonly variant: string;
}

/**
 * Resolves the build, host and run requirements of one variant task against
 * the channels and the packages the workspace will produce; fails, naming
 * each requirement that cannot be met and why, so its build and everything
 * downstream of it never start.
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
    const forge = readForgeOptions(context.root);
    const graph = buildGraph(loadProjects(context.root, forge));
    const task = graph.tasks.get(project)?.find((t) => t.id === options.variant);
    if (!task) throw new Error(`project ${project} has no variant \`${options.variant}\` (known: ${(graph.tasks.get(project) ?? []).map((t) => t.id).join(', ')})`);
    const { records } = await runSolve(context.root, forge, prepareSolve(context.root, forge, graph, [task]));
    const record = records[0]!;
    writeRecord(context.root, forge, record);
    if (record.solvable) {
      log(`${label}: solvable (build, host and run requirements resolve)`);
      return { success: true };
    }
    log(`${label}: unsolvable:`);
    for (const problem of record.problems) log(`  ${describeProblem(problem)}`);
    return { success: false };
  } catch (error) {
    const message = isForgeError(error) ? error.format() : (error as Error).message;
    log(`${label}: error: ${message} (${SKIP_SOLVE_ENV}=1 builds without solving first)`);
    return { success: false };
  }
}
