#!/usr/bin/env node
// The GPU check: on a machine with an NVIDIA GPU, nvcc and a CUDA torch, build CUDA torch
// extensions as wheel variants through Nx on the `host` environment (this folder's
// example; Pointcept's libs/pointops and pytorch3d at their pinned tags, from the
// repository's pkgs/), publish them to the per-CUDA index, install each into a fresh
// folder from that index, and run their kernels against torch references on the GPU.
//
// Usage: npm run gpu-check [-- --projects a,b] [-- --pytorch3d-arch-list LIST] [-- --no-gpu] [-- --pairs N] [-- --keep]
//   --projects: which of forge-cuda-example, pointops, pytorch3d to build and check
//     (default: all), so one machine's time can be split over several runs.
//   --pytorch3d-arch-list: TORCH_CUDA_ARCH_LIST of pytorch3d's check build (default 9.0,
//     the H100's own: the table's seven architectures would not fit the 10 minutes a
//     device command gets); `table` builds the project's own list.
//   --pairs: how many by-hand/task pairs step 3 times for the example and for pointops each
//     (default 2: by hand first, then the task first, and so on in turn), for a machine whose
//     time is short.
//   --no-gpu: on a machine with nvcc and a CUDA torch but no GPU (CI's, a laptop's): every
//     step but the kernels on the GPU. Each wheel is installed from the index and imported;
//     pytorch3d's CPU operators (the same C++ library) run against the torch references on
//     the CPU, at a smaller scale. Without it, a machine whose torch sees no GPU stops
//     before building, not after.
// Sources come from the source cache (FORGE_SOURCE_CACHE, default <repo>/.forge/sources):
// `npx forge fetch pointops` fills it on a machine with network (pytorch3d from a
// mirror: examples/gpu/seed-source.mjs), and the folder can be carried to one without.
// Builds use a compile cache of their own (empty at the start, FORGE_COMPILE_CACHE_DIR
// to give another), so the first builds are cold ones.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../..');
const ALL = ['forge-cuda-example', 'pointops', 'pytorch3d'];
// Projects of the repository's pkgs/ (the example lives in this folder).
const FROM_REPO = ['pointops', 'pytorch3d'];
// Projects whose wheel task step 3 times against the same build by hand.
const TIMED = ['forge-cuda-example', 'pointops'];
let options;
try {
  ({ values: options } = parseArgs({
    options: {
      projects: { type: 'string', default: ALL.join(',') },
      'pytorch3d-arch-list': { type: 'string', default: '9.0' },
      keep: { type: 'boolean', default: false },
      'no-gpu': { type: 'boolean', default: false },
      pairs: { type: 'string', default: '2' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  console.error(`gpu-check: ${error.message}`);
  process.exit(2);
}
if (options.help) {
  // The header comment is the help.
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  console.log(lines.slice(0, lines.findIndex((line) => !line.startsWith('//'))).map((line) => line.slice(3)).join('\n'));
  process.exit(0);
}
const projects = options.projects.split(',').map((p) => p.trim()).filter(Boolean);
const unknown = projects.filter((p) => !ALL.includes(p));
if (unknown.length || projects.length === 0) {
  console.error(`gpu-check: --projects takes a comma-separated list of ${ALL.join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}
const keep = options.keep;
const pairs = Number(options.pairs);
if (!Number.isInteger(pairs) || pairs < 1) {
  console.error(`gpu-check: --pairs takes a whole number of at least 1, not ${options.pairs}`);
  process.exit(2);
}
const noGpu = options['no-gpu'];
const ws = mkdtempSync(join(tmpdir(), 'wv-forge-gpu-'));
const python = process.env.FORGE_HOST_PYTHON ?? 'python3';
const started = Date.now();

const env = {
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  FORGE_SOURCE_CACHE: process.env.FORGE_SOURCE_CACHE ?? join(repo, '.forge/sources'),
  FORGE_COMPILE_CACHE_DIR: process.env.FORGE_COMPILE_CACHE_DIR ?? join(ws, 'sccache'),
};
function setUp() {
  cpSync(here, ws, { recursive: true, filter: (src) => !/[/\\](output|wheelhouse|\.nx|\.wheel-index|\.published)$/.test(src) });
  for (const project of FROM_REPO.filter((p) => projects.includes(p))) {
    // The wheel project only: a conda recipe beside it (pkgs/pytorch3d/recipe) is no part of this check.
    for (const part of ['wheel', 'project.json']) cpSync(join(repo, 'pkgs', project, part), join(ws, 'pkgs', project, part), { recursive: true });
  }
  symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');
  if (projects.includes('pytorch3d') && options['pytorch3d-arch-list'] !== 'table') {
    // The scratch copy only: the repository's wheel.yaml keeps the table's list. A list of
    // its own is another content key, so this never stands in for a release build.
    const file = join(ws, 'pkgs/pytorch3d/wheel/wheel.yaml');
    const text = readFileSync(file, 'utf8');
    if (!/^variant:\n/m.test(text) || /^\s+cuda_arch_list:/m.test(text)) throw new Error(`${file}: expected a variant: block without cuda_arch_list`);
    writeFileSync(file, text.replace(/^variant:\n/m, `variant:\n  cuda_arch_list: "${options['pytorch3d-arch-list']}"\n`));
  }
}

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
/** A task log's time and phases (`84.7s (prepare 0.5s, build 76.3s, ...)`) and its ninja steps. */
const phasesOf = (log) => lineOf(log, /built .* in ([\d.]+s \(.*\))$/m);
const ninjaSteps = (log) => (log.match(/\] \[\d+\/\d+\]/g) ?? []).length;
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
/** `project/id` -> builtAt of every wheel task's manifest: a rebuild changes it. */
function manifests() {
  const out = {};
  const house = join(ws, 'wheelhouse');
  for (const project of existsSync(house) ? readdirSync(house).filter((p) => !p.startsWith('.')) : []) {
    for (const id of readdirSync(join(house, project))) {
      const file = join(house, project, id, 'manifest.json');
      if (existsSync(file)) out[`${project}/${id}`] = JSON.parse(readFileSync(file, 'utf8')).builtAt;
    }
  }
  return out;
}

try {
  setUp();
  step(`projects: ${projects.join(', ')}${projects.includes('pytorch3d') ? ` (pytorch3d's TORCH_CUDA_ARCH_LIST: ${options['pytorch3d-arch-list'] === 'table' ? "the table's" : options['pytorch3d-arch-list']})` : ''}`);
  step('toolchain this machine offers the host environment');
  forge('toolchain');
  const cuda = spawnSync(python, ['-c', 'import torch; print(torch.cuda.is_available() and torch.cuda.get_device_name())'], { encoding: 'utf8' });
  if (cuda.status !== 0) throw new Error(`cannot ask ${python}'s torch for a GPU: ${(cuda.stderr || cuda.error?.message || '').trim().split('\n').pop()}`);
  const gpu = cuda.stdout.trim();
  if (gpu === 'False' && !noGpu) throw new Error(`${python}'s torch sees no GPU: run on a machine with one, or pass --no-gpu to build and check everything but the GPU kernels`);
  console.log(`GPU: ${gpu === 'False' ? 'none (--no-gpu: the kernels are not run on a GPU)' : gpu}`);
  if (projects.includes('pytorch3d')) {
    // torch's BuildExtension runs nvcc in parallel only through ninja; without it
    // pytorch3d's ~90 sources compile one at a time, far past a device command's 10 minutes.
    const ninja = spawnSync(python, ['-c', 'from torch.utils.cpp_extension import is_ninja_available as f; print(f())'], { encoding: 'utf8' });
    if (ninja.status !== 0) throw new Error(`cannot ask ${python}'s torch whether ninja is there: ${(ninja.stderr || ninja.error?.message || '').trim().split('\n').pop()}`);
    if (ninja.stdout.trim() !== 'True') throw new Error('no ninja on PATH for torch\'s extension builds: install it (pip install ninja) so pytorch3d compiles in parallel');
    console.log(`ninja: ${spawnSync('sh', ['-c', 'command -v ninja'], { encoding: 'utf8' }).stdout.trim()}`);
  }

  step('sources: from the source cache (no network needed once fetched)');
  forge('fetch', ...projects);

  // One build at once: each torch build runs ninja with a job per core, so two at once share the
  // cores and neither time says what the build costs alone.
  step('1. nx run-many -t wheel --parallel=1: every variant this machine can build, the rest skipped with a reason (compile cache cold)');
  const first = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=1', '--output-style=stream');
  console.log(`\nwheel builds: ${first.toFixed(1)} s`);
  for (const wheel of wheelsUnder(join(ws, 'wheelhouse'))) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);
  const builds = manifests();
  if (Object.keys(builds).length === 0) throw new Error('no wheel was built: every variant was skipped (see the reasons above)');
  // Step 3 rebuilds with the compile cache off, so the cold builds' times are read now.
  const coldSeconds = Object.fromEntries(Object.keys(builds).map((task) => [task, taskSeconds(...task.split('/'))]));

  step('2. the same command again: nothing changed, nothing builds');
  const second = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=1', '--output-style=stream');
  const rebuilt = Object.entries(manifests()).filter(([task, builtAt]) => builds[task] !== builtAt).map(([task]) => task);
  console.log(`\nsecond run: ${second.toFixed(1)} s, ${rebuilt.length ? `REBUILT: ${rebuilt.join(', ')}` : 'nothing built'}`);
  if (rebuilt.length) throw new Error(`the second run rebuilt ${rebuilt.join(', ')}`);

  // pytorch3d's build by hand alone would take most of a device command's 10 minutes.
  for (const project of TIMED.filter((p) => projects.includes(p))) {
    step(`3. overhead: ${project}'s wheel task (Nx cache skipped, wheelhouse cleared, nothing published yet, compile cache off) against the same pypa build by hand`);
    const [id] = readdirSync(join(ws, 'wheelhouse', project)).filter((name) => existsSync(join(ws, 'wheelhouse', project, name, 'manifest.json')));
    const { parse } = await import('yaml');
    const wheelYaml = join(ws, 'pkgs', project, 'wheel/wheel.yaml');
    const spec = parse(readFileSync(wheelYaml, 'utf8'));
    // The same TORCH_CUDA_ARCH_LIST the task used: the project's own, else the default table's.
    const { defaultCudaArchList } = await import(pathToFileURL(join(repo, 'tools/forge/dist/variants/torch-cuda.js')).href);
    const archList = spec.variant.cuda_arch_list ?? defaultCudaArchList(id.match(/torch([\d.]+)/)[1], id.match(/cuda([\d.]+)/)[1]);
    const nvcc = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).stdout.trim();
    const cudaHome = dirname(dirname(nvcc));
    // The CPATH the task gives a toolkit without the CUDA libraries' headers (README: Wheels), as a person would set it.
    const toolchain = await import(pathToFileURL(join(repo, 'tools/forge/dist/engine/toolchain.js')).href);
    const torchSite = toolchain.probePython(python, { torch: true }).torchSite;
    const cpath = torchSite ? toolchain.cudaLibraryCpath(toolchain.cudaLibraryIncludes(torchSite)) : {};
    // The sources a person would build: the project's folder, or the tag's checkout (step 1 fetched it) with the patches applied.
    let handTree = join(dirname(wheelYaml), spec.source.path ?? '');
    if (spec.source.git) {
      const { SourceCache } = await import(pathToFileURL(join(repo, 'tools/forge/dist/store/source-cache.js')).href);
      const sources = new SourceCache(env.FORGE_SOURCE_CACHE);
      const commit = sources.recordedTag(spec.source.git, spec.source.tag);
      if (!commit) throw new Error(`${project}: the source cache has no commit for ${spec.source.git} ${spec.source.tag}`);
      handTree = sources.treeDir(spec.source.git, commit);
    }
    const handRoot = join(ws, 'by-hand', project);
    const handSrc = join(handRoot, spec.source.subdirectory ?? '');
    const byHand = () => {
      rmSync(handRoot, { recursive: true, force: true });
      cpSync(handTree, handRoot, { recursive: true });
      for (const patch of spec.source.patches ?? []) {
        const applied = spawnSync('git', ['apply', join(dirname(wheelYaml), patch)], { cwd: handRoot, env: { ...env, GIT_CEILING_DIRECTORIES: dirname(handRoot) }, encoding: 'utf8' });
        if (applied.status !== 0) throw new Error(`${project}: ${patch} does not apply by hand: ${applied.stderr.trim()}`);
      }
      const handStarted = Date.now();
      const hand = spawnSync(python, ['-m', 'build', '--wheel', '--no-isolation', '--outdir', join(handRoot, 'dist'), handSrc], {
        cwd: ws,
        env: { ...env, CUDA_HOME: cudaHome, PATH: `${dirname(nvcc)}:${env.PATH}`, TORCH_CUDA_ARCH_LIST: archList, ...cpath },
        encoding: 'utf8',
        maxBuffer: 256 << 20,
      });
      if (hand.status !== 0) throw new Error(`${project}: the build by hand failed:\n${(hand.stdout + hand.stderr).split('\n').slice(-30).join('\n')}`);
      return { seconds: (Date.now() - handStarted) / 1000, log: hand.stdout + hand.stderr };
    };
    const byTask = () => {
      rmSync(join(ws, 'wheelhouse', project, id), { recursive: true, force: true });
      // Compile cache off (and with it the kept build tree): step 1 filled it, and a task answered from it would not be the same work.
      return nxLogged({ FORGE_COMPILE_CACHE: 'off' }, 'run', `${project}:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
    };
    // Pairs in turn, by hand first then the task first (ABBA), so neither side always has
    // the warmer page cache or the quieter minute; the ratio is the mean of the pairs'.
    const runs = [];
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 === 0 ? ['hand', 'task'] : ['task', 'hand'];
      const pair = {};
      for (const side of order) pair[side] = side === 'hand' ? byHand() : byTask();
      runs.push(pair);
    }
    // What decides the compile's speed, side by side: ninja and its parallelism, the arch flags nvcc got.
    const { log: handLog } = runs[0].hand;
    const { log: taskLog } = runs[0].task;
    const gencode = (log) => [...new Set(log.match(/-gencode[= ]\S+/g) ?? [])].join(' ') || 'none';
    console.log(`by hand:  ninja ${/Falling back to using the slow distutils backend/.test(handLog) ? 'not found (serial compile)' : 'used'}, ${(handLog.match(/^\[\d+\/\d+\]/gm) ?? []).length} ninja steps, ${gencode(handLog)}, MAX_JOBS ${process.env.MAX_JOBS ?? 'unset'}`);
    console.log(`task:     ${lineOf(taskLog, /: (ninja .*)$/m)}, ${ninjaSteps(taskLog)} ninja steps, ${gencode(taskLog)}`);
    console.log(`by hand: python -m build --wheel --no-isolation (its dependency check runs setup.py once more), TORCH_CUDA_ARCH_LIST=${archList}${cpath.CPATH ? `, CPATH=${cpath.CPATH}` : ''}`);
    console.log(`task:    nx run ${project}:wheel-${id} (toolchain check, key, build with pyproject's requirements checked and no get_requires hook, repair, test install, label, index)`);
    const ratios = runs.map(({ hand, task }, i) => {
      const ratio = task.seconds / hand.seconds;
      console.log(`${project} pair ${i + 1} (${i % 2 === 0 ? 'by hand first' : 'task first'}): by hand ${hand.seconds.toFixed(1)} s, task ${task.seconds.toFixed(1)} s (${phasesOf(task.log)}): ${ratio.toFixed(2)}x`);
      return ratio;
    });
    console.log(`${project} ratio: ${(ratios.reduce((a, b) => a + b) / ratios.length).toFixed(2)}x (mean of ${ratios.length} pair(s); target <= 1.10)`);
  }

  if (projects.includes('pointops')) {
    step('3b. pointops after edits that change no CUDA source (patches adding a Python file): rebuilt from the compile cache alone, then with the last build\'s objects kept');
    const [pointopsId] = readdirSync(join(ws, 'wheelhouse/pointops')).filter((name) => existsSync(join(ws, 'wheelhouse/pointops', name, 'manifest.json')));
    const cold = coldSeconds[`pointops/${pointopsId}`];
    const wheelYaml = join(ws, 'pkgs/pointops/wheel/wheel.yaml');
    const original = readFileSync(wheelYaml, 'utf8');
    const rebuild = (n, dropTree) => {
      writeFileSync(join(dirname(wheelYaml), `gpu-check-edit-${n}.patch`), `--- /dev/null\n+++ b/libs/pointops/pointops/_gpu_check_edit.py\n@@ -0,0 +1 @@\n+EDITED = "edit ${n}: no CUDA source changed"\n`);
      writeFileSync(wheelYaml, original.replace(/^( *)- sysconfig\.patch$/m, `$1- sysconfig.patch\n$1- gpu-check-edit-${n}.patch`));
      // Without the kept tree every object is asked of sccache: what another machine or workspace sharing the cache gets.
      if (dropTree) rmSync(join(ws, 'wheelhouse/.build-trees'), { recursive: true, force: true });
      const warm = nxLogged({}, 'run', `pointops:wheel-${pointopsId}`, '--output-style=stream');
      return { task: taskSeconds('pointops', pointopsId), nx: warm.seconds, log: warm.log };
    };
    const cacheOnly = rebuild(1, true);
    const kept = rebuild(2, false);
    console.log(`pointops cold build (step 1, empty compile cache): ${cold.toFixed(1)} s`);
    console.log(`after edit 1, compile cache only (no kept tree): ${cacheOnly.task.toFixed(1)} s in the task, ${cacheOnly.nx.toFixed(1)} s with Nx; ${phasesOf(cacheOnly.log)}; compile cache ${lineOf(cacheOnly.log, /compile cache: (\d+ hits.*)$/m)}: ${(cacheOnly.task / cold).toFixed(2)}x cold`);
    console.log(`after edit 2, the last build's objects kept: ${kept.task.toFixed(1)} s in the task, ${kept.nx.toFixed(1)} s with Nx; ${phasesOf(kept.log)}; ${ninjaSteps(kept.log)} ninja steps`);
    console.log(`ratio rebuild / cold: ${(kept.task / cold).toFixed(2)}x (target <= 0.25); its kernels are checked in step 5`);
  }

  step('4. publish to the per-CUDA index (never overwriting)');
  nx('run-many', '-t', 'upload-wheels', `--projects=${projects.join(',')}`, '--output-style=stream');
  const index = join(ws, '.wheel-index');
  for (const wheel of wheelsUnder(index)) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);

  step(`5. install each from the index into a fresh folder, then run its kernels against torch${noGpu ? ' (no GPU: imports, and pytorch3d\'s CPU operators on the CPU)' : ''}`);
  const cudaIndexes = readdirSync(index).filter((name) => name.startsWith('cu') && statSync(join(index, name)).isDirectory());
  if (cudaIndexes.length !== 1) throw new Error(`expected one CUDA index under ${index}, found: ${cudaIndexes.join(', ') || 'none'}`);
  const indexUrl = pathToFileURL(join(index, cudaIndexes[0])).href;
  const checkArgs = [];
  for (const project of projects) {
    const target = join(ws, 'installed', project);
    mkdirSync(target, { recursive: true });
    // --no-deps: torch and numpy are the machine's own; the check is about our wheel.
    run(python, ['-m', 'pip', 'install', '--quiet', '--no-deps', '--target', target, '--index-url', indexUrl, project]);
    console.log(`  ${project}: ${readdirSync(target).filter((name) => name.endsWith('.dist-info')).join(', ')}`);
    for (const so of readdirSync(target, { recursive: true }).map(String).filter((f) => f.endsWith('.so'))) {
      const elf = spawnSync('cuobjdump', ['--list-elf', join(target, so)], { encoding: 'utf8' });
      if (elf.error) console.log(`  ${project} ${basename(so)} (${mib(join(target, so))}): no cuobjdump on PATH to list its architectures (PyPI: nvidia-cuda-cuobjdump)`);
      else if (elf.status === 0) console.log(`  ${project} ${basename(so)} (${mib(join(target, so))}) carries: ${[...new Set(elf.stdout.match(/sm_\d+/g) ?? [])].join(' ')}`);
    }
    if (noGpu) {
      // The extension's import loads its CUDA library and torch's; only the kernels need a GPU.
      const module = { 'forge-cuda-example': 'forge_cuda_example', pointops: 'pointops', pytorch3d: 'pytorch3d.ops' }[project];
      run(python, ['-c', `import sys; sys.path.insert(0, sys.argv[1]); import ${module}; print("  import ${module}: ok (" + ${module}.__file__ + ")")`, target]);
      // pointops and the example have CUDA kernels only; pytorch3d's CPU operators are its own C++ code in the same .so.
      if (project === 'pytorch3d') checkArgs.push('--pytorch3d', target);
    } else checkArgs.push(`--${project === 'forge-cuda-example' ? 'example' : project}`, target);
  }
  if (checkArgs.length) run(python, [join(here, 'kernel_check.py'), ...checkArgs, ...(noGpu ? ['--device', 'cpu', '--scale', '0.1', '--repeat', '3'] : [])]);
  console.log(`\ngpu-check: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
