#!/usr/bin/env node
// Build speed and the compile cache, for one wheel project of an example workspace:
//   by hand  pypa build --no-isolation (the same frontend copy the task runs) in a fresh copy of the
//            source, patches applied, with the variables the task gave its build (CUDA_HOME, PATH,
//            CPATH, TORCH_CUDA_ARCH_LIST), no compile cache;
//   cold     the wheel task (`nx run`, Nx's cache skipped) with an empty compile cache;
//   warm     the wheel task again after an edit that changes no compiled file (a patch adding a
//            file to the source: a new content key, so a full rebuild), the compile cache warm and
//            the variant's kept build tree removed (what another machine sharing the cache gets);
//   kept     the same after a second such edit, with the last build's objects kept (README: kept
//            build trees): ninja compiles nothing;
//   off      the same task with FORGE_COMPILE_CACHE=off, for what sccache itself costs.
// Prints the times, task / by hand, warm / cold, and sccache's hits and misses for each task.
// The task times include Nx, the toolchain check, repair, test and label; the by-hand one does not.
//
// Usage: node bench/compile-cache.mjs [--workspace wheels|gpu] [--project NAME] [--keep]
//   CPU (default): the C extension demo-wheel of examples/wheels.
//   GPU machine:   node bench/compile-cache.mjs --workspace gpu --project pointops
//                  (pointops' source from the source cache: `npx forge fetch pointops` first, with network)

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { workspace: { type: 'string', default: 'wheels' }, project: { type: 'string' }, keep: { type: 'boolean', default: false } } });
const workspace = values.workspace;
const project = values.project ?? (workspace === 'gpu' ? 'forge-cuda-example' : 'demo-wheel');
const python = process.env.FORGE_HOST_PYTHON ?? 'python3';
const ws = mkdtempSync(join(tmpdir(), 'forge-compile-cache-bench-'));
const venvPython = join(repo, '.venv/bin/python');
const sourceCache = process.env.FORGE_SOURCE_CACHE ?? join(repo, '.forge/sources');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORGE_SOURCE_CACHE: sourceCache, FORGE_COMPILE_CACHE_DIR: join(ws, 'sccache') };

cpSync(join(repo, 'examples', workspace), ws, { recursive: true, filter: (src) => !/[/\\](output|wheelhouse|\.nx|\.wheel-index|\.published|\.forge)$/.test(src) });
if (!existsSync(join(ws, 'pkgs', project)) && existsSync(join(repo, 'pkgs', project))) cpSync(join(repo, 'pkgs', project), join(ws, 'pkgs', project), { recursive: true });
symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');
let overlay;
if (workspace === 'wheels') {
  // The example's one build requirement (setuptools >= 70.1) in a local index, as bench/wheel-overhead.mjs does.
  const host = execFileSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
  writeFileSync(join(ws, 'variants.yaml'), `python:\n  - "${host}"\n`);
  const downloads = join(ws, '.bench/downloads');
  execFileSync(venvPython, ['-m', 'pip', 'download', '--quiet', '--only-binary=:all:', '--no-deps', '--dest', downloads, 'setuptools>=70.1']);
  const index = join(ws, '.bench/pip-index');
  execFileSync(venvPython, [join(repo, 'tools/forge/python/forge_wheel.py'), 'publish', index, ...readdirSync(downloads).map((f) => join(downloads, f))], { stdio: 'ignore' });
  const nxJson = JSON.parse(readFileSync(join(ws, 'nx.json'), 'utf8'));
  nxJson.plugins[0].options.pipIndex = index;
  writeFileSync(join(ws, 'nx.json'), JSON.stringify(nxJson));
  overlay = join(ws, '.bench/overlay');
  execFileSync(join(repo, '.venv/bin/uv'), ['pip', 'install', '--quiet', '--python', python, '--target', overlay, '--index-url', `file://${index}`, 'setuptools>=70.1'], { env: { ...process.env, UV_NO_CONFIG: '1' } });
}

const seconds = (started) => Number(process.hrtime.bigint() - started) / 1e9;
const nx = (extraEnv, ...args) => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: ws, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (result.status !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${(result.stdout + result.stderr).split('\n').slice(-40).join('\n')}`);
  return { seconds: seconds(started), log: result.stdout };
};
const forge = (...args) => execFileSync(process.execPath, [join(repo, 'tools/forge/dist/cli/main.js'), ...args], { cwd: ws, env, encoding: 'utf8' });
const cacheLine = (log) => /compile cache: (\d+ hits.*)$/m.exec(log)?.[1] ?? 'no compile cache line';
const phases = (log) => /built .* in ([\d.]+s \(.*\))$/m.exec(log)?.[1] ?? '';

try {
  const plan = JSON.parse(forge('plan', '--json'));
  const entry = plan.find((e) => e.kind === 'wheel' && e.project === project && e.status !== 'skipped');
  if (!entry) throw new Error(`no variant of ${project} this machine can build: ${plan.filter((e) => e.project === project).map((e) => `${e.variant}: ${e.reason}`).join('; ')}`);
  const target = `${entry.target}`;
  const taskDir = join(ws, 'wheelhouse', project, entry.variant);

  // cold: an empty compile cache
  const cold = nx({}, 'run', target, '--skip-nx-cache', '--output-style=stream');

  // by hand, with the variables the task's log shows it gave the build
  const wheelYaml = join(ws, 'pkgs', project, 'wheel/wheel.yaml');
  const spec = parse(readFileSync(wheelYaml, 'utf8'));
  const src = join(ws, '.bench/by-hand');
  if (spec.source.path) cpSync(join(dirname(wheelYaml), spec.source.path), src, { recursive: true });
  else {
    const trees = join(sourceCache, 'trees');
    const tree = readdirSync(trees).map((name) => join(trees, name)).find((dir) => existsSync(join(dir, spec.source.subdirectory ?? '', 'setup.py')) || existsSync(join(dir, spec.source.subdirectory ?? '', 'pyproject.toml')));
    if (!tree) throw new Error(`no source tree of ${project} in ${trees}`);
    cpSync(tree, src, { recursive: true, filter: (path) => !path.endsWith('/.git') });
  }
  for (const patch of spec.source.patches ?? []) execFileSync('git', ['apply', join(dirname(wheelYaml), patch)], { cwd: src, env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(src) } });
  const buildDir = join(src, spec.source.subdirectory ?? '');
  const given = Object.fromEntries([...cold.log.matchAll(/^\S+: \S+: (CUDA_HOME|PATH|CPATH|TORCH_CUDA_ARCH_LIST)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  const handEnv = { ...process.env, ...given, PATH: [given.PATH, process.env.PATH].filter(Boolean).join(':'), ...(overlay ? { PYTHONPATH: overlay } : {}) };
  const frontend = join(dirname(sourceCache), readdirSync(dirname(sourceCache)).find((d) => d.startsWith('frontend-')));
  const boot = 'import sys; sys.path.append(sys.argv.pop(1)); from build.__main__ import entrypoint; entrypoint()';
  let started = process.hrtime.bigint();
  const hand = spawnSync(python, ['-c', boot, frontend, '--wheel', '--no-isolation', '--outdir', join(src, 'dist'), '.'], { cwd: buildDir, env: handEnv, encoding: 'utf8', maxBuffer: 256 << 20 });
  const byHand = seconds(started);
  if (hand.status !== 0) throw new Error(`the build by hand failed:\n${(hand.stdout + hand.stderr).split('\n').slice(-30).join('\n')}`);

  // warm: edits that change no compiled file (a new content key, so a full rebuild), first from the
  // compile cache alone (the kept build tree removed, as on another machine sharing the cache), then
  // with the last build's objects kept
  const editPatch = (n) => {
    const name = `forge-bench-edit-${n}.patch`;
    const editFile = `${spec.source.subdirectory ? `${spec.source.subdirectory}/` : ''}forge_bench_edit.txt`;
    writeFileSync(join(dirname(wheelYaml), name), `--- /dev/null\n+++ b/${editFile}\n@@ -0,0 +1 @@\n+edit ${n}: no compiled file changed\n`);
    writeFileSync(wheelYaml, stringify({ ...spec, source: { ...spec.source, patches: [...(spec.source.patches ?? []), name] } }));
  };
  editPatch(1);
  rmSync(join(ws, 'wheelhouse/.build-trees'), { recursive: true, force: true });
  const warm = nx({}, 'run', target, '--skip-nx-cache', '--output-style=stream');
  editPatch(2);
  const kept = nx({}, 'run', target, '--skip-nx-cache', '--output-style=stream');

  // off: what the cache itself costs on a cold build
  rmSync(taskDir, { recursive: true, force: true });
  const off = nx({ FORGE_COMPILE_CACHE: 'off' }, 'run', target, '--skip-nx-cache', '--output-style=stream');

  const f = (s) => `${s.toFixed(1)} s`.padStart(8);
  console.log(`${project} (${entry.variant}), ${workspace === 'gpu' ? 'CUDA' : 'CPU'} build on this machine`);
  console.log(`by hand (pypa build, no compile cache)          ${f(byHand)}`);
  console.log(`task, compile cache off                         ${f(off.seconds)}  ${phases(off.log)}`);
  console.log(`task, compile cache cold                        ${f(cold.seconds)}  ${phases(cold.log)}`);
  console.log(`    ${cacheLine(cold.log)}`);
  console.log(`task after an edit, compile cache warm          ${f(warm.seconds)}  ${phases(warm.log)}`);
  console.log(`    ${cacheLine(warm.log)}`);
  console.log(`task after another edit, build tree kept        ${f(kept.seconds)}  ${phases(kept.log)}`);
  console.log(`    ${(kept.log.match(/\] \[\d+\/\d+\]/g) ?? []).length} ninja steps; ${cacheLine(kept.log)}`);
  console.log(`ratio task (cache off) / by hand                ${(off.seconds / byHand).toFixed(2)}x`);
  console.log(`ratio task (cold cache) / by hand               ${(cold.seconds / byHand).toFixed(2)}x`);
  console.log(`ratio warm rebuild / cold build                 ${(warm.seconds / cold.seconds).toFixed(2)}x`);
  console.log(`ratio rebuild, tree kept / cold build           ${(kept.seconds / cold.seconds).toFixed(2)}x`);
} finally {
  // The bench's own sccache server (one per cache folder) would end with its idle timeout; stop it now.
  spawnSync(join(repo, '.venv/bin/sccache'), ['--stop-server'], { env: { ...env, ...sccacheEnv() }, stdio: 'ignore' });
  if (values.keep) console.log(`workspace kept at ${ws}`);
  else rmSync(ws, { recursive: true, force: true });
}

function sccacheEnv() {
  // The same server address forge derives for this cache folder (engine/compile-cache.ts).
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', `import { compileCache } from ${JSON.stringify(join(repo, 'tools/forge/dist/engine/compile-cache.js'))}; const c = compileCache(${JSON.stringify(repo)}); console.log(JSON.stringify('off' in c ? {} : c.env));`], { env, encoding: 'utf8' }));
}
