import type { Command } from 'commander';
import { tasksInOrder } from '../../graph/task-order.js';
import { prepareSolve, runSolve, writeRecord, type SolveRecord } from '../../solve/solver.js';
import { loadWorkspace, selectProjects } from '../load.js';
import { printTable } from '../table.js';

/** Longest reason a table row shows; `--json` has all of it. */
const WIDTH = 160;

export interface SolveReport {
  readonly channels: readonly string[];
  readonly virtualPackages: readonly string[];
  readonly tasks: readonly SolveRecord[];
}

/** Solves every variant task of the named packages (all when none) and records each outcome for `forge plan`. */
export async function solveWorkspace(names: readonly string[]): Promise<SolveReport> {
  const { root, options, graph } = await loadWorkspace();
  const projects = new Set(selectProjects(graph, names));
  const tasks = tasksInOrder(graph).filter((t) => projects.has(t.project));
  const job = prepareSolve(root, options, graph, tasks);
  const { records, virtualPackages } = await runSolve(root, options, job);
  for (const record of records) writeRecord(root, options, record);
  return { channels: job.channels, virtualPackages, tasks: records };
}

/**
 * One row per package and problem, the variants that share it on the row:
 * the same missing package in 6 variants is one line, not six.
 */
function rows(report: SolveReport): string[][] {
  const grouped = new Map<string, { project: string; variants: string[]; where: string; spec: string; why: string }>();
  const total = new Map<string, number>();
  for (const record of report.tasks) total.set(record.project, (total.get(record.project) ?? 0) + 1);
  for (const record of report.tasks) {
    for (const problem of record.problems) {
      const where = problem.package === record.project ? problem.environment : `${problem.environment} of ${problem.package}`;
      const key = JSON.stringify([record.project, where, problem.spec, problem.detail]);
      if (!grouped.has(key)) grouped.set(key, { project: record.project, variants: [], where, spec: problem.spec || '(together)', why: problem.detail });
      grouped.get(key)!.variants.push(record.variant);
    }
  }
  return [...grouped.values()].map((g) => {
    const all = total.get(g.project)!;
    const variants = g.variants.length === all && all > 1 ? `all ${all}` : g.variants.join(', ');
    const why = g.why.length > WIDTH ? `${g.why.slice(0, WIDTH - 1)}…` : g.why;
    return [g.project, variants, g.where, g.spec, why];
  });
}

export function registerSolve(program: Command): void {
  program
    .command('solve')
    .argument('[packages...]', 'packages to solve (default: all)')
    .description('resolve every variant task\'s build, host and run requirements against the channels and the packages this workspace will produce; exit 1 if any cannot be met')
    .option('--json', 'print every variant task\'s outcome as JSON')
    .action(async (names: string[], options: { json?: boolean }) => {
      const report = await solveWorkspace(names);
      const unsolvable = report.tasks.filter((t) => !t.solvable);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        if (unsolvable.length) printTable(['package', 'variants', 'environment', 'requirement', 'why'], rows(report));
        const projects = [...new Set(unsolvable.map((t) => t.project))];
        process.stdout.write(
          `${unsolvable.length ? '\n' : ''}${report.tasks.length} variant task(s): ${report.tasks.length - unsolvable.length} solvable, ${unsolvable.length} unsolvable${projects.length ? ` (${projects.join(', ')})` : ''}\n` +
            `channels: ${report.channels.map((c, i) => (i === 0 ? 'this workspace (predicted)' : c)).join(', ')}\n`,
        );
      }
      if (unsolvable.length) process.exitCode = 1;
    });
}
