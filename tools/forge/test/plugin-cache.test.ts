import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { batchParallel, parallelOf } from '../src/executors/parallelism.js';
import { repoRoot } from './support/paths.js';
import { TempWorkspace } from './support/workspace.js';

const require = createRequire(import.meta.url);
/** Nx's command-line option helpers and the yargs it parses with (CommonJS, not in nx's typings). */
const nxOptions = require('nx/src/command-line/yargs-utils/shared-options') as {
  withRunManyOptions(y: unknown): { parserConfiguration(c: unknown): { parseSync(argv: readonly string[]): Record<string, unknown> } };
  readParallelFromArgsAndEnv(args: Record<string, unknown>): number | undefined;
  defaultYargsParserConfiguration: unknown;
};
const yargs = require('yargs') as () => unknown;

const VARIANTS = 'python: ["3.12", "3.13"]\ncuda_version: ["12.6", "12.8"]\n';
const BASE = "package: {name: base, version: \"1.0\"}\nsource:\n  path: .\n  patches: [fix.patch]\nrequirements:\n  host: [python, cuda-version]\n  run: [\"${{ pin_compatible('python', upper_bound='x.x') }}\"]\n";
const APP = 'package: {name: app, version: "2.0"}\nbuild: {noarch: python}\nrequirements:\n  host: [python, base]\n  run: [python, base]\n';

let workspace: TempWorkspace | undefined;
afterEach(() => workspace?.dispose());

interface Load {
  wasmModules: number;
  results?: Array<[string, { projects: Record<string, { targets: Record<string, { metadata?: { description?: string } }> }> }]>;
  error?: string;
}

/** createNodes in a process of its own, as Nx's plugin worker runs it. */
function load(ws: TempWorkspace): Load {
  const { NX_WORKSPACE_DATA_DIRECTORY: _, ...env } = process.env;
  const run = spawnSync(process.execPath, [join(repoRoot, 'tools/forge/test/support/load-plugin.mjs'), ws.root], { encoding: 'utf8', env });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Load;
}

const descriptions = (result: Load) =>
  result.results!.flatMap(([, { projects }]) => Object.values(projects).flatMap((p) => Object.values(p.targets).map((t) => t.metadata?.description ?? '')));

describe('the plugin on a warm workspace', () => {
  it('renders nothing and loads no WASM module when every recipe is cached, and still sees edits and missing patches', () => {
    workspace = new TempWorkspace({ 'variants.yaml': VARIANTS, 'pkgs/base/recipe/recipe.yaml': BASE, 'pkgs/base/recipe/fix.patch': '', 'pkgs/app/recipe/recipe.yaml': APP });
    const cold = load(workspace);
    expect(cold.error).toBeUndefined();
    expect(cold.wasmModules).toBeGreaterThan(0);
    expect(descriptions(cold).join('\n')).toContain('base-1.0-py312');

    const warm = load(workspace);
    expect(warm.wasmModules).toBe(0);
    expect(warm.results).toEqual(cold.results);

    // Only the render cache left: the graph is built again, still without rendering.
    rmSync(join(workspace.root, '.nx/workspace-data/forge-nodes-cache.json'));
    const fromRenderCache = load(workspace);
    expect(fromRenderCache.wasmModules).toBe(0);
    expect(fromRenderCache.results).toEqual(cold.results);

    workspace.edit('pkgs/app/recipe/recipe.yaml', (t) => t.replace('version: "2.0"', 'version: "2.1"'));
    const edited = load(workspace);
    expect(descriptions(edited).join('\n')).toContain('app-2.1-');
    expect(descriptions(edited).join('\n')).not.toContain('app-2.0-');

    rmSync(join(workspace.root, 'pkgs/base/recipe/fix.patch'));
    expect(load(workspace).error).toMatch(/pkgs\/base\/recipe\/recipe\.yaml:4: .*patch `fix\.patch` does not exist/);
  });
});

/**
 * Nx's own answer: its run-many options parse the command line (yargs, as the nx
 * command does), its readParallelFromArgsAndEnv reads the flag and NX_PARALLEL,
 * and without either run-command.js falls back to nx.json's `parallel`, then 3.
 */
function nxParallel(argv: readonly string[], nxJsonParallel: number | undefined, env: Record<string, string>): number {
  const saved = process.env.NX_PARALLEL;
  if (env.NX_PARALLEL === undefined) delete process.env.NX_PARALLEL;
  else process.env.NX_PARALLEL = env.NX_PARALLEL;
  try {
    const args = nxOptions.withRunManyOptions(yargs()).parserConfiguration(nxOptions.defaultYargsParserConfiguration).parseSync(argv.slice(1));
    return nxOptions.readParallelFromArgsAndEnv(args) ?? nxJsonParallel ?? 3;
  } finally {
    if (saved === undefined) delete process.env.NX_PARALLEL;
    else process.env.NX_PARALLEL = saved;
  }
}

describe('the parallelism a variant build batch uses', () => {
  it('is what Nx reads from --parallel, NX_PARALLEL and nx.json', () => {
    const cases: Array<[string[], number | undefined, Record<string, string>]> = [
      [['run-many', '-t', 'build', '--parallel=4'], undefined, {}],
      [['run-many', '--parallel', '6', '-t', 'build'], 2, {}],
      [['run-many', '--parallel', '-t', 'build'], undefined, {}],
      [['run-many', '--parallel=false'], 5, {}],
      [['run-many', '-t', 'build', '--parallel', 'false'], 5, {}],
      [['run-many', '--parallel', 'true', '-t', 'build'], 5, { NX_PARALLEL: '2' }],
      [['run-many'], 5, { NX_PARALLEL: '2' }],
      [['run-many'], 5, {}],
      [['run-many'], undefined, {}],
      [['run-many', '--parallel=50%'], 5, {}],
      [['run-many', '--parallel', '50%'], 5, {}],
      [['run-many', '--parallel', '--max-parallel=7'], 5, {}],
      [['run-many', '--parallel', '--maxParallel', '7'], 5, {}],
      [['run-many', '--parallel'], 5, { NX_PARALLEL: '2' }],
    ];
    const answers = cases.map(([argv, nxJson, env]) => [argv.join(' '), nxJson, env, parallelOf(argv, nxJson, env)]);
    expect(answers).toEqual(cases.map(([argv, nxJson, env]) => [argv.join(' '), nxJson, env, nxParallel(argv, nxJson, env)]));
  });

  it("is read from the command line of the nx process that forked the batch, which Nx names", async () => {
    // A stand-in for the nx process: what matters is its command line as the OS shows it.
    const nx = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'run-many', '-t', 'build', '--parallel=5'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => nx.once('spawn', resolve));
      expect(batchParallel(2, { NX_INVOCATION_ANCESTOR_PIDS: `1,${nx.pid}` })).toBe(5);
      // Gone or not named: NX_PARALLEL, then nx.json.
      expect(batchParallel(2, { NX_INVOCATION_ANCESTOR_PIDS: '999999999', NX_PARALLEL: '4' })).toBe(4);
      expect(batchParallel(2, {})).toBe(2);
    } finally {
      nx.kill();
    }
  });
});
