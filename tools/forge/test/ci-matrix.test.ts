import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { MatrixJob } from '../src/cli/commands/matrix.js';
import { demoWorkspace, sharedBootstrap } from './support/demo.js';
import { repoRoot } from './support/paths.js';
import { TempWorkspace } from './support/workspace.js';

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

describe('the GitHub Actions workflow', () => {
  const text = readFileSync(join(repoRoot, '.github/workflows/build.yml'), 'utf8');
  const workflow = parse(text) as { jobs: Record<string, { needs?: string[]; steps: Array<{ run?: string }> }> };

  it('is valid YAML with a plan job, wave jobs in order, and a publish job after all of them', () => {
    expect(Object.keys(workflow.jobs)).toEqual(['plan', 'wave0', 'wave1', 'wave2', 'wave3', 'wave4', 'wave5', 'publish']);
    for (let w = 1; w < 6; w++) expect(workflow.jobs[`wave${w}`]!.needs).toContain(`wave${w - 1}`);
    expect(workflow.jobs.publish!.needs).toEqual(['plan', 'wave0', 'wave1', 'wave2', 'wave3', 'wave4', 'wave5']);
  });

  it('runs only commands that exist in the repository', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const runs = Object.values(workflow.jobs).flatMap((job) => job.steps.flatMap((step) => (step.run ? [step.run] : [])));
    const forgeCommands = new Set<string>();
    for (const run of runs) {
      for (const match of run.matchAll(/npm run (\S+)/g)) expect(scripts, run).toContain(match[1]);
      for (const match of run.matchAll(/npx forge (\S+)/g)) forgeCommands.add(match[1]!);
      for (const match of run.matchAll(/npx (\S+)/g)) expect(['forge', 'nx'], run).toContain(match[1]);
    }
    expect([...forgeCommands].sort()).toEqual(['matrix', 'publish']);
    const ws = new TempWorkspace();
    try {
      for (const command of forgeCommands) expect(ws.forge(command, '--help').code, command).toBe(0);
    } finally {
      ws.dispose();
    }
  });
});
