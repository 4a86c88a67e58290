import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignJobs, MATRIX_LIMIT, matrixJson, PARTS, WAVES, type MatrixJob, type MatrixTask } from '../src/cli/commands/matrix.js';
import { demoWorkspace, sharedBootstrap } from './support/demo.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-matrix-test-'));
let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBootstrap(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('forge matrix', () => {
  it('after editing one recipe, lists exactly the affected variant tasks, each after the tasks it needs', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      expect(ws.nx('run-many', '-t', 'build', '--parallel=2').code).toBe(0);
      expect(JSON.parse(ws.forge('matrix', '--json').stdout).count).toBe(0);
      const patch = join(ws.root, 'pkgs/demo-cuda/recipe/patches/cuda-home.patch');
      ws.write('pkgs/demo-cuda/recipe/patches/cuda-home.patch', readFileSync(patch, 'utf8').replace('${PREFIX}"', '${PREFIX}/targets"'));
      const result = ws.forge('matrix', '--json');
      expect(result.code, result.stderr).toBe(0);
      const matrix = JSON.parse(result.stdout) as Record<string, { include: MatrixJob[] }> & { count: number };
      const jobs = Object.keys(matrix)
        .filter((k) => k.startsWith('wave'))
        .sort()
        .flatMap((k) => matrix[k]!.include);
      const variants = ['py3.12-cuda12.6', 'py3.12-cuda12.8', 'py3.12-cuda12.9', 'py3.13-cuda12.6', 'py3.13-cuda12.8', 'py3.13-cuda12.9'];
      expect(jobs.map((j) => j.task).sort()).toEqual(
        ['demo-app:build-noarch', ...variants.map((v) => `demo-cuda:build-${v}`), ...variants.map((v) => `demo-ext:build-${v}`)].sort(),
      );
      expect(matrix.count).toBe(13);
      const position = new Map(jobs.map((j, i) => [j.task, i]));
      for (const job of jobs) {
        for (const need of job.needs) {
          expect(position.get(need)!, `${job.task} after ${need}`).toBeLessThan(position.get(job.task)!);
          expect(jobs.find((j) => j.task === need)!.wave).toBeLessThan(job.wave);
        }
      }
      expect(jobs.find((j) => j.task === 'demo-ext:build-py3.12-cuda12.6')!.needs).toEqual(['demo-cuda:build-py3.12-cuda12.6']);
    } finally {
      ws.dispose();
    }
  });
});

describe('forge matrix --affected', () => {
  it('keeps only the projects nx considers affected by the change', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      ws.write('.gitignore', 'node_modules\n.nx\noutput\n');
      ws.git('init', '-q', '-b', 'main');
      ws.git('add', '-A');
      ws.git('commit', '-qm', 'demo');
      ws.write('pkgs/demo-ext/recipe/recipe.yaml', readFileSync(join(ws.root, 'pkgs/demo-ext/recipe/recipe.yaml'), 'utf8').replace('number: 0', 'number: 1'));
      const all = JSON.parse(ws.forge('matrix', '--json').stdout) as { count: number };
      expect(all.count).toBe(14);
      const result = ws.forge('matrix', '--json', '--affected', '--base=HEAD');
      expect(result.code, result.stderr).toBe(0);
      const matrix = JSON.parse(result.stdout) as Record<string, { include: MatrixJob[] }>;
      const projects = new Set(Object.keys(matrix).filter((k) => k.startsWith('wave')).flatMap((k) => matrix[k]!.include.map((j) => j.project)));
      expect([...projects].sort()).toEqual(['demo-app', 'demo-ext']);
    } finally {
      ws.dispose();
    }
  });
});

describe('waves split into matrices GitHub accepts', () => {
  /** A synthetic workspace's plan: 1,000 tasks in layers (one of 600, more than two matrices), each needing up to 3 of the layer before, listed in dependency order. */
  function syntheticPlan(): MatrixTask[] {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const layers = [150, 600, 100, 100, 50];
    const tasks: MatrixTask[] = [];
    let previous: string[] = [];
    for (const [l, size] of layers.entries()) {
      const layer: string[] = [];
      for (let i = 0; i < size; i++) {
        const target = `pkg${l}-${i % 10}:build-v${i}`;
        const needs = previous.length ? [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => previous[Math.floor(random() * previous.length)]!))] : [];
        tasks.push({ kind: 'conda', target, project: target.split(':')[0]!, variant: `v${i}`, needs });
        layer.push(target);
      }
      previous = layer;
    }
    return tasks;
  }

  it('puts each of 1,000 tasks in exactly one matrix of at most 256 jobs, after every task it needs', () => {
    const tasks = syntheticPlan();
    expect(tasks).toHaveLength(1000);
    const json = matrixJson(assignJobs(tasks)) as Record<string, { include: MatrixJob[] }> & { count: number };
    expect(json.count).toBe(1000);
    const keys = Object.keys(json).filter((k) => k !== 'count');
    expect(keys).toHaveLength(WAVES * PARTS);
    const where = new Map<string, { wave: number; key: string }>();
    for (const key of keys) {
      const [wave] = /^wave(\d+)-(\d+)$/.exec(key)!.slice(1).map(Number);
      expect(json[key]!.include.length, key).toBeLessThanOrEqual(MATRIX_LIMIT);
      for (const job of json[key]!.include) {
        expect(where.has(job.task), `${job.task} twice`).toBe(false);
        where.set(job.task, { wave: wave!, key });
      }
    }
    expect([...where.keys()].sort()).toEqual(tasks.map((t) => t.target).sort());
    for (const task of tasks) for (const need of task.needs) expect(where.get(need)!.wave, `${task.target} after ${need}`).toBeLessThan(where.get(task.target)!.wave);
    // The layer of 600 needed three matrices of its wave.
    expect(json['wave1-2']!.include.length).toBeGreaterThan(0);
  });

  it('pushes a task to a later wave when its wave is full, keeping its dependents after it', () => {
    const wide = Array.from({ length: PARTS * MATRIX_LIMIT + 5 }, (_, i): MatrixTask => ({ kind: 'conda', target: `a:build-${i}`, project: 'a', variant: String(i), needs: [] }));
    const late = wide.at(-1)!.target;
    const jobs = assignJobs([...wide, { kind: 'conda', target: 'b:build-0', project: 'b', variant: '0', needs: [late] }]);
    expect(jobs.filter((j) => j.wave === 0)).toHaveLength(PARTS * MATRIX_LIMIT);
    expect(jobs.find((j) => j.task === late)!.wave).toBe(1);
    expect(jobs.find((j) => j.task === 'b:build-0')!.wave).toBe(2);
  });

  it('refuses a plan larger than the workflow holds instead of leaving tasks out', () => {
    const many = Array.from({ length: WAVES * PARTS * MATRIX_LIMIT + 1 }, (_, i): MatrixTask => ({ kind: 'conda', target: `a:build-${i}`, project: 'a', variant: String(i), needs: [] }));
    expect(() => assignJobs(many)).toThrow(/do not fit the workflow's 6 waves of 4 matrices of 256 jobs/);
  });
});
