import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanEntry } from '../src/cli/commands/plan.js';
import { serveOutputsAsChannel } from './support/channel-server.js';
import { demoWorkspace, manifests, rebuilt, sharedBootstrap } from './support/demo.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-build-test-'));
let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBootstrap(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CUDA_TASKS = ['py3.12-cuda12.6', 'py3.12-cuda12.8', 'py3.12-cuda12.9', 'py3.13-cuda12.6', 'py3.13-cuda12.8', 'py3.13-cuda12.9'];
const ALL = ['demo-app:noarch', 'demo-core:noarch', ...CUDA_TASKS.map((t) => `demo-cuda:${t}`), ...CUDA_TASKS.map((t) => `demo-ext:${t}`)].sort();

function build(ws: TempWorkspace, ...extra: string[]) {
  const result = ws.nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream', ...extra);
  return { ...result, out: result.stdout + result.stderr };
}


describe('building the demo workspace with the real engine', () => {
  let ws: TempWorkspace;
  beforeAll(() => {
    ws = demoWorkspace(bootstrap);
  });
  afterAll(() => ws.dispose());

  it('builds every variant once', () => {
    const result = build(ws);
    expect(result.code, result.out).toBe(0);
    const built = manifests(ws);
    expect([...built.keys()].sort()).toEqual(ALL);
    for (const manifest of built.values()) expect(manifest.files).toHaveLength(1);
  });

  it('builds nothing the second time', () => {
    const before = manifests(ws);
    // Nx's cache left out, so forge's own skip (same key in output/) is what answers, once per task.
    const result = build(ws, '--skip-nx-cache');
    expect(result.code, result.out).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual([]);
    expect([...result.out.matchAll(/^(\S+): cached in output\//gm)].map((m) => m[1]).sort()).toEqual(ALL);
    expect(result.out).not.toMatch(/: building /);
  });

  it('after a patch edit, rebuilds that package and the matching variants of its dependents only', () => {
    const before = manifests(ws);
    ws.edit('pkgs/demo-cuda/recipe/patches/cuda-home.patch', (t) => t.replace('echo "CUDA_HOME=${PREFIX}"', 'echo "CUDA_HOME=${PREFIX}/cuda"'));
    const result = build(ws);
    expect(result.code, result.out).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual(ALL.filter((t) => !t.startsWith('demo-core')));
  });

  it('says which input changed in forge explain: a patch, an upstream key', () => {
    ws.edit('pkgs/demo-cuda/recipe/patches/cuda-home.patch', (t) => t.replace('${PREFIX}/cuda"', '${PREFIX}/cuda-again"'));
    const cuda = ws.forge('explain', 'demo-cuda', 'py3.12-cuda12.6');
    expect(cuda.code, cuda.stderr).toBe(0);
    expect(cuda.stdout).toContain('recipe file changed: patches/cuda-home.patch');
    const ext = ws.forge('explain', 'demo-ext', 'py3.12-cuda12.6');
    expect(ext.stdout).toContain('upstream changed: demo-cuda/py3.12-cuda12.6');
    expect(ext.stdout).not.toContain('recipe file changed');
  });

  it('builds only the new variants when a CUDA version is added', () => {
    const caughtUp = build(ws);
    expect(caughtUp.code, caughtUp.out).toBe(0);
    const before = manifests(ws);
    ws.edit('variants.yaml', (t) => t.replace('  - "12.9"', '  - "12.9"\n  - "13.0"'));
    const fresh = ['demo-cuda:py3.12-cuda13.0', 'demo-cuda:py3.13-cuda13.0', 'demo-ext:py3.12-cuda13.0', 'demo-ext:py3.13-cuda13.0'];
    const plan = JSON.parse(ws.forge('plan', '--json').stdout) as PlanEntry[];
    expect(plan.filter((p) => p.status === 'build').map((p) => `${p.project}:${p.variant}`).sort()).toEqual(fresh);
    expect(plan.filter((p) => p.status === 'cached')).toHaveLength(ALL.length);
    const result = build(ws);
    expect(result.code, result.out).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual(fresh);
  });

  it('renames and rebuilds nothing when python shrinks to one value, nor when it grows back', () => {
    const variants = readFileSync(join(ws.root, 'variants.yaml'), 'utf8');
    expect(build(ws).code).toBe(0);
    const before = manifests(ws);
    const ids = (project: string) => (JSON.parse(ws.forge('variants', project, '--json').stdout) as Array<{ variants: Array<{ id: string }> }>)[0]!.variants.map((v) => v.id).sort();
    const cudaIds = ids('demo-cuda');

    ws.edit('variants.yaml', (t) => t.replace('  - "3.13"\n', ''));
    expect(ids('demo-cuda')).toEqual(cudaIds.filter((id) => id.startsWith('py3.12-')));
    const shrunk = build(ws);
    expect(shrunk.code, shrunk.out).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual([]);

    writeFileSync(join(ws.root, 'variants.yaml'), variants);
    expect(ids('demo-cuda')).toEqual(cudaIds);
    const grown = build(ws);
    expect(grown.code, grown.out).toBe(0);
    expect(rebuilt(before, manifests(ws))).toEqual([]);
  });
});

describe('a local source outside the recipe folder', () => {
  it('is an input of the build: its edit rebuilds the package (it was in neither the content key nor Nx\'s inputs)', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      renameSync(join(ws.root, 'pkgs/demo-core/recipe/src'), join(ws.root, 'pkgs/demo-core/src'));
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('  path: src', '  path: ../src'));
      const build = () => {
        const result = ws.nx('run', 'demo-core:build-noarch', '--output-style=stream');
        expect(result.code, result.stdout + result.stderr).toBe(0);
      };
      build();
      const before = manifests(ws);
      ws.edit('pkgs/demo-core/src/core.txt', (t) => `${t}edited\n`);
      const plan = JSON.parse(ws.forge('plan', '--json').stdout) as PlanEntry[];
      expect(plan.find((p) => p.project === 'demo-core')!.reason).toBe('inputs changed: recipe file changed: ../src/core.txt');
      build();
      expect(rebuilt(before, manifests(ws))).toEqual(['demo-core:noarch']);
    } finally {
      ws.dispose();
    }
  });
});

describe('a gitignored file in a recipe folder', () => {
  it('is an input of the build: its edit rebuilds instead of restoring the old package from the Nx cache', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      ws.write('.gitignore', '*.local\n');
      ws.write('pkgs/demo-core/recipe/src/extra.local', 'one\n');
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('cp core.txt $PREFIX', 'cp core.txt extra.local $PREFIX'));
      const build = () => {
        const result = ws.nx('run', 'demo-core:build-noarch', '--output-style=stream');
        expect(result.code, result.stdout + result.stderr).toBe(0);
      };
      build();
      const before = manifests(ws);
      ws.write('pkgs/demo-core/recipe/src/extra.local', 'two\n');
      build();
      expect(rebuilt(before, manifests(ws))).toEqual(['demo-core:noarch']);
      const plan = JSON.parse(ws.forge('plan', '--json').stdout) as PlanEntry[];
      expect(plan.find((p) => p.project === 'demo-core')!.status).toBe('cached');
    } finally {
      ws.dispose();
    }
  });
});

describe('a variant task run without its upstream tasks', () => {
  it('refuses to build against an upstream folder from other inputs (its own key would claim the new upstream)', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const target = 'demo-ext:build-py3.12-cuda12.6';
      const first = ws.nx('run', target, '--output-style=stream');
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const before = manifests(ws);
      ws.edit('pkgs/demo-cuda/recipe/patches/cuda-home.patch', (t) => t.replace('echo "CUDA_HOME=${PREFIX}"', 'echo "CUDA_HOME=${PREFIX}/cuda"'));
      const alone = ws.nx('run', target, '--exclude-task-dependencies', '--skip-nx-cache', '--output-style=stream');
      expect(alone.code).not.toBe(0);
      expect(alone.stdout).toContain('demo-ext:py3.12-cuda12.6: error: demo-cuda:py3.12-cuda12.6 is not built from its current inputs in output; build it first (run this task with its dependencies)');
      expect(rebuilt(before, manifests(ws))).toEqual([]);

      // What Nx's cache restores after an engine upgrade (the engine version is not in Nx's hash).
      const upstreamManifest = join(ws.root, 'output/demo-cuda/py3.12-cuda12.6/manifest.json');
      const original = readFileSync(upstreamManifest, 'utf8');
      const manifest = JSON.parse(original) as { key: string; inputs: { engine: string } };
      writeFileSync(upstreamManifest, JSON.stringify({ ...manifest, key: 'f'.repeat(64), inputs: { ...manifest.inputs, engine: 'py-rattler-build 0.0.1' } }));
      const oldEngine = ws.nx('run', target, '--exclude-task-dependencies', '--skip-nx-cache', '--output-style=stream');
      expect(oldEngine.code).not.toBe(0);
      expect(oldEngine.stdout).toMatch(/is not built from its current inputs in output; built by another engine than py-rattler-build [\d.]+: run with --skip-nx-cache once after an engine upgrade/);
      writeFileSync(upstreamManifest, original);
      const withUpstream = ws.nx('run', target, '--output-style=stream');
      expect(withUpstream.code, withUpstream.stdout + withUpstream.stderr).toBe(0);
      expect(rebuilt(before, manifests(ws))).toEqual(['demo-cuda:py3.12-cuda12.6', 'demo-ext:py3.12-cuda12.6']);
    } finally {
      ws.dispose();
    }
  });
});

describe('a variants.yaml beside a recipe', () => {
  it('is not merged in by the engine either, so the build gives the file the variant engine predicted', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const predicted = () => (JSON.parse(ws.forge('variants', 'demo-core', '--json').stdout) as Array<{ variants: Array<{ file: string }> }>)[0]!.variants.map((v) => v.file);
      const without = predicted();
      ws.write('pkgs/demo-core/recipe/variants.yaml', 'extra_flag:\n  - "on"\n');
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('    - cp core.txt $PREFIX/share/demo-core/', '    - cp core.txt $PREFIX/share/demo-core/\n    - echo "${{ extra_flag }}" > $PREFIX/share/demo-core/flag.txt'));
      // forge ignores the file (an undefined extra_flag renders empty): the prediction is the one without it.
      expect(predicted()).toEqual(without);
      const result = ws.nx('run', 'demo-core:build-noarch', '--output-style=stream');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      // What the engine wrote to disk, not the manifest forge writes from its prediction.
      expect(ws.run('ls', ['output/demo-core/noarch/noarch']).stdout.split('\n').filter((f) => f.endsWith('.conda')).map((f) => `noarch/${f}`)).toEqual(without);
    } finally {
      ws.dispose();
    }
  });
});

describe('a recipe folder edited while its build runs', () => {
  it('fails the task and keeps nothing, so neither output/ nor the Nx cache holds a package under a key it does not match', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // The build script itself stands in for an editor saving during the build.
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('    - cp core.txt $PREFIX/share/demo-core/', '    - cp core.txt $PREFIX/share/demo-core/\n    - echo edited >> $RECIPE_DIR/src/core.txt'));
      const result = ws.nx('run', 'demo-core:build-noarch', '--output-style=stream');
      expect(result.code).not.toBe(0);
      expect(result.stdout + result.stderr).toContain('demo-core:noarch: FAILED: src/core.txt changed in pkgs/demo-core/recipe during the build; nothing was kept, run it again');
      expect(manifests(ws).size).toBe(0);
      expect(ws.run('ls', ['-A', 'output/.staging']).stdout.trim()).toBe('');
    } finally {
      ws.dispose();
    }
  });
});

describe('artifacts already on a channel', () => {
  it('are not built again when local outputs and the Nx cache are gone', async () => {
    const ws = demoWorkspace(bootstrap);
    const published = mkdtempSync(join(scratch, 'published-'));
    try {
      const first = build(ws);
      expect(first.code, first.out).toBe(0);
      cpSync(join(ws.root, 'output'), published, { recursive: true, filter: (src) => !src.includes('.staging') && !src.includes('.locks') });
      rmSync(join(ws.root, 'output'), { recursive: true, force: true });
      rmSync(join(ws.root, '.nx'), { recursive: true, force: true });
      const channel = await serveOutputsAsChannel(published);
      try {
        ws.edit('nx.json', (t) => t.replace('"artifactChannels": []', `"artifactChannels": ["${channel.url}"]`));
        const plan = JSON.parse((await ws.forgeAsync('plan', '--json')).stdout) as PlanEntry[];
        expect(plan).toHaveLength(ALL.length);
        for (const entry of plan) expect(entry.status, `${entry.project}:${entry.variant}`).toBe('channel');
        expect(plan[0]!.reason).toContain(channel.url);
        const run = await ws.nxAsync('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
        const result = { ...run, out: run.stdout + run.stderr };
        expect(result.code, result.out).toBe(0);
        expect(result.out).not.toMatch(/: building /);
        expect(result.out.match(/already on http:\/\/127\.0\.0\.1/g)).toHaveLength(ALL.length);
        expect(channel.requests).toContain('/linux-64/repodata.json');

        // A new build number downstream builds against the upstream packages from that channel.
        // (demo-app's file name does not change with it, so the channel's copy still serves.)
        ws.edit('pkgs/demo-ext/recipe/recipe.yaml', (t) => t.replace('number: 0', 'number: 1'));
        const again = await ws.nxAsync('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
        expect(again.code, again.stdout + again.stderr).toBe(0);
        expect([...manifests(ws)].filter(([, m]) => m.files.length > 0).map(([task]) => task).sort()).toEqual(CUDA_TASKS.map((t) => `demo-ext:${t}`));
        // The engine's host table names the channel each package came from.
        expect(again.stdout).toMatch(/demo-cuda\s.*127\.0\.0\.1/);
      } finally {
        channel.server.close();
      }
    } finally {
      ws.dispose();
    }
  });
});

describe('a variant whose build fails', () => {
  it('fails with the log tail, lets its siblings finish, blocks its dependents, and is all that rebuilds next time', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // The failure depends on a file outside the recipe, so fixing it leaves every content key as it was.
      const marker = join(ws.root, 'fail-cuda-12.8');
      writeFileSync(marker, '');
      ws.edit('pkgs/demo-cuda/recipe/recipe.yaml', (t) =>
        t.replace('      mkdir -p $PREFIX/share/demo-cuda', `      if [ "$DEMO_CUDA_VERSION" = "12.8" ] && [ -f ${marker} ]; then echo "nvcc: simulated failure for 12.8" >&2; exit 3; fi\n      mkdir -p $PREFIX/share/demo-cuda`),
      );
      const first = build(ws);
      expect(first.code).not.toBe(0);
      expect(first.out).toContain('demo-cuda:py3.12-cuda12.8: FAILED');
      expect(first.out).toContain('nvcc: simulated failure for 12.8');
      const built = [...manifests(ws).keys()].sort();
      expect(built).toEqual(ALL.filter((t) => !t.includes('12.8') && t !== 'demo-app:noarch'));
      const plan = JSON.parse(ws.forge('plan', '--json').stdout) as PlanEntry[];
      const status = Object.fromEntries(plan.map((p) => [`${p.project}:${p.variant}`, p.status]));
      expect(status['demo-cuda:py3.12-cuda12.8']).toBe('build');
      expect(status['demo-ext:py3.12-cuda12.8']).toBe('blocked');
      expect(status['demo-app:noarch']).toBe('blocked');
      expect(status['demo-cuda:py3.12-cuda12.6']).toBe('cached');

      const before = manifests(ws);
      rmSync(marker);
      const second = build(ws);
      expect(second.code, second.out).toBe(0);
      expect(rebuilt(before, manifests(ws))).toEqual(['demo-app:noarch', 'demo-cuda:py3.12-cuda12.8', 'demo-cuda:py3.13-cuda12.8', 'demo-ext:py3.12-cuda12.8', 'demo-ext:py3.13-cuda12.8']);
    } finally {
      ws.dispose();
    }
  });
});

describe('two builds of the same workspace at once', () => {
  it('both finish and leave every output and index consistent', async () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const [a, b] = await Promise.all([
        ws.nxAsync('run-many', '-t', 'build', '--parallel=2', '--output-style=stream', '--skip-nx-cache'),
        ws.nxAsync('run-many', '-t', 'build', '--parallel=2', '--output-style=stream', '--skip-nx-cache'),
      ]);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      expect(b.code, b.stdout + b.stderr).toBe(0);
      const built = manifests(ws);
      expect([...built.keys()].sort()).toEqual(ALL);
      for (const [task, manifest] of built) {
        const [project, id] = task.split(':') as [string, string];
        for (const entry of manifest.files as Array<{ file: string; sha256: string }>) {
          const [subdir, name] = entry.file.split('/') as [string, string];
          const index = JSON.parse(readFileSync(join(ws.root, 'output', project, id, subdir, 'repodata.json'), 'utf8')) as { 'packages.conda': Record<string, { sha256: string }> };
          expect(index['packages.conda'][name]?.sha256, task).toBe(entry.sha256);
        }
      }
      expect(ws.run('ls', ['-A', 'output/.staging']).stdout.trim()).toBe('');
      expect(ws.run('ls', ['-A', 'output/.locks']).stdout.trim()).toBe('');
    } finally {
      ws.dispose();
    }
  });
});

describe('forge explain', () => {
  it('names a changed variant value', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // Every key a recipe uses names its tasks, even with one value: changing the value makes a new variant.
      ws.edit('variants.yaml', (t) => `${t}\nblas_impl:\n  - openblas\n`);
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('    - cp core.txt $PREFIX/share/demo-core/', '    - cp core.txt $PREFIX/share/demo-core/\n    - echo "${{ blas_impl }}" > $PREFIX/share/demo-core/blas.txt'));
      expect(ws.nx('run', 'demo-core:build-noarch-blas_implopenblas').code).toBe(0);
      expect(ws.forge('explain', 'demo-core', 'noarch-blas_implopenblas').stdout).toContain('unchanged since the build');
      ws.edit('variants.yaml', (t) => t.replace('  - openblas', '  - mkl'));
      const result = ws.forge('explain', 'demo-core', 'noarch-blas_implmkl');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('never built here; the closest build, noarch-blas_implopenblas of ');
      expect(result.stdout).toContain('variant value changed: demo-core blas_impl openblas -> mkl');
    } finally {
      ws.dispose();
    }
  });
});

describe('an engine that is not there', () => {
  it('fails the task with one line naming it, and builds nothing', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const result = ws.nxWithEnv({ RATTLER_BUILD: '/nonexistent/rattler-build' }, 'run', 'demo-core:build-noarch', '--output-style=stream');
      expect(result.code).not.toBe(0);
      const out = result.stdout + result.stderr;
      expect(out).toMatch(/demo-core:noarch: error: the engine `\/nonexistent\/rattler-build` \(from RATTLER_BUILD\) does not run: /);
      expect(out).not.toMatch(/^\s+at /m);
      expect(manifests(ws).size).toBe(0);
    } finally {
      ws.dispose();
    }
  });
});
