#!/usr/bin/env node
// The GPU check: on a machine with an NVIDIA GPU, nvcc and a CUDA torch, build two
// CUDA torch extensions as wheel variants through Nx on the `host` environment (this
// folder's example, and Pointcept's libs/pointops at its pinned tag, from the
// repository's pkgs/pointops), publish them to the per-CUDA index, install each into
// a fresh folder from that index, and run their kernels against torch on the GPU.
//
// Usage: npm run gpu-check [-- --keep] [-- --jobs N]
// Sources come from the source cache (FORGE_SOURCE_CACHE, default <repo>/.forge/sources):
// `npx forge fetch pointops` fills it on a machine with network, and the folder can be
// carried to one without. Builds use a compile cache of their own (empty at the start,
// FORGE_COMPILE_CACHE_DIR to give another), so the first builds are cold ones.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../..');
const keep = process.argv.includes('--keep');
const ws = mkdtempSync(join(tmpdir(), 'wv-forge-gpu-'));
const python = process.env.FORGE_HOST_PYTHON ?? 'python3';
const projects = ['forge-cuda-example', 'pointops'];

cpSync(here, ws, { recursive: true, filter: (src) => !/[/\\](output|wheelhouse|\.nx|\.wheel-index|\.published)$/.test(src) });
cpSync(join(repo, 'pkgs/pointops'), join(ws, 'pkgs/pointops'), { recursive: true });
symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');

const env = {
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  FORGE_SOURCE_CACHE: process.env.FORGE_SOURCE_CACHE ?? join(repo, '.forge/sources'),
  FORGE_COMPILE_CACHE_DIR: process.env.FORGE_COMPILE_CACHE_DIR ?? join(ws, 'sccache'),
};
const step = (title) => console.log(`\n=== ${title}`);
const run = (command, args, options = {}) => {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: ws, env, stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status})`);
  return (Date.now() - started) / 1000;
};
const nx = (...args) => run(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args]);
/** Nx with extra variables, its output shown and kept (for the lines the checks read). */
const nxLogged = (extraEnv, ...args) => {
  const started = Date.now();
  const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: ws, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 256 << 20 });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.status !== 0) throw new Error(`nx ${args.join(' ')} failed (exit ${result.status})`);
  return { seconds: (Date.now() - started) / 1000, log: result.stdout };
};
const lineOf = (log, pattern) => pattern.exec(log)?.[1] ?? '(not in the log)';
const taskSeconds = (project, id) => JSON.parse(readFileSync(join(ws, 'wheelhouse', project, id, 'manifest.json'), 'utf8')).seconds;
const forge = (...args) => run(process.execPath, [join(repo, 'tools/forge/dist/cli/main.js'), ...args]);

function wheelsUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.whl'))
    .map((file) => join(dir, file))
    .sort();
}
const mib = (file) => `${(statSync(file).size / 2 ** 20).toFixed(2)} MiB`;

try {
  step('toolchain this machine offers the host environment');
  forge('toolchain');

  step('sources: from the source cache (no network needed once fetched)');
  forge('fetch', ...projects);

  // One build at once: each torch build runs ninja with a job per core, so two at once share the
  // cores and neither time says what the build costs alone.
  step('1. nx run-many -t wheel --parallel=1: every variant this machine can build, the rest skipped with a reason (compile cache cold)');
  const first = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=1', '--output-style=stream');
  console.log(`\nwheel builds: ${first.toFixed(1)} s`);
  for (const wheel of wheelsUnder(join(ws, 'wheelhouse'))) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);

  step('2. the same command again: nothing changed, nothing builds');
  const second = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=1', '--output-style=stream');
  console.log(`\nsecond run: ${second.toFixed(1)} s`);

  step('3. overhead: the example\'s wheel task (Nx cache skipped, wheelhouse cleared, nothing published yet, compile cache off) against the same pypa build by hand');
  const [id] = readdirSync(join(ws, 'wheelhouse/forge-cuda-example')).filter((name) => existsSync(join(ws, 'wheelhouse/forge-cuda-example', name, 'manifest.json')));
  // The same TORCH_CUDA_ARCH_LIST the task used: the project's own, else the default table's.
  const { parse } = await import('yaml');
  const spec = parse(readFileSync(join(here, 'pkgs/forge-cuda-example/wheel/wheel.yaml'), 'utf8'));
  const { defaultCudaArchList } = await import(pathToFileURL(join(repo, 'tools/forge/dist/variants/torch-cuda.js')).href);
  const archList = spec.variant.cuda_arch_list ?? defaultCudaArchList(id.match(/torch([\d.]+)/)[1], id.match(/cuda([\d.]+)/)[1]);
  const nvcc = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).stdout.trim();
  const cudaHome = dirname(dirname(nvcc));
  const byHandSrc = join(ws, 'by-hand');
  cpSync(join(here, 'pkgs/forge-cuda-example/src'), byHandSrc, { recursive: true });
  const handStarted = Date.now();
  const hand = spawnSync(python, ['-m', 'build', '--wheel', '--no-isolation', '--outdir', join(byHandSrc, 'dist'), byHandSrc], {
    cwd: ws,
    env: { ...env, CUDA_HOME: cudaHome, PATH: `${dirname(nvcc)}:${env.PATH}`, TORCH_CUDA_ARCH_LIST: archList },
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const byHand = (Date.now() - handStarted) / 1000;
  if (hand.status !== 0) throw new Error(`the build by hand failed:\n${(hand.stdout + hand.stderr).split('\n').slice(-30).join('\n')}`);
  rmSync(join(ws, 'wheelhouse/forge-cuda-example', id), { recursive: true, force: true });
  // Compile cache off: step 1 filled it, and a task answered from it would not be the same work.
  const task = nxLogged({ FORGE_COMPILE_CACHE: 'off' }, 'run', `forge-cuda-example:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
  // What decides the compile's speed, side by side: ninja and its parallelism, the arch flags nvcc got.
  const handLog = hand.stdout + hand.stderr;
  const gencode = (log) => [...new Set(log.match(/-gencode[= ]\S+/g) ?? [])].join(' ') || 'none';
  console.log(`by hand:  ninja ${/Falling back to using the slow distutils backend/.test(handLog) ? 'not found (serial compile)' : 'used'}, ${(handLog.match(/^\[\d+\/\d+\]/gm) ?? []).length} ninja steps, ${gencode(handLog)}, MAX_JOBS ${process.env.MAX_JOBS ?? 'unset'}`);
  console.log(`task:     ${lineOf(task.log, /: (ninja .*)$/m)}, ${(task.log.match(/\] \[\d+\/\d+\]/g) ?? []).length} ninja steps, ${gencode(task.log)}`);
  console.log(`task phases: ${lineOf(task.log, /built .* in ([\d.]+s \(.*\))$/m)}`);
  console.log(`by hand (python -m build, TORCH_CUDA_ARCH_LIST=${archList}): ${byHand.toFixed(1)} s`);
  console.log(`nx run forge-cuda-example:wheel-${id}: ${task.seconds.toFixed(1)} s (toolchain check, key, build, repair, test install, label, index)`);
  console.log(`ratio: ${(task.seconds / byHand).toFixed(2)}x`);

  step('3b. pointops after an edit that changes no CUDA source (a patch adding a Python file): a full rebuild from the compile cache');
  const [pointopsId] = readdirSync(join(ws, 'wheelhouse/pointops')).filter((name) => existsSync(join(ws, 'wheelhouse/pointops', name, 'manifest.json')));
  const cold = taskSeconds('pointops', pointopsId);
  const wheelYaml = join(ws, 'pkgs/pointops/wheel/wheel.yaml');
  writeFileSync(join(dirname(wheelYaml), 'gpu-check-edit.patch'), '--- /dev/null\n+++ b/libs/pointops/pointops/_gpu_check_edit.py\n@@ -0,0 +1 @@\n+EDITED = "an edit that changes no CUDA source"\n');
  writeFileSync(wheelYaml, readFileSync(wheelYaml, 'utf8').replace(/^( *)- sysconfig\.patch$/m, '$1- sysconfig.patch\n$1- gpu-check-edit.patch'));
  const warm = nxLogged({}, 'run', `pointops:wheel-${pointopsId}`, '--output-style=stream');
  console.log(`pointops cold build (step 1, empty compile cache): ${cold.toFixed(1)} s; after the edit: ${taskSeconds('pointops', pointopsId).toFixed(1)} s in the task, ${warm.seconds.toFixed(1)} s with Nx`);
  console.log(`compile cache: ${lineOf(warm.log, /compile cache: (\d+ hits.*)$/m)}`);
  console.log(`ratio rebuild / cold: ${(taskSeconds('pointops', pointopsId) / cold).toFixed(2)}x (target <= 0.25); its kernels are checked in step 5`);

  step('4. publish to the per-CUDA index (never overwriting)');
  nx('run-many', '-t', 'upload-wheels', `--projects=${projects.join(',')}`, '--output-style=stream');
  const index = join(ws, '.wheel-index');
  for (const wheel of wheelsUnder(index)) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);

  step('5. install each from the index into a fresh folder, then run its kernel against torch');
  const cudaIndexes = readdirSync(index).filter((name) => name.startsWith('cu') && statSync(join(index, name)).isDirectory());
  if (cudaIndexes.length !== 1) throw new Error(`expected one CUDA index under ${index}, found: ${cudaIndexes.join(', ') || 'none'}`);
  const indexUrl = pathToFileURL(join(index, cudaIndexes[0])).href;
  const targets = {};
  for (const project of projects) {
    const target = join(ws, 'installed', project);
    mkdirSync(target, { recursive: true });
    // --no-deps: torch and numpy are the machine's own; the check is about our wheel.
    run(python, ['-m', 'pip', 'install', '--quiet', '--no-deps', '--target', target, '--index-url', indexUrl, project]);
    targets[project] = target;
    console.log(`  ${project}: ${readdirSync(target).filter((name) => name.endsWith('.dist-info')).join(', ')}`);
  }
  for (const so of readdirSync(targets.pointops, { recursive: true }).map(String).filter((f) => f.endsWith('.so'))) {
    const elf = spawnSync('cuobjdump', ['--list-elf', join(targets.pointops, so)], { encoding: 'utf8' });
    if (elf.status === 0) console.log(`  ${basename(so)} carries: ${[...new Set(elf.stdout.match(/sm_\d+/g) ?? [])].join(' ')}`);
  }
  run(python, [join(here, 'kernel_check.py'), targets['forge-cuda-example'], targets.pointops]);

} catch (error) {
  console.error(`gpu-check: ${error.message}`);
  process.exitCode = 1;
} finally {
  // This run's sccache server (one per cache folder) would wait for its idle timeout.
  const { compileCache, stopServer } = await import(pathToFileURL(join(repo, 'tools/forge/dist/engine/compile-cache.js')).href);
  const cache = compileCache(repo, env);
  if (!('off' in cache)) await stopServer(cache);
  if (keep) console.log(`\nworkspace kept at ${ws}`);
  else rmSync(ws, { recursive: true, force: true });
}
