import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startWheelRun } from '../executors/context.js';
import { assessWheelTask } from '../executors/wheel-build.js';
import { discoverProjectFiles, WHEEL_FILE_SUFFIX } from '../graph/workspace.js';
import { readForgeOptions } from '../config/forge-config.js';
import { describeError } from '../errors.js';
import { tasksInOrder } from '../graph/task-order.js';
import { wheelTarget } from '../nx/plugin.js';
import type { KeyInputs } from '../store/content-key.js';
import { findPublished } from '../store/wheel-records.js';
import type { PlanEntry, PlanStatus } from './commands/plan.js';

export interface WheelPlan {
  readonly entries: PlanEntry[];
  /** Target -> the inputs of its key, for `forge explain`. */
  readonly inputs: ReadonlyMap<string, KeyInputs>;
}

/**
 * What `nx run-many -t wheel` would do for every wheel task on this machine:
 * `skipped` (the host cannot build it, and why), `cached`, `channel` (in the
 * wheel index), `blocked` or `build`. `progress` hears what takes time (making
 * a docker image); stderr by default, so a plan on stdout stays clean.
 */
export async function makeWheelPlan(root: string, progress: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<WheelPlan> {
  const options = readForgeOptions(root);
  if (!existsSync(join(root, options.recipesDir)) || discoverProjectFiles(root, options, WHEEL_FILE_SUFFIX).length === 0) return { entries: [], inputs: new Map() };
  const run = startWheelRun(root);
  const entries: PlanEntry[] = [];
  const inputs = new Map<string, KeyInputs>();
  const byTask = new Map<string, PlanEntry>();
  for (const task of tasksInOrder(run.graph)) {
    const project = run.graph.projects.get(task.project)!;
    const target = `${task.project}:${wheelTarget(task.id)}`;
    const needs = task.needs.map((n) => `${n.project}:${wheelTarget(n.id)}`);
    const entry = (status: PlanStatus, reason: string, key = ''): PlanEntry => ({ kind: 'wheel', project: task.project, variant: task.id, target, status, reason, key, files: [], needs });
    const upstream = task.needs.map((n) => byTask.get(`${n.project}:${wheelTarget(n.id)}`)!);
    const stuck = upstream.filter((u) => u.status === 'blocked' || u.status === 'skipped' || (u.status === 'build' && u.reason.startsWith('the last build')));
    let result: PlanEntry;
    if (task.unmet.length) result = entry('blocked', `needs ${task.unmet.join(', ')}, which has no variant matching ${JSON.stringify(task.values)}`);
    else if (stuck.length) {
      // An upstream variant this machine cannot build makes this one unbuildable here too, not broken.
      const status = stuck.every((u) => u.status === 'skipped') ? 'skipped' : 'blocked';
      result = entry(status, `upstream ${stuck.map((u) => u.target).join(', ')} is ${stuck[0]!.status === 'build' ? 'failing' : stuck[0]!.status}`);
    }
    else {
      const keys = Object.fromEntries(upstream.map((u) => [`${u.project}/${u.variant}`, u.key]));
      // A docker variant's key needs its image, made here the first time (minutes): said on stderr, not silent.
      const assessed = await assessWheelTask(run, project, task, keys, progress).catch((error: Error) => ({ status: 'error' as const, reason: describeError(error) }));
      if (assessed.status === 'error') result = entry('blocked', assessed.reason);
      else if (assessed.status === 'skipped') result = entry('skipped', assessed.reason);
      else {
        const { key } = assessed;
        inputs.set(target, assessed.inputs);
        const published = run.forge.wheelIndex ? await findPublished(run.forge.wheelIndex, root, task.project, task.id) : { found: false as const };
        const previous = run.store.readManifest(task.project, task.id);
        const failure = run.store.failure(task.project, task.id);
        if (run.store.valid(task.project, task.id, key)) result = entry('cached', previous?.channel ? `taken from ${previous.channel} by an earlier run` : `built locally in ${options.wheelsDir}/${task.project}/${task.id}`, key);
        else if (published.found && published.record.key === key) result = entry('channel', `published in ${published.where}`, key);
        else if (published.found && published.record.version === project.spec.version && published.record.buildNumber === (project.spec.buildNumber ?? null)) {
          result = entry('blocked', `${published.where} has ${project.spec.name} ${project.spec.version} from other inputs: bump build_number in ${project.file}`, key);
        } else if (failure?.key === key) result = entry('build', `the last build with these inputs failed (${failure.at})`, key);
        else result = entry('build', run.store.buildReason(task.project, task.id, key, assessed.inputs), key);
      }
    }
    byTask.set(target, result);
    entries.push(result);
  }
  return { entries, inputs };
}
