import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './support/paths.js';

interface Job {
  readonly scenario: string;
  readonly job: string;
  readonly event: string;
  readonly token: string;
  readonly built: Array<{ task: string; key: string }>;
  readonly restoredFromKeyStore: string[];
  readonly requests: number;
  readonly writes: { stored: number; refused: number };
}
interface Summary { readonly jobs: Job[]; readonly engineRuns: number; readonly distinctKeys: number; readonly forkEngineRuns: number; readonly problems: string[] }

const scratch = mkdtempSync(join(tmpdir(), 'forge-rehearsal-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm run ci-rehearsal', () => {
  // The whole pipeline four times over (47 jobs, each a fresh clone): minutes, not seconds.
  it('runs the workflow plan to publish over four scenarios and builds each content key once', async () => {
    const json = join(scratch, 'summary.json');
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [join(repoRoot, '.ci/rehearsal.mjs'), '--json', json], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk));
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(result.code, result.output.slice(-6000)).toBe(0);
    const summary = JSON.parse(readFileSync(json, 'utf8')) as Summary;
    expect(summary.problems).toEqual([]);
    // The goal: one engine run per distinct content key, over all jobs and scenarios.
    expect(summary.engineRuns).toBe(summary.distinctKeys);
    expect(summary.distinctKeys).toBe(14 + 4 + 8 + 8);
    const { jobs } = summary;
    // Every kind of job ran, with the token its trust level gets.
    for (const job of jobs.filter((j) => j.event === 'push' && j.job !== 'plan')) expect(job.token, job.job).toBe('read-write');
    for (const job of jobs.filter((j) => j.event === 'pull_request' && j.job !== 'plan')) {
      expect(job.token, job.job).toBe('read-only');
      expect(job.writes.stored, job.job).toBe(0);
      expect(job.writes.refused, job.job).toBeGreaterThan(0);
    }
    const fork = jobs.filter((j) => j.event === 'fork pull_request');
    expect(fork.length).toBeGreaterThan(1);
    for (const job of fork) expect([job.token, job.requests], job.job).toEqual(['no token', 0]);
    expect(summary.forkEngineRuns).toBeGreaterThan(0);
    for (const job of jobs.filter((j) => j.job === 'developer' || j.job.startsWith('publish'))) expect(job.built, `(${job.scenario}) ${job.job}`).toEqual([]);
    // (B): the old variants came back by content key although Nx's hash of each had changed.
    expect(new Set(jobs.filter((j) => j.scenario === 'B').flatMap((j) => j.restoredFromKeyStore)).size).toBeGreaterThanOrEqual(12);
  }, 30 * 60_000);
});
