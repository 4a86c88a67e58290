#!/usr/bin/env node
// The offline demo: build a stand-in bootstrap channel with the engine, then
// build the demo recipes three times in a scratch copy of this folder:
// everything, again (nothing to do), and after a patch edit (only the edited
// package and its dependents). Usage: npm run demo [-- --keep]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBootstrapChannel } from './bootstrap.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../..');
const keep = process.argv.includes('--keep');
const ws = mkdtempSync(join(tmpdir(), 'wv-forge-demo-'));
cpSync(here, ws, { recursive: true, filter: (src) => !/[/\\](output|\.nx|\.bootstrap|\.published)$/.test(src) });
symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');

const step = (title) => console.log(`\n=== ${title}`);
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const nx = (...args) => {
  const started = Date.now();
  const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: ws, env, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`nx ${args.join(' ')} failed`);
  return (Date.now() - started) / 1000;
};

/** Which variant tasks the engine built since `before` (by their manifests' build times). */
function builtSince(before) {
  const built = [];
  const root = join(ws, 'output');
  if (!existsSync(root)) return built;
  for (const project of readdirSync(root).filter((p) => !p.startsWith('.'))) {
    for (const id of readdirSync(join(root, project))) {
      const manifest = join(root, project, id, 'manifest.json');
      if (existsSync(manifest) && Date.parse(JSON.parse(readFileSync(manifest, 'utf8')).builtAt) >= before) built.push(`${project}:${id}`);
    }
  }
  return built.sort();
}
const summary = (built) => {
  const per = {};
  for (const task of built) per[task.split(':')[0]] = (per[task.split(':')[0]] ?? 0) + 1;
  return built.length ? Object.entries(per).map(([p, n]) => `${p} x${n}`).join(', ') : 'nothing';
};

try {
  step('bootstrap: stand-in python 3.12/3.13 and cuda-version 12.6 to 13.0, built by the engine');
  await buildBootstrapChannel(join(ws, 'bootstrap'), join(ws, '.bootstrap'), repo);

  step('1. nx run-many -t build: every variant once');
  let t0 = Date.now();
  const first = nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
  console.log(`\nbuilt: ${summary(builtSince(t0))} in ${first.toFixed(1)} s`);

  step('2. the same command again: nothing changed, nothing builds');
  t0 = Date.now();
  const second = nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
  console.log(`\nbuilt: ${summary(builtSince(t0))} in ${second.toFixed(1)} s`);

  step('3. edit the patch of demo-cuda, then the same command: only demo-cuda and its dependents rebuild');
  const patch = join(ws, 'pkgs/demo-cuda/recipe/patches/cuda-home.patch');
  writeFileSync(patch, readFileSync(patch, 'utf8').replace('echo "CUDA_HOME=${PREFIX}"', 'echo "CUDA_HOME=${PREFIX} (patched)"'));
  t0 = Date.now();
  const third = nx('run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
  console.log(`\nrebuilt: ${summary(builtSince(t0))} in ${third.toFixed(1)} s (demo-core untouched)`);
} catch (error) {
  console.error(`demo: ${typeof error?.format === 'function' ? error.format() : error.message}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`\nworkspace kept at ${ws}`);
  else rmSync(ws, { recursive: true, force: true });
}
