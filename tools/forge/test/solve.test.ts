import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanEntry } from '../src/cli/commands/plan.js';
import type { SolveReport } from '../src/cli/commands/solve.js';
import { withBounds } from '../src/solve/environments.js';
import { serveFolder } from './support/channel-server.js';
import { enginePython } from './support/paths.js';
import { demoWorkspace, manifests, rebuilt, sharedBootstrap } from './support/demo.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-solve-test-'));
let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBootstrap(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A channel of index records only (no package files): `demo-lib` in the given versions. */
function writeChannel(dir: string, versions: readonly string[]): void {
  const packages = Object.fromEntries(
    versions.map((version) => [`demo-lib-${version}-0.conda`, { name: 'demo-lib', version, build: '0', build_number: 0, depends: [], subdir: 'noarch', noarch: 'generic' }]),
  );
  mkdirSync(join(dir, 'noarch'), { recursive: true });
  writeFileSync(join(dir, 'noarch', 'repodata.json'), JSON.stringify({ info: { subdir: 'noarch' }, packages: {}, 'packages.conda': packages, repodata_version: 1 }));
}

const EXTRA_RECIPE = `package:
  name: demo-extra
  version: "0.1.0"
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/demo-extra
    - echo extra > $PREFIX/share/demo-extra/extra.txt
about:
  license: MIT
  summary: What demo-app needs and no channel has
`;

describe('pin bounds, as rattler-build writes them', () => {
  const pin = (lower?: string | null, upper?: string | null) => ({ name: 'python', spec: "pin_compatible('python')", pin: 'pin_compatible' as const, bounds: { lower, upper } });
  it('keep as many parts as the pattern has, and bump the last kept part for the upper bound', () => {
    expect(withBounds(pin('x.x', 'x.x'), '3.12')).toBe('python >=3.12,<3.13.0a0');
    expect(withBounds({ ...pin('x.x', 'x'), name: 'cuda-version' }, '12.6')).toBe('cuda-version >=12.6,<13.0a0');
    expect(withBounds(pin(), '1.2.3')).toBe('python >=1.2.3,<2.0a0');
    expect(withBounds(pin(null, 'x.x'), '3.13')).toBe('python <3.14.0a0');
    expect(withBounds(pin('3.10', '4'), '3.12')).toBe('python >=3.10,<4');
  });
});

describe('solving the demo workspace before building it', () => {
  let ws: TempWorkspace;
  const channel = () => join(ws.root, 'extra-channel');
  beforeAll(() => {
    ws = demoWorkspace(bootstrap);
    // Two CUDA versions, one Python: enough variants to show grouping, few builds.
    ws.edit('variants.yaml', (t) => t.replace('  - "3.13"\n', '').replace('  - "12.9"\n', ''));
    writeChannel(channel(), ['1.0', '1.5']);
    ws.edit('nx.json', (t) => t.replace('"channels": ["./.bootstrap"]', '"channels": ["./.bootstrap", "./extra-channel"]'));
    // A wrong version (the channel has demo-lib 1.x) and a package no channel has.
    ws.edit('pkgs/demo-ext/recipe/recipe.yaml', (t) => {
      const [head, run] = t.split('  run:\n') as [string, string];
      return `${head}  run:\n${run.replace('    - demo-cuda\n', '    - demo-cuda\n    - demo-lib >=2.0\n')}`;
    });
    ws.edit('pkgs/demo-app/recipe/recipe.yaml', (t) => t.replace('    - demo-ext\n', '    - demo-ext\n    - demo-extra\n'));
  });
  afterAll(() => ws.dispose());

  function expectProblems(report: SolveReport): void {
    const byTask = Object.fromEntries(report.tasks.map((t) => [`${t.project}:${t.variant}`, t]));
    expect(Object.keys(byTask).sort()).toEqual(['demo-app:noarch', 'demo-core:noarch', 'demo-cuda:py3.12-cuda12.6', 'demo-cuda:py3.12-cuda12.8', 'demo-ext:py3.12-cuda12.6', 'demo-ext:py3.12-cuda12.8']);
    // demo-ext's host needs demo-cuda, built by nobody yet: the predicted channel has it.
    for (const task of ['demo-core:noarch', 'demo-cuda:py3.12-cuda12.6', 'demo-cuda:py3.12-cuda12.8']) expect(byTask[task]!.solvable, task).toBe(true);
    for (const task of ['demo-ext:py3.12-cuda12.6', 'demo-ext:py3.12-cuda12.8']) {
      expect(byTask[task]!.solvable).toBe(false);
      expect(byTask[task]!.problems).toEqual([{ package: 'demo-ext', environment: 'run', spec: 'demo-lib >=2.0', kind: 'version', detail: 'no version matches; the channels have 1.0, 1.5' }]);
    }
    expect(byTask['demo-app:noarch']!.problems).toEqual([{ package: 'demo-app', environment: 'run', spec: 'demo-extra', kind: 'missing', detail: 'no such package on any channel' }]);
  }

  it('forge solve names the missing package and the wrong version, per package and variant', () => {
    const text = ws.forge('solve');
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/demo-ext\s+all 2\s+run\s+demo-lib >=2\.0\s+no version matches; the channels have 1\.0, 1\.5/);
    expect(text.stdout).toMatch(/demo-app\s+noarch\s+run\s+demo-extra\s+no such package on any channel/);
    expect(text.stdout).toContain('6 variant task(s): 3 solvable, 3 unsolvable (demo-ext, demo-app)');
    const json = ws.forge('solve', '--json');
    expect(json.code).toBe(1);
    expectProblems(JSON.parse(json.stdout) as SolveReport);
    expect([...manifests(ws).keys()]).toEqual([]);
  });

  it('reads a channel served on 127.0.0.1 the same way', async () => {
    const served = await serveFolder(channel());
    try {
      ws.edit('nx.json', (t) => t.replace('"./extra-channel"', `"${served.url}"`));
      const json = await ws.forgeAsync('solve', '--json');
      expect(json.code, json.stderr).toBe(1);
      expectProblems(JSON.parse(json.stdout) as SolveReport);
      expect(served.requests).toContain('/noarch/repodata.json');
    } finally {
      ws.edit('nx.json', (t) => t.replace(/"http:\/\/127\.0\.0\.1:\d+"/, '"./extra-channel"'));
      served.server.close();
    }
  });

  it('a channel that cannot be read is one line naming it and where to point at a mirror, in forge solve and the solve task', async () => {
    const closed = await serveFolder(channel());
    const url = closed.url;
    await new Promise((resolve) => closed.server.close(resolve));
    try {
      ws.edit('nx.json', (t) => t.replace('"./extra-channel"', `"${url}"`));
      const solved = await ws.forgeAsync('solve');
      expect(solved.code).toBe(2);
      expect(solved.stderr).toMatch(new RegExp(`^forge: error: channel ${url.replace(/[.]/g, '\\.')} cannot be read: .*Connection refused.*set \`channels\` and \`artifactChannels\` of @wv-forge/forge/plugin in nx\\.json to a mirror or a local channel folder\\)\\n$`));
      // One process per task (--batch=false) takes the executor's own path.
      const task = ws.nx('run', 'demo-ext:solve-py3.12-cuda12.6', '--batch=false', '--output-style=stream');
      expect(task.code).not.toBe(0);
      expect(task.stdout).toContain(`demo-ext:py3.12-cuda12.6: error: channel ${url} cannot be read`);
      // Skipping the solve would only move the same failure into the build.
      expect(task.stdout).not.toContain('FORGE_SKIP_SOLVE');
      // A run meets it once: its other solve tasks report it without asking the channels again.
      const calls = join(ws.root, 'solver-calls.log');
      const python = join(ws.root, 'counting-python');
      writeFileSync(python, `#!/bin/sh\necho "$@" >> '${calls}'\nexec '${enginePython()}' "$@"\n`, { mode: 0o755 });
      const run = ws.nxWithEnv({ FORGE_PYTHON: python }, 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(run.code).not.toBe(0);
      expect(run.stdout.match(new RegExp(`: error: channel ${url.replace(/[.]/g, '\\.')} cannot be read`, 'g'))?.length).toBeGreaterThan(2);
      expect(readFileSync(calls, 'utf8').trim().split('\n').filter((line) => line.includes('forge_solve.py'))).toHaveLength(1);
    } finally {
      ws.edit('nx.json', (t) => t.replace(/"http:\/\/127\.0\.0\.1:\d+"/, '"./extra-channel"'));
    }
  });

  it('run-many builds what it can and reports the rest as unsolvable, blocking their dependents', () => {
    const result = ws.nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
    const out = result.stdout + result.stderr;
    expect(result.code).not.toBe(0);
    expect(out).toContain('demo-ext:py3.12-cuda12.6: unsolvable');
    expect(out).toContain('run of demo-ext: demo-lib >=2.0: no version matches');
    expect(out).toContain('demo-app:noarch: unsolvable');
    expect(out).not.toMatch(/demo-(ext|app):\S+: building/);
    expect([...manifests(ws).keys()].sort()).toEqual(['demo-core:noarch', 'demo-cuda:py3.12-cuda12.6', 'demo-cuda:py3.12-cuda12.8']);

    const plan = JSON.parse(ws.forge('plan', '--json').stdout) as PlanEntry[];
    const status = Object.fromEntries(plan.map((p) => [`${p.project}:${p.variant}`, p]));
    expect(status['demo-cuda:py3.12-cuda12.6']!.status).toBe('cached');
    expect(status['demo-ext:py3.12-cuda12.8']!.status).toBe('unsolvable');
    expect(status['demo-ext:py3.12-cuda12.8']!.reason).toContain('demo-lib >=2.0: no version matches');
    expect(status['demo-app:noarch']!.status).toBe('blocked');
    expect(status['demo-app:noarch']!.reason).toContain('is unsolvable');

    const skipped = ws.nxWithEnv({ FORGE_SKIP_SOLVE: '1' }, 'run', 'demo-ext:solve-py3.12-cuda12.6', '--output-style=stream');
    expect(skipped.code, skipped.stdout).toBe(0);
    expect(skipped.stdout).toContain('not solved (FORGE_SKIP_SOLVE=1)');
  });

  it('adding the missing recipe (and the version to the channel) makes everything solvable, and the rest builds', () => {
    ws.write('pkgs/demo-extra/recipe/recipe.yaml', EXTRA_RECIPE);
    writeChannel(channel(), ['1.0', '1.5', '2.1']);
    const solved = ws.forge('solve');
    expect(solved.code, solved.stdout).toBe(0);
    expect(solved.stdout).toContain('7 variant task(s): 7 solvable, 0 unsolvable');
    const before = manifests(ws);
    const result = ws.nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual(['demo-app:noarch', 'demo-ext:py3.12-cuda12.6', 'demo-ext:py3.12-cuda12.8', 'demo-extra:noarch']);
  });
});

describe('the solveBeforeBuild option', () => {
  it('false keeps the solve tasks out of the build chain; anything but true or false is one line naming nx.json', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      ws.edit('nx.json', (t) => t.replace('"artifactChannels": []', '"artifactChannels": [], "solveBeforeBuild": false'));
      const shown = ws.nx('show', 'project', 'demo-ext', '--json');
      expect(shown.code, shown.stderr).toBe(0);
      const targets = (JSON.parse(shown.stdout) as { targets: Record<string, { dependsOn?: unknown[] }> }).targets;
      expect(targets['build-py3.12-cuda12.6']!.dependsOn).toEqual([{ projects: ['demo-cuda'], target: 'build-py3.12-cuda12.6' }]);
      expect(targets['solve-py3.12-cuda12.6']).toBeDefined();
      ws.edit('nx.json', (t) => t.replace('"solveBeforeBuild": false', '"solveBeforeBuild": "no"'));
      const bad = ws.forge('solve');
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toMatch(/^forge: error: \S*nx\.json: option `solveBeforeBuild` must be true or false$/);
    } finally {
      ws.dispose();
    }
  });
});

describe('a requirement that is no match spec the engine accepts', () => {
  it('makes the variants that have it unsolvable, saying why, and the others still solve', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // Past forge's own check of bare versions, and refused by rattler's strict parser (the engine's).
      ws.edit('pkgs/demo-app/recipe/recipe.yaml', (t) => t.replace('    - demo-ext\n', '    - demo-ext\n    - demo-core 1.0|1.1\n'));
      const json = ws.forge('solve', '--json');
      expect(json.code, json.stderr).toBe(1);
      const report = JSON.parse(json.stdout) as SolveReport;
      expect(report.tasks.filter((t) => !t.solvable).map((t) => `${t.project}:${t.variant}`)).toEqual(['demo-app:noarch']);
      expect(report.tasks.find((t) => t.project === 'demo-app')!.problems).toEqual([
        { package: 'demo-app', environment: 'run', spec: 'demo-core 1.0|1.1', kind: 'invalid', detail: "not a match spec rattler-build accepts: missing range specifier for '1.0'. Did you mean '==1.0' or '1.0.*'?" },
      ]);
      expect(report.tasks.filter((t) => t.solvable)).toHaveLength(13);
    } finally {
      ws.dispose();
    }
  });
});
