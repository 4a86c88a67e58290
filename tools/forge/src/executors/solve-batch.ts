import type { ExecutorContext, TaskGraph } from '@nx/devkit';
import { solveVariants, type SolveExecutorOptions } from './solve.js';

/**
 * Nx's batch mode for solve tasks (`preferBatch`): the run's solve tasks, which
 * need nothing before them, share one process and one read of the graph,
 * instead of an Nx process each.
 */
export default async function* solveBatch(
  taskGraph: TaskGraph,
  inputs: Record<string, SolveExecutorOptions>,
  _overrides: SolveExecutorOptions,
  context: ExecutorContext,
): AsyncGenerator<{ task: string; result: { success: boolean; terminalOutput: string } }> {
  const ids = Object.keys(taskGraph.tasks);
  const outcomes = await solveVariants(context, ids.map((id) => ({ project: taskGraph.tasks[id]!.target.project, variant: inputs[id]!.variant })));
  for (const [i, id] of ids.entries()) yield { task: id, result: { success: outcomes[i]!.success, terminalOutput: `${outcomes[i]!.lines.join('\n')}\n` } };
}
