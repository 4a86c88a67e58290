#!/usr/bin/env node
// Wheel task overhead: `nx run demo-wheel:wheel-<host python>` on the host environment (toolchain
// check, key, source copy, build, auditwheel repair, test install, variantlib label, local index,
// manifest) against the same pypa build command run by hand in the same prepared environment
// (overlay with setuptools on PYTHONPATH), paired, median of --runs. Also a run the wheelhouse
// answers (content key found, no build) and one Nx's cache answers. The floor is bare Nx:
// `nx run` of a target that runs `true` in the same workspace, so the task's fixed cost
// (everything but the build: Nx, toolchain check, key, repair, test, label, index) is
// printed both whole and above what any Nx task costs. Issue 16's target: fixed cost <= 3 s.
// Usage: node bench/wheel-overhead.mjs [--runs 3]

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'forge-wheel-bench-'));
const venvPython = join(repo, '.venv/bin/python');
const host = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();

// The example's one build requirement in a local index, fetched as this machine's pip is configured.
const downloads = join(scratch, 'downloads');
execFileSync(venvPython, ['-m', 'pip', 'download', '--quiet', '--only-binary=:all:', '--no-deps', '--dest', downloads, 'setuptools>=70.1']);
const index = join(scratch, 'pip-index');
execFileSync(venvPython, [join(repo, 'tools/forge/python/forge_wheel.py'), 'publish', index, ...readdirSync(downloads).map((f) => join(downloads, f))], { stdio: 'ignore' });

const root = join(scratch, 'ws');
mkdirSync(root);
symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
for (const entry of ['pkgs', 'nx.json']) cpSync(join(repo, 'examples/wheels', entry), join(root, entry), { recursive: true });
writeFileSync(join(root, 'variants.yaml'), `python:\n  - "${host}"\n`);
// The floor: a project of Nx's own (project.json, no forge plugin) whose target does nothing.
mkdirSync(join(root, 'floor'));
writeFileSync(join(root, 'floor/project.json'), JSON.stringify({ name: 'floor', targets: { noop: { executor: 'nx:run-commands', options: { command: 'true' }, cache: false } } }));
const nxJson = JSON.parse(readFileSync(join(root, 'nx.json'), 'utf8'));
nxJson.plugins[0].options.pipIndex = index;
writeFileSync(join(root, 'nx.json'), JSON.stringify(nxJson));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const nx = (...args) => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stdout + result.stderr);
  return Number(process.hrtime.bigint() - started) / 1e9;
};
const task = `demo-wheel:wheel-py${host}`;
nx('run', task); // warm-up: frontend copy, uv cache

// By hand: the same frontend command in the same kind of prepared environment.
const overlay = join(scratch, 'overlay');
execFileSync(join(repo, '.venv/bin/uv'), ['pip', 'install', '--quiet', '--python', 'python3', '--target', overlay, '--index-url', `file://${index}`, 'setuptools>=70.1'], { env: { ...process.env, UV_NO_CONFIG: '1' } });
const frontend = readdirSync(join(root, '.forge')).find((d) => d.startsWith('frontend-'));
const boot = 'import sys; sys.path.append(sys.argv.pop(1)); from build.__main__ import entrypoint; entrypoint()';
function byHand() {
  const src = join(scratch, 'src');
  rmSync(src, { recursive: true, force: true });
  cpSync(join(root, 'pkgs/demo-wheel/src'), src, { recursive: true });
  const started = process.hrtime.bigint();
  execFileSync('python3', ['-c', boot, join(root, '.forge', frontend), '--wheel', '--no-isolation', '--outdir', join(src, 'dist'), '.'], { cwd: src, env: { ...process.env, PYTHONPATH: overlay }, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const task_ = [], hand = [], keyed = [], nxCached = [], floor = [];
for (let i = 0; i < runs; i++) {
  rmSync(join(root, 'wheelhouse/demo-wheel'), { recursive: true, force: true });
  task_.push(nx('run', task, '--skip-nx-cache'));
  hand.push(byHand());
  keyed.push(nx('run', task, '--skip-nx-cache'));
  nxCached.push(nx('run', task));
  floor.push(nx('run', 'floor:noop'));
}
const f = (s) => `${s.toFixed(2)} s`;
console.log(`wheel task (build, repair, test, label, index) ${f(median(task_))}  [${task_.map(f).join(', ')}]`);
console.log(`same pypa build by hand                        ${f(median(hand))}  [${hand.map(f).join(', ')}]`);
console.log(`ratio task / by hand                           ${(median(task_) / median(hand)).toFixed(2)}x`);
const fixed = median(task_) - median(hand);
console.log(`bare Nx (nx run of a target running \`true\`)    ${f(median(floor))}  [${floor.map(f).join(', ')}]`);
console.log(`fixed cost (task - by hand)                    ${f(fixed)}  (target <= 3 s; ${f(fixed - median(floor))} above bare Nx)`);
console.log(`task answered by the wheelhouse (key found)    ${f(median(keyed))}  (${(median(keyed) / median(hand)).toFixed(2)}x the hand build)`);
console.log(`task answered by Nx's cache                    ${f(median(nxCached))}  (${(median(nxCached) / median(hand)).toFixed(2)}x the hand build)`);
rmSync(scratch, { recursive: true, force: true });
