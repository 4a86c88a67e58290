import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PARTS, partKey, WAVES } from '../src/cli/commands/matrix.js';
import { repoRoot } from './support/paths.js';
import { TempWorkspace } from './support/workspace.js';

interface Step { readonly uses?: string; readonly run?: string; readonly with?: Record<string, unknown>; readonly env?: Record<string, string> }
interface Job { readonly needs?: string[]; readonly if?: string; readonly uses?: string; readonly with?: Record<string, string>; readonly environment?: string; readonly env?: Record<string, string>; readonly steps?: Step[] }
interface Workflow { readonly on: Record<string, unknown>; readonly permissions: unknown; readonly env?: Record<string, string>; readonly jobs: Record<string, Job> }

const workflows = join(repoRoot, '.github/workflows');
const read = (name: string) => parse(readFileSync(join(workflows, name), 'utf8')) as Workflow;
const build = read('build.yml');
const tasks = read('variant-tasks.yml');
const waveJobs = Array.from({ length: WAVES }, (_, w) => Array.from({ length: PARTS }, (_, p) => partKey(w, p)));
const venvBin = (tool: string) => join(repoRoot, '.venv/bin', tool);

describe('the GitHub Actions workflow', () => {
  it('has a plan job, one job per wave part of forge matrix, each after the whole previous wave, and publish after all', () => {
    expect(Object.keys(build.jobs)).toEqual(['plan', ...waveJobs.flat(), 'publish', 'gpu-check']);
    for (const [w, parts] of waveJobs.entries()) {
      for (const key of parts) {
        const job = build.jobs[key]!;
        expect(job.needs).toEqual(['plan', ...(w ? waveJobs[w - 1]! : [])]);
        expect(job.uses).toBe('$/.github/workflows/variant-tasks.yml');
        expect(job.with!.matrix).toContain(`['${key}']`);
        expect(job.if).toContain(`['${key}'].include[0] != null`);
      }
    }
    expect(build.jobs.publish!.needs).toEqual(['plan', ...waveJobs.flat()]);
  });

  it('gives the called workflow the same workflow-level env (GitHub does not pass the caller\'s on)', () => {
    expect(build.env).toMatchObject({ FORGE_WHEEL_ENVIRONMENT: 'docker' });
    expect(tasks.env).toEqual(build.env);
  });

  it('writes the shared cache and publishes only from pushes to main (CVE-2025-36852)', () => {
    expect(Object.keys(build.on).sort()).toEqual(['pull_request', 'push']);
    expect(build.permissions).toEqual({});
    // The write token lives in an environment only main may deploy to; no job names it otherwise.
    const text = ['build.yml', 'variant-tasks.yml'].map((name) => readFileSync(join(workflows, name), 'utf8')).join('\n');
    expect(text).not.toContain('RW_TOKEN');
    const mainOnly = "github.event_name == 'push' && github.ref == 'refs/heads/main'";
    expect(tasks.jobs.task!.environment).toBe(`\${{ ${mainOnly} && 'shared-cache-write' || 'shared-cache-read' }}`);
    expect(build.jobs.publish!.environment).toBe('shared-cache-write');
    expect(build.jobs.publish!.if).toContain(mainOnly);
    // Without a token (a pull request from a fork gets no secrets) the remote cache is off, not failing.
    for (const job of [tasks.jobs.task!, build.jobs.publish!]) {
      expect(job.env!.NX_SELF_HOSTED_REMOTE_CACHE_SERVER).toBe("${{ secrets.NX_REMOTE_CACHE_TOKEN != '' && vars.NX_REMOTE_CACHE_URL || '' }}");
      expect(job.env!.NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN).toBe('${{ secrets.NX_REMOTE_CACHE_TOKEN }}');
    }
    expect(build.jobs['gpu-check']!.if).toContain(mainOnly);
  });

  it('runs only commands that exist in the repository', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const runs = [build, tasks].flatMap((wf) => Object.values(wf.jobs).flatMap((job) => (job.steps ?? []).flatMap((step) => (step.run ? [step.run] : []))));
    const forgeCommands = new Set<string>();
    for (const run of runs) {
      expect(run, 'an expression in a script is a template injection: pass it through env').not.toContain('${{');
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

  it('passes zizmor (offline audits) with no finding', () => {
    const result = spawnSync(venvBin('zizmor'), ['--offline', '--no-progress', '--format', 'plain', workflows], { encoding: 'utf8' });
    expect(result.error, 'zizmor is installed by npm run setup:engine').toBeUndefined();
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('No findings to report');
  });

  it('validates against the GitHub workflow schema', () => {
    const files = readdirSync(workflows).filter((name) => name.endsWith('.yml')).map((name) => join(workflows, name));
    expect(files).toHaveLength(2);
    const result = spawnSync(venvBin('check-jsonschema'), ['--builtin-schema', 'vendor.github-workflows', ...files], { encoding: 'utf8' });
    expect(result.error, 'check-jsonschema is installed by npm run setup:engine').toBeUndefined();
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});
