#!/usr/bin/env node
// The GPU check: on a machine with an NVIDIA GPU, nvcc and a CUDA torch, build CUDA torch
// extensions as wheel variants through Nx on the `host` environment (this folder's
// example; Pointcept's libs/pointops and pytorch3d at their pinned tags, from the
// repository's pkgs/), publish them to the per-CUDA index, install each into a fresh
// folder from that index, and run their kernels against torch references on the GPU.
//
// Usage: npm run gpu-check [-- --projects a,b] [-- --pytorch3d-arch-list LIST] [-- --keep]
//   --projects: which of forge-cuda-example, pointops, pytorch3d to build and check
//     (default: all), so one machine's time can be split over several runs.
//   --pytorch3d-arch-list: TORCH_CUDA_ARCH_LIST of pytorch3d's check build (default 9.0,
//     the H100's own: the table's seven architectures would not fit the 10 minutes a
//     device command gets); `table` builds the project's own list.
// Sources come from the source cache (FORGE_SOURCE_CACHE, default <repo>/.forge/sources):
// `npx forge fetch pointops` fills it on a machine with network (pytorch3d from a
// mirror: examples/gpu/seed-source.mjs), and the folder can be carried to one without.
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
let options;
try {
  ({ values: options } = parseArgs({
    options: {
      projects: { type: 'string', default: ALL.join(',') },
      'pytorch3d-arch-list': { type: 'string', default: '9.0' },
      keep: { type: 'boolean', default: false },
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
const ws = mkdtempSync(join(tmpdir(), 'wv-forge-gpu-'));
const python = process.env.FORGE_HOST_PYTHON ?? 'python3';
const started = Date.now();

const env = {
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  FORGE_SOURCE_CACHE: process.env.FORGE_SOURCE_CACHE ?? join(repo, '.forge/sources'),
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

  step('1. nx run-many -t wheel: every variant this machine can build, the rest skipped with a reason');
  const first = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=2', '--output-style=stream');
  console.log(`\nwheel builds: ${first.toFixed(1)} s`);
  for (const wheel of wheelsUnder(join(ws, 'wheelhouse'))) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);
  const builds = manifests();
  if (Object.keys(builds).length === 0) throw new Error('no wheel was built: every variant was skipped (see the reasons above)');

  step('2. the same command again: nothing changed, nothing builds');
  const second = nx('run-many', '-t', 'wheel', `--projects=${projects.join(',')}`, '--parallel=2', '--output-style=stream');
  const rebuilt = Object.entries(manifests()).filter(([task, builtAt]) => builds[task] !== builtAt).map(([task]) => task);
  console.log(`\nsecond run: ${second.toFixed(1)} s, ${rebuilt.length ? `REBUILT: ${rebuilt.join(', ')}` : 'nothing built'}`);
  if (rebuilt.length) throw new Error(`the second run rebuilt ${rebuilt.join(', ')}`);

  if (projects.includes('forge-cuda-example')) {
    step('3. overhead: the example\'s wheel task (Nx cache skipped, wheelhouse cleared, nothing published yet) against the same pypa build by hand');
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
    const byHand = run(python, ['-m', 'build', '--wheel', '--no-isolation', '--outdir', join(byHandSrc, 'dist'), byHandSrc], {
      env: { ...env, CUDA_HOME: cudaHome, PATH: `${dirname(nvcc)}:${env.PATH}`, TORCH_CUDA_ARCH_LIST: archList },
      stdio: 'ignore',
    });
    rmSync(join(ws, 'wheelhouse/forge-cuda-example', id), { recursive: true, force: true });
    const task = nx('run', `forge-cuda-example:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
    console.log(`by hand (python -m build, TORCH_CUDA_ARCH_LIST=${archList}): ${byHand.toFixed(1)} s`);
    console.log(`nx run forge-cuda-example:wheel-${id}: ${task.toFixed(1)} s (toolchain check, key, build, repair, test install, label, index)`);
    console.log(`ratio: ${(task / byHand).toFixed(2)}x`);
  }

  step('4. publish to the per-CUDA index (never overwriting)');
  nx('run-many', '-t', 'upload-wheels', `--projects=${projects.join(',')}`, '--output-style=stream');
  const index = join(ws, '.wheel-index');
  for (const wheel of wheelsUnder(index)) console.log(`  ${relative(ws, wheel)}  ${mib(wheel)}`);

  step('5. install each from the index into a fresh folder, then run its kernels against torch');
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
      if (elf.status === 0) console.log(`  ${project} ${basename(so)} (${mib(join(target, so))}) carries: ${[...new Set(elf.stdout.match(/sm_\d+/g) ?? [])].join(' ')}`);
    }
    checkArgs.push(`--${project === 'forge-cuda-example' ? 'example' : project}`, target);
  }
  run(python, [join(here, 'kernel_check.py'), ...checkArgs]);
  console.log(`\ngpu-check: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  console.error(`gpu-check: ${error.message}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`\nworkspace kept at ${ws}`);
  else rmSync(ws, { recursive: true, force: true });
}
