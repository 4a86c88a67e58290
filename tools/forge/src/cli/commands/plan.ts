import type { Command } from 'commander';
import { join } from 'node:path';
import { engineVersion, locateEngine } from '../../engine/engine.js';
import { tasksInOrder } from '../../graph/task-order.js';
import { variantTarget } from '../../nx/plugin.js';
import { channelUrl, findOnChannels } from '../../store/channels.js';
import { ContentKeys } from '../../store/content-key.js';
import { prepareSolve, readRecord, describeRecord } from '../../solve/solver.js';
import { OutputStore } from '../../store/outputs.js';
import { loadWorkspace } from '../load.js';
import { makeWheelPlan } from '../wheel-plan.js';
import { printTable } from '../table.js';

export type PlanStatus = 'build' | 'cached' | 'channel' | 'blocked' | 'unsolvable' | 'skipped';

export interface PlanEntry {
  /** A conda variant (`build-<id>`) or a wheel variant (`wheel-<id>`). */
  readonly kind: 'conda' | 'wheel';
  readonly project: string;
  readonly variant: string;
  readonly target: string;
  readonly status: PlanStatus;
  readonly reason: string;
  readonly key: string;
  readonly files: string[];
  /** The targets this one waits for. */
  readonly needs: string[];
}

/** What `nx run-many -t build` and `-t wheel` would do for every variant task, without doing it. */
export async function makePlan(): Promise<PlanEntry[]> {
  const { root } = await loadWorkspace();
  return [...(await makeCondaPlan()), ...(await makeWheelPlan(root)).entries];
}

async function makeCondaPlan(): Promise<PlanEntry[]> {
  const { root, options, graph } = await loadWorkspace();
  const keys = new ContentKeys(root, graph, engineVersion(locateEngine(root, options.engine)));
  const store = new OutputStore(join(root, options.outputDir));
  const channels = options.artifactChannels.map((c) => channelUrl(c, root));
  // The last solve of each task, where it was made with today's inputs (`forge solve` or the solve tasks record them).
  const solves = new Map(prepareSolve(root, options, graph, tasksInOrder(graph)).tasks.map(({ task, key }) => [`${task.project}/${task.id}`, { record: readRecord(root, options, task.project, task.id), key }]));
  const status = new Map<string, PlanEntry>();
  const plan: PlanEntry[] = [];
  for (const task of tasksInOrder(graph)) {
    const { key, inputs } = keys.of(task);
    const files = task.outputs.map((o) => o.file);
    const needs = task.needs.map((n) => `${n.project}:${variantTarget(n.id)}`);
    const entry = (s: PlanStatus, reason: string): PlanEntry => ({ kind: 'conda', project: task.project, variant: task.id, target: `${task.project}:${variantTarget(task.id)}`, status: s, reason, key, files, needs });
    let result: PlanEntry;
    const blockers = task.needs
      .map((n) => status.get(`${n.project}/${n.id}`)!)
      .filter((up) => up.status === 'blocked' || up.status === 'unsolvable' || (up.status === 'build' && up.reason.startsWith('the last build')));
    const solve = solves.get(`${task.project}/${task.id}`)!;
    if (task.unmet.length) {
      result = entry('blocked', `needs ${task.unmet.join(', ')}, which has no variant matching ${JSON.stringify(task.values)}`);
    } else if (blockers.length) {
      result = entry('blocked', `upstream ${blockers.map((b) => `${b.project}:${b.variant}`).join(', ')} ${blockers[0]!.status === 'build' ? 'failed' : `is ${blockers[0]!.status}`}`);
    } else if (options.solveBeforeBuild && solve.record?.key === solve.key && !solve.record.solvable) {
      result = entry('unsolvable', describeRecord(solve.record));
    } else if (store.valid(task.project, task.id, key)) {
      const manifest = store.readManifest(task.project, task.id)!;
      result = entry('cached', manifest.channel ? `found on ${manifest.channel} by an earlier run` : `built locally in ${options.outputDir}/${task.project}/${task.id}`);
    } else {
      const lookups = await Promise.all(files.map((f) => findOnChannels(f, channels)));
      const failure = store.failure(task.project, task.id);
      if (lookups.length && lookups.every((l) => l.found)) {
        result = entry('channel', `on ${[...new Set(lookups.map((l) => (l.found ? l.channel : '')))].join(', ')}`);
      } else if (failure?.key === key) {
        result = entry('build', `the last build with these inputs failed (${failure.at})`);
      } else {
        const unchecked = [...new Set(lookups.flatMap((l) => (!l.found && l.problem ? [l.problem] : [])))];
        const why = store.buildReason(task.project, task.id, key, inputs);
        result = entry('build', unchecked.length ? `${why} (could not check ${unchecked.join('; ')})` : why);
      }
    }
    status.set(`${task.project}/${task.id}`, result);
    plan.push(result);
  }
  return plan;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('show, in build order, what each variant task (conda and wheel) would do: build, cached, channel, unsolvable (as `forge solve` or the solve tasks last found), blocked or skipped (a wheel variant this machine cannot build), and why')
    .option('--json', 'print the plan as JSON')
    .action(async (options: { json?: boolean }) => {
      const plan = await makePlan();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        return;
      }
      printTable(['task', 'status', 'key', 'reason'], plan.map((p) => [p.target, p.status, p.key.slice(0, 12), p.reason]));
      const counts = new Map<string, number>();
      for (const p of plan) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
      process.stdout.write(`\n${plan.length} task(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}\n`);
    });
}
