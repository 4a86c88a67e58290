import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackageVariants } from '../src/cli/commands/variants.js';
import { TempWorkspace } from './support/workspace.js';

/** The recipes of the repository, as a new user sees them through Nx and forge. */
const PACKAGES = ['ccimport', 'cumm', 'moge', 'pccm', 'pipeline', 'pointcept', 'pytorch3d', 'sam3d-objects', 'spconv', 'utils3d'];
const CUDA = ['cumm', 'pointcept', 'pytorch3d', 'spconv'];
/** What the recipes' build/host/run requirements imply, read off the recipes by hand. */
const EDGES = [
  'cumm -> ccimport',
  'cumm -> pccm',
  'moge -> pipeline',
  'moge -> utils3d',
  'pccm -> ccimport',
  'pointcept -> spconv',
  'sam3d-objects -> moge',
  'sam3d-objects -> pipeline',
  'sam3d-objects -> pytorch3d',
  'sam3d-objects -> utils3d',
  'spconv -> ccimport',
  'spconv -> cumm',
  'spconv -> pccm',
];

let ws: TempWorkspace;
beforeAll(() => {
  ws = new TempWorkspace({}, { copyRecipes: true });
});
afterAll(() => ws.dispose());

describe('the wv-forge recipes', () => {
  it('are the Nx projects (with the wheel projects)', () => {
    const recipes = ws.nx('show', 'projects', '--projects=tag:recipe', '--json');
    expect(recipes.code, recipes.stderr).toBe(0);
    expect((JSON.parse(recipes.stdout) as string[]).sort()).toEqual(PACKAGES);
    const wheels = ws.nx('show', 'projects', '--projects=tag:wheel', '--json');
    expect((JSON.parse(wheels.stdout) as string[]).sort()).toEqual(['pointops', 'pytorch3d']);
  });

  it('give Nx exactly the dependency edges their requirements imply', () => {
    const result = ws.nx('graph', '--file=graph.json');
    expect(result.code, result.stderr).toBe(0);
    const graph = JSON.parse(ws.run('cat', ['graph.json']).stdout) as { graph: { dependencies: Record<string, Array<{ target: string }>> } };
    const edges = Object.entries(graph.graph.dependencies).flatMap(([source, deps]) => deps.map((d) => `${source} -> ${d.target}`));
    expect(edges.sort()).toEqual(EDGES);
  });

  it('make a variant task wait only for the matching variants upstream', () => {
    const result = ws.nx('show', 'project', 'spconv', '--json');
    const project = JSON.parse(result.stdout) as { targets: Record<string, { dependsOn?: unknown[] }> };
    const dependsOn = project.targets['build-py3.12-cuda12.6']?.dependsOn ?? [];
    expect(dependsOn).toHaveLength(4);
    expect(dependsOn).toEqual(
      expect.arrayContaining([
        'solve-py3.12-cuda12.6',
        { projects: ['cumm'], target: 'build-py3.12-cuda12.6' },
        { projects: ['pccm'], target: 'build-noarch' },
        { projects: ['ccimport'], target: 'build-noarch' },
      ]),
    );
    expect(Object.keys(project.targets).filter((t) => t.startsWith('build-')).sort()).toHaveLength(6);
  });

  it('expand to 6 variants per CUDA package and 1 per noarch package', () => {
    const result = ws.forge('variants', '--json');
    expect(result.code, result.stderr).toBe(0);
    const packages = (JSON.parse(result.stdout) as PackageVariants[]).filter((p) => p.kind === 'conda');
    expect(packages.map((p) => p.name).sort()).toEqual(PACKAGES);
    for (const p of packages) {
      expect(p.variants, p.name).toHaveLength(CUDA.includes(p.name) ? 6 : 1);
      expect(p.noarch, p.name).toBe(CUDA.includes(p.name) ? null : 'python');
      for (const v of p.variants) expect(v.file).toBe(`${v.subdir}/${p.name}-${p.version}-${v.buildString}.conda`);
    }
    const cumm = packages.find((p) => p.name === 'cumm')!;
    expect(cumm.usedKeys).toEqual(expect.arrayContaining(['cuda_version', 'python']));
    expect(new Set(cumm.variants.map((v) => `${v.values.python}/${v.values.cuda_version}`)).size).toBe(6);
  });

  it('put every package after everything it depends on in `forge levels`', () => {
    const result = ws.forge('levels', '--json');
    expect(result.code, result.stderr).toBe(0);
    const levels = JSON.parse(result.stdout) as string[][];
    expect(levels.flat().sort()).toEqual(PACKAGES);
    const levelOf = new Map(levels.flatMap((level, i) => level.map((name) => [name, i] as const)));
    for (const edge of EDGES) {
      const [from, to] = edge.split(' -> ') as [string, string];
      expect(levelOf.get(from)!, edge).toBeGreaterThan(levelOf.get(to)!);
    }
  });

  it('pass the linter', () => {
    const result = ws.forge('lint');
    expect(result.stdout).toContain('no findings');
    expect(result.code).toBe(0);
  });

  it('after a commit that edits only cumm, affect cumm, spconv and pointcept', () => {
    ws.write('.gitignore', 'node_modules\n.nx\ngraph.json\n');
    ws.git('init', '-q', '-b', 'main');
    ws.git('add', '-A');
    ws.git('commit', '-qm', 'recipes');
    const recipe = ws.run('cat', ['pkgs/cumm/recipe/recipe.yaml']).stdout;
    ws.write('pkgs/cumm/recipe/recipe.yaml', recipe.replace(/number: 0/, 'number: 1'));
    ws.git('commit', '-qam', 'bump cumm');
    const result = ws.nx('show', 'projects', '--affected', '--base=HEAD~1', '--head=HEAD', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as string[]).sort()).toEqual(['cumm', 'pointcept', 'spconv']);
  });
});
