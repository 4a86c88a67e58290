import type { ExecutorContext, TaskGraph } from '@nx/devkit';
import { describeError } from '../errors.js';
import { buildVariant, type BuildExecutorOptions } from './build.js';
import { startRun, type ForgeRun } from './context.js';
import { batchParallel } from './parallelism.js';
import { checkRunPreflight } from './run-preflight.js';

interface TaskResult {
  readonly success: boolean;
  readonly terminalOutput: string;
  readonly startTime?: number;
  readonly endTime?: number;
  readonly status?: 'success' | 'failure' | 'skipped';
}

/**
 * Nx's batch mode for variant builds (`preferBatch` in executors.json): one
 * process runs every variant task of a run, so the graph is read and the
 * engine asked for its version once, not once per task in a process of its
 * own. It schedules the tasks itself, as Nx would: a task starts when the
 * tasks it needs succeeded, at most `--parallel` at once, those with the
 * most tasks waiting on them first; the dependents of a failed task are
 * skipped, its siblings still build. Results are yielded as tasks finish.
 */
export default async function* buildBatch(
  taskGraph: TaskGraph,
  inputs: Record<string, BuildExecutorOptions>,
  _overrides: BuildExecutorOptions,
  context: ExecutorContext,
): AsyncGenerator<{ task: string; result: TaskResult }> {
  const ids = Object.keys(taskGraph.tasks);
  let run: ForgeRun;
  try {
    run = await startRun(context.root);
    checkRunPreflight(context, run.forge);
  } catch (error) {
    for (const id of ids) {
      const terminalOutput = `${taskGraph.tasks[id]!.target.project}:${inputs[id]!.variant}: error: ${describeError(error)}\n`;
      yield { task: id, result: { success: false, status: 'failure', terminalOutput } };
    }
    return;
  }
  const inBatch = new Set(ids);
  const needs = (id: string) => (taskGraph.dependencies[id] ?? []).map((edge) => edge.id).filter((dep) => inBatch.has(dep));
  const dependents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of ids) for (const dep of needs(id)) dependents.get(dep)!.push(id);
  const weight = downstreamCounts(ids, dependents);

  const done = new Map<string, boolean>();
  const waiting = new Set(ids);
  const running = new Map<string, Promise<{ task: string; result: TaskResult }>>();
  const limit = batchParallel(context.nxJsonConfiguration?.parallel);

  const start = (id: string) => {
    const task = taskGraph.tasks[id]!;
    // The task's log is its terminal output, which Nx prints (and caches)
    // when it ends; written live as well, Nx would print it twice.
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const startTime = Date.now();
    // Progress is the exception: a compile runs for minutes, and Nx shows a batch's stderr as it comes.
    const work = buildVariant(run, task.target.project, inputs[id]!.variant, log, (line) => process.stderr.write(`${line}\n`))
      .catch((error: unknown) => {
        log(`${task.target.project}:${inputs[id]!.variant}: error: ${describeError(error)}`);
        return false;
      })
      .then((success) => ({ task: id, result: { success, status: success ? 'success' : 'failure', terminalOutput: `${lines.join('\n')}\n`, startTime, endTime: Date.now() } as TaskResult }));
    running.set(id, work);
  };

  while (waiting.size || running.size) {
    const skipped: string[] = [];
    const ready: string[] = [];
    for (const id of waiting) {
      const deps = needs(id);
      if (deps.some((dep) => done.get(dep) === false)) skipped.push(id);
      else if (deps.every((dep) => done.get(dep) === true)) ready.push(id);
    }
    for (const id of skipped) {
      waiting.delete(id);
      done.set(id, false);
      yield { task: id, result: { success: false, status: 'skipped', terminalOutput: 'not built: a variant it needs failed\n' } };
    }
    if (skipped.length) continue;
    ready.sort((a, b) => weight.get(b)! - weight.get(a)! || a.localeCompare(b));
    for (const id of ready.slice(0, Math.max(0, limit - running.size))) {
      waiting.delete(id);
      start(id);
    }
    if (!running.size) break;
    const finished = await Promise.race(running.values());
    running.delete(finished.task);
    done.set(finished.task, finished.result.success);
    yield finished;
  }
}

/** How many tasks wait, directly or not, on each task: a cheap stand-in for its critical path. */
function downstreamCounts(ids: readonly string[], dependents: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const below = new Map<string, Set<string>>();
  const visit = (id: string): Set<string> => {
    let set = below.get(id);
    if (set) return set;
    set = new Set();
    below.set(id, set);
    for (const next of dependents.get(id) ?? []) {
      set.add(next);
      for (const further of visit(next)) set.add(further);
    }
    return set;
  };
  return new Map(ids.map((id) => [id, visit(id).size]));
}
