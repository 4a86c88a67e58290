import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { ForgeError } from '../../errors.js';
import { findWorkspaceRoot, nxBin } from '../workspace-root.js';
import { makePlan, type PlanEntry } from './plan.js';

/** One CI job: a variant task to run with `nx run <task>`. */
export interface MatrixJob {
  readonly kind: 'conda' | 'wheel';
  readonly task: string;
  readonly project: string;
  readonly variant: string;
  readonly wave: number;
  /** Which of the wave's matrices (`wave<w>-<part>`) holds the job. */
  readonly part: number;
  /** Tasks of this matrix that must finish first (an earlier wave). */
  readonly needs: string[];
}

/** Fixed number of waves in the workflow: GitHub cannot make jobs from data. */
export const WAVES = 6;
/** Matrices per wave in the workflow (jobs `wave<w>-<part>`). */
export const PARTS = 4;
/** GitHub's limit on the jobs of one matrix. */
export const MATRIX_LIMIT = 256;

/** The key of a wave part in `forge matrix --json`, and the job's name in build.yml. */
export const partKey = (wave: number, part: number) => `wave${wave}-${part}`;

/**
 * The variant tasks that need building, as CI jobs in waves: a job's wave is
 * one more than the latest wave it needs, so running wave after wave keeps the
 * dependency order. Tasks deeper than the last wave job go into it; `nx run`
 * brings their upstream tasks along (from the remote cache, as earlier waves
 * built them).
 */
export async function makeMatrix(affected?: { base: string }): Promise<MatrixJob[]> {
  return (await planMatrix(affected)).jobs;
}

/**
 * The matrix, and the tasks blocked for a reason of their own (a template that
 * does not render, a dependency with no matching variant, a published version
 * from other inputs): no job can build them, so a CI plan must fail on them
 * rather than leave them out and go green. Tasks blocked only by an upstream
 * one (`upstream … is blocked`, or failed last time) follow from it.
 */
export async function planMatrix(affected?: { base: string }): Promise<{ jobs: MatrixJob[]; blocked: Array<{ target: string; reason: string }> }> {
  const plan = await makePlan();
  const onlyProjects = affected ? affectedProjects(affected.base) : undefined;
  const blocked = plan.filter((p) => p.status === 'blocked' && !p.reason.startsWith('upstream ') && (!onlyProjects || onlyProjects.has(p.project))).map((p) => ({ target: p.target, reason: p.reason }));
  const selected = plan.filter((p) => p.status === 'build' && (!onlyProjects || onlyProjects.has(p.project)));
  return { jobs: assignJobs(selected), blocked };
}

/** What a matrix job is made from: a plan entry to build (in dependency order: a task after those it needs). */
export type MatrixTask = Pick<PlanEntry, 'kind' | 'target' | 'project' | 'variant' | 'needs'>;

/**
 * Waves and parts for tasks listed in dependency order. A task's wave is one
 * more than the latest wave it needs (tasks deeper than the last wave go into
 * it, and `nx run` brings their upstream along from the cache); a wave's tasks
 * fill its parts of at most MATRIX_LIMIT jobs in turn. A full wave pushes a
 * task to the next one, which keeps the order; a plan larger than the
 * workflow's WAVES x PARTS x MATRIX_LIMIT slots is refused, never cut short.
 */
export function assignJobs(tasks: readonly MatrixTask[]): MatrixJob[] {
  const ids = new Set(tasks.map((t) => t.target));
  const wave = new Map<string, number>();
  const filled = new Array<number>(WAVES).fill(0);
  const jobs: MatrixJob[] = [];
  for (const entry of tasks) {
    const needs = entry.needs.filter((t) => ids.has(t));
    let w = Math.min(WAVES - 1, Math.max(-1, ...needs.map((n) => wave.get(n)!)) + 1);
    while (w < WAVES - 1 && filled[w]! >= PARTS * MATRIX_LIMIT) w++;
    if (filled[w]! >= PARTS * MATRIX_LIMIT) {
      throw new ForgeError(`${tasks.length} tasks do not fit the workflow's ${WAVES} waves of ${PARTS} matrices of ${MATRIX_LIMIT} jobs; build part of them first (forge matrix --affected), or add wave parts to .github/workflows/build.yml and PARTS in matrix.ts`);
    }
    const part = Math.floor(filled[w]! / MATRIX_LIMIT);
    filled[w]!++;
    wave.set(entry.target, w);
    jobs.push({ kind: entry.kind, task: entry.target, project: entry.project, variant: entry.variant, wave: w, part, needs });
  }
  return jobs.sort((a, b) => a.wave - b.wave || a.part - b.part || a.task.localeCompare(b.task));
}

/** `forge matrix --json`: the job count and one `{"include": [...]}` per wave part, empty ones too (the workflow reads them all). */
export function matrixJson(jobs: readonly MatrixJob[]): Record<string, unknown> {
  const result: Record<string, unknown> = { count: jobs.length };
  for (let w = 0; w < WAVES; w++) for (let p = 0; p < PARTS; p++) result[partKey(w, p)] = { include: jobs.filter((j) => j.wave === w && j.part === p) };
  return result;
}

function affectedProjects(base: string): Set<string> {
  const root = findWorkspaceRoot();
  const nx = nxBin(root);
  const result = spawnSync(process.execPath, [nx, 'show', 'projects', '--affected', `--base=${base}`, '--json'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new ForgeError(`nx could not tell the affected projects (base ${base}, --base or NX_BASE to change it): ${nxReason(result.stderr)}`);
  return new Set(JSON.parse(result.stdout) as string[]);
}

/** Nx's reason in one line: git's `fatal:` line where there is one, never Nx's closing "Pass --verbose" hint. */
function nxReason(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('Pass --verbose'));
  return lines.find((line) => /^(fatal|error):/i.test(line)) ?? lines.pop() ?? 'no message';
}

export function registerMatrix(program: Command): void {
  program
    .command('matrix')
    .description('the variant tasks (conda and wheel) that need building, as a CI matrix in dependency waves; exit 2 if a task is blocked by its own input')
    .option('--affected', 'only projects nx considers affected')
    .option('--base <ref>', 'base for --affected', process.env.NX_BASE || 'main')
    .option('--json', `print {"count", "${partKey(0, 0)}".."${partKey(WAVES - 1, PARTS - 1)}": {"include": [...]}} for GitHub Actions (at most ${MATRIX_LIMIT} jobs each)`)
    .action(async (options: { affected?: boolean; base: string; json?: boolean }) => {
      const { jobs, blocked } = await planMatrix(options.affected ? { base: options.base } : undefined);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(matrixJson(jobs))}\n`);
      } else {
        for (let w = 0; w < WAVES; w++) {
          const wave = jobs.filter((j) => j.wave === w);
          if (wave.length) process.stdout.write(`wave ${w}: ${wave.map((j) => j.task).join(' ')}\n`);
        }
        process.stdout.write(`${jobs.length} task(s) to build\n`);
      }
      for (const { target, reason } of blocked) process.stderr.write(`forge: error: ${target} is blocked: ${reason}\n`);
      if (blocked.length) process.exitCode = 2;
    });
}
