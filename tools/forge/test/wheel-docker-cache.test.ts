import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCacheServer } from '../src/cache-server/server.js';
import { repoRoot } from './support/paths.js';
import { dockerProblem } from './support/docker.js';
import { TempWorkspace } from './support/workspace.js';

/**
 * The compile cache inside docker builds, for real: the CUDA example built in
 * containers (nvcc 13.0 from PyPI), each with its own sccache server on a
 * cache folder of the test's. Needs a Docker daemon and the local base images
 * (as wheel-docker.test.ts); skipped, saying why, where there are none.
 */
const problem = dockerProblem();
if (problem) console.warn(`wheel-docker-cache.test.ts skipped: ${problem}`);

const scratch = mkdtempSync(join(tmpdir(), 'forge-docker-cache-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `compile cache: 3 hits, 0 misses (hits/misses: CUBIN 2/0, ...)` as numbers per language. */
function stats(out: string, label: string): { hits: number; misses: number; languages: Record<string, [number, number]> } {
  const line = out.split('\n').find((l) => l.includes(`${label}: compile cache: `) && /\d+ hits/.test(l));
  expect(line, out).toBeDefined();
  console.log(line);
  const [, hits, misses, detail] = /(\d+) hits, (\d+) misses(?: \(hits\/misses: (.*)\))?/.exec(line!)!;
  const languages = Object.fromEntries((detail ?? '').split(', ').filter(Boolean).map((part) => {
    const [, name, h, m] = /^(.*) (\d+)\/(\d+)$/.exec(part)!;
    return [name!, [Number(h), Number(m)] as [number, number]];
  }));
  return { hits: Number(hits), misses: Number(misses), languages };
}

/** examples/container-cuda for Python 3.11 and 3.13, installing from PyPI. */
function cudaWorkspace(): TempWorkspace {
  const ws = new TempWorkspace();
  for (const entry of ['pkgs', 'nx.json']) cpSync(join(repoRoot, 'examples/container-cuda', entry), join(ws.root, entry), { recursive: true });
  ws.write('variants.yaml', 'python:\n  - "3.11"\n  - "3.13"\ncuda_version:\n  - "13.0"\n');
  ws.edit('nx.json', (text) => {
    const nx = JSON.parse(text) as { plugins: Array<{ options: Record<string, unknown> }> };
    Object.assign(nx.plugins[0]!.options, { pipIndex: 'https://pypi.org/simple' });
    return JSON.stringify(nx, null, 2);
  });
  return ws;
}
const editPython = (ws: TempWorkspace) => ws.edit('pkgs/forge-saxpy/src/forge_saxpy/__init__.py', (text) => `${text}\n# edited: no CUDA source changes\n`);

describe.skipIf(problem !== undefined)('the compile cache in docker builds', { timeout: 1_200_000 }, () => {
  it('the CUDA example: 3.13 after 3.11 compiles no CUDA file again (one image, one g++), a Python-only edit recompiles nothing, and no server or container is left', () => {
    const ws = cudaWorkspace();
    const env = { FORGE_WHEEL_ENVIRONMENT: 'docker', FORGE_COMPILE_CACHE_DIR: join(scratch, 'sccache') };
    const build = (variant: string) => {
      const run = ws.nxWithEnv(env, 'run', `forge-saxpy:wheel-${variant}`, '--output-style=stream', '--skip-nx-cache');
      const out = run.stdout + run.stderr;
      expect(run.code, out).toBe(0);
      expect(out).toContain(`forge-saxpy:${variant}: compile cache: sccache, ${join(scratch, 'sccache')}`);
      expect(out).toMatch(/sccache \/opt\/forge\/cuda\/bin\/nvcc -O2 .* -c csrc\/saxpy\.cu/);
      return out;
    };
    try {
      const first = stats(build('py3.11-cuda13.0'), 'forge-saxpy:py3.11-cuda13.0');
      expect(first.hits).toBe(0);
      expect(first.misses).toBeGreaterThan(0);

      // Both Pythons build in forge-base:bookworm (3.13 built there from source): the same g++ and headers, and a
      // .cu file that includes no Python header, so every stage of every compile is the first variant's.
      const second = stats(build('py3.13-cuda13.0'), 'forge-saxpy:py3.13-cuda13.0');
      expect(second.misses, JSON.stringify(second)).toBe(0);
      expect(second.hits, JSON.stringify(second)).toBe(first.misses);

      // A Python file changes the content key (a rebuild) but no compile: every stage hits.
      editPython(ws);
      const againLog = build('py3.13-cuda13.0');
      const again = stats(againLog, 'forge-saxpy:py3.13-cuda13.0');
      expect(again.misses, JSON.stringify(again)).toBe(0);
      // The kept build tree came back too (its identity read in the container); this setup.py calls nvcc
      // for every object whatever is there, so the compiles above still ran, through the cache.
      expect(againLog).toMatch(/forge-saxpy:py3\.13-cuda13\.0: build tree: the last build's objects are back \(build\/temp\.linux-x86_64-cpython-313\)/);
      expect(Object.keys(again.languages).sort()).toEqual(Object.keys(second.languages).sort());

      // Each container's server was stopped and the container removed: nothing of this workspace runs on.
      const left = execFileSync('docker', ['ps', '-aq', '--filter', 'label=wv-forge'], { encoding: 'utf8' }).split('\n').filter(Boolean)
        .filter((id) => spawnSync('docker', ['inspect', '--format', '{{json .HostConfig.Binds}}', id], { encoding: 'utf8' }).stdout.includes(ws.root));
      expect(left).toEqual([]);
    } finally {
      ws.dispose();
    }
  });

  it('reaches the shared backend from the container (--network host): main\'s CI token writes, a developer\'s read-only token hits', async () => {
    const dir = join(scratch, 'shared');
    const server = createCacheServer({ dir: join(dir, 'server'), readWriteTokens: ['ci-token'], readOnlyTokens: ['dev-token'] });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sccache/`;
    const ws = cudaWorkspace();
    // Not nxWithEnv: the server under test answers from this process's event loop.
    const build = async (token: string) => {
      const run = await ws.nxAsyncWithEnv({ FORGE_WHEEL_ENVIRONMENT: 'docker', FORGE_COMPILE_CACHE_DIR: join(dir, `local-${token}`), FORGE_COMPILE_CACHE_URL: url, FORGE_COMPILE_CACHE_TOKEN: token }, 'run', 'forge-saxpy:wheel-py3.11-cuda13.0', '--output-style=stream', '--skip-nx-cache');
      const out = run.stdout + run.stderr;
      expect(run.code, out).toBe(0);
      expect(out).toContain(`compile cache: sccache, ${url}`);
      return stats(out, 'forge-saxpy:py3.11-cuda13.0');
    };
    const stored = () => readdirSync(join(dir, 'server/.sccache'), { recursive: true }).map(String).filter((f) => /[0-9a-f]{64}$/.test(f));
    try {
      const ci = await build('ci-token');
      expect(ci.hits).toBe(0);
      // Stored on the server: the token reached the container's sccache (it goes in by name, its value off docker's command line).
      expect(stored()).toHaveLength(ci.misses);
      editPython(ws);
      const dev = await build('dev-token');
      expect(dev).toEqual({ ...ci, hits: ci.misses, misses: 0, languages: Object.fromEntries(Object.entries(ci.languages).map(([k, [, m]]) => [k, [m, 0]])) });
    } finally {
      ws.dispose();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
