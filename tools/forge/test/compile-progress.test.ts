import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileProgress, withCompileProgress } from '../src/engine/compile-progress.js';
import { repoRoot } from './support/paths.js';

// Real ninja (the tools venv's, PyPI `ninja`) on a four-step build: its status lines are the truth.
const dir = mkdtempSync(join(tmpdir(), 'forge-progress-test-'));
writeFileSync(join(dir, 'build.ninja'), ['rule copy', '  command = cp $in $out', ...['a', 'b', 'c', 'd'].map((n) => `build ${n}.o: copy build.ninja`), ''].join('\n'));
const ninjaLines = execFileSync(join(repoRoot, '.venv/bin/ninja'), ['-C', dir, '-j1', '-v'], { encoding: 'utf8', env: { ...process.env, NINJA_STATUS: undefined } })
  .split('\n')
  .filter((line) => line.startsWith('['));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compile progress from ninja status lines', () => {
  it('reads real ninja output: every step when reports may come at once', () => {
    expect(ninjaLines).toHaveLength(4);
    const reports: string[] = [];
    const observe = compileProgress('demo:py3.12', (line) => reports.push(line), { everyMs: 0 });
    for (const line of ninjaLines) observe(line);
    expect(reports).toEqual(['demo:py3.12: compiling 1/4 (25%)', 'demo:py3.12: compiling 2/4 (50%)', 'demo:py3.12: compiling 3/4 (75%)', 'demo:py3.12: compiling 4/4 (100%)']);
  });

  it('reports at most once per interval, and always the last step', () => {
    let clock = 0;
    const reports: string[] = [];
    const observe = compileProgress('demo', (line) => reports.push(line), { everyMs: 10_000, now: () => clock });
    for (const line of ninjaLines) {
      observe(line);
      clock += 4_000;
    }
    // 1/4 at 0 s; 2/4 at 4 s and 3/4 at 8 s are too soon; 4/4 is the end.
    expect(reports).toEqual(['demo: compiling 1/4 (25%)', 'demo: compiling 4/4 (100%)']);
  });

  it("finds the status behind a task's label and rattler-build's margin, and nowhere else", () => {
    const reports: string[] = [];
    const log: string[] = [];
    const write = withCompileProgress('spconv:py3.12-cuda12.6', (line) => log.push(line), (line) => reports.push(line), { everyMs: 0 });
    const lines = [
      `[spconv:py3.12-cuda12.6] │ │ ${ninjaLines[0]}`,
      `[spconv:py3.12-cuda12.6] ${ninjaLines[1]}`,
      '[spconv:py3.12-cuda12.6] │ │ g++ -c x.cpp -DLIST=[2/3]', // a bracket inside a command line is no status
      '[9/4] more steps done than there are',
    ];
    for (const line of lines) write(line);
    expect(log).toEqual(lines);
    expect(reports).toEqual(['spconv:py3.12-cuda12.6: compiling 1/4 (25%)', 'spconv:py3.12-cuda12.6: compiling 2/4 (50%)']);
  });
});
