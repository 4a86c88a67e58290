#!/usr/bin/env node
// The docker wheel environment: `nx run demo-wheel:wheel-py3.11` with FORGE_WHEEL_ENVIRONMENT=docker
// (container start, requirements, build, auditwheel repair and test install in the container,
// variantlib label, local index, manifest) against the same build as one `docker run` by hand in
// the same image (requirements installed, pypa build; no repair, test or label), paired, median of
// --runs. Then the image: the task when its image must be made first (a new base image id) against
// the task when the image is there.
// Needs Docker and the local base images (.ci/base-images.sh); reaches PyPI from the containers.
// Usage: node bench/docker-wheel.mjs [--runs 2]

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '2' } } });
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'forge-docker-bench-'));
const root = join(scratch, 'ws');
mkdirSync(root);
symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
for (const entry of ['pkgs', 'nx.json']) cpSync(join(repo, 'examples/wheels', entry), join(root, entry), { recursive: true });
writeFileSync(join(root, 'variants.yaml'), 'python:\n  - "3.11"\n');
const nxJson = JSON.parse(readFileSync(join(root, 'nx.json'), 'utf8'));
nxJson.plugins[0].options.pipIndex = 'https://pypi.org/simple';
const writeNx = () => writeFileSync(join(root, 'nx.json'), JSON.stringify(nxJson));
writeNx();
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORGE_WHEEL_ENVIRONMENT: 'docker' };
const seconds = (started) => Number(process.hrtime.bigint() - started) / 1e9;
const nx = (...args) => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stdout + result.stderr);
  return { seconds: seconds(started), out: result.stdout };
};
const task = 'demo-wheel:wheel-py3.11';
const clear = () => rmSync(join(root, 'wheelhouse/demo-wheel'), { recursive: true, force: true });
const warm = nx('run', task); // makes (or finds) the image; fills the uv cache

// By hand: one container of the same image, the requirement installed and pypa build run in it.
const image = JSON.parse(readFileSync(join(root, 'wheelhouse/demo-wheel/py3.11/manifest.json'), 'utf8')).inputs.toolchain.image;
const frontend = join(root, '.forge', readdirSync(join(root, '.forge')).find((d) => d.startsWith('frontend-')));
const ca = process.env.SSL_CERT_FILE ? ['-v', `${process.env.SSL_CERT_FILE}:/ca.crt:ro`, '-e', 'SSL_CERT_FILE=/ca.crt', '-e', 'PIP_CERT=/ca.crt'] : [];
const uvCache = join(root, '.forge/docker-uv-cache');
function byHand() {
  const src = join(scratch, 'src');
  rmSync(src, { recursive: true, force: true });
  cpSync(join(root, 'pkgs/demo-wheel/src'), src, { recursive: true });
  const boot = 'import sys; sys.path.append(sys.argv.pop(1)); from build.__main__ import entrypoint; entrypoint()';
  const script = `uv pip install --quiet --python /opt/forge/venv/bin/python --target /tmp/o 'setuptools>=70.1' && PYTHONPATH=/tmp/o python -c '${boot}' ${frontend} --wheel --no-isolation --outdir ${src}/dist .`;
  const started = process.hrtime.bigint();
  execFileSync('docker', ['run', '--rm', '--network', 'host', ...ca, '-e', `UV_CACHE_DIR=${uvCache}`, '-v', `${uvCache}:${uvCache}`, '-v', `${src}:${src}`, '-v', `${frontend}:${frontend}:ro`, '-w', src, image, 'sh', '-c', script], { stdio: 'ignore' });
  return seconds(started);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const taskRuns = [], hand = [];
for (let i = 0; i < runs; i++) {
  clear();
  taskRuns.push(nx('run', task, '--skip-nx-cache').seconds);
  hand.push(byHand());
}

// The image: a base with a new id (forge-base:bookworm plus a label) makes forge make a new image.
const container = execFileSync('docker', ['create', 'forge-base:bookworm', 'true'], { encoding: 'utf8' }).trim();
execFileSync('docker', ['commit', '--change', `LABEL forge-bench=${Date.now()}`, container, 'forge-bench-base:bookworm']);
execFileSync('docker', ['rm', container]);
nxJson.plugins[0].options.dockerImages = { 'py3.11': 'forge-bench-base:bookworm' };
writeNx();
clear();
const first = nx('run', task, '--skip-nx-cache');
const made = /made image \S+ \(\w+\) in ([\d.]+)s/.exec(first.out)?.[1];
clear();
const cached = nx('run', task, '--skip-nx-cache');
const benchImages = execFileSync('docker', ['images', '-q', '--filter', 'label=wv-forge.base=forge-bench-base:bookworm'], { encoding: 'utf8' }).split('\n').filter(Boolean);
spawnSync('docker', ['rmi', '-f', ...benchImages, 'forge-bench-base:bookworm']);

const f = (s) => `${s.toFixed(2)} s`;
console.log(`storage driver: ${execFileSync('docker', ['info', '--format', '{{.Driver}}'], { encoding: 'utf8' }).trim()}; warm-up task ${f(warm.seconds)}`);
console.log(`docker wheel task (container, build, repair, test, label, index) ${f(median(taskRuns))}  [${taskRuns.map(f).join(', ')}]`);
console.log(`same build as one docker run by hand                             ${f(median(hand))}  [${hand.map(f).join(', ')}]`);
console.log(`ratio task / by hand                                             ${(median(taskRuns) / median(hand)).toFixed(2)}x`);
console.log(`task with its image made first (new base id)                     ${f(first.seconds)}  (image made in ${made ?? '?'} s)`);
console.log(`task with the image there (cached image)                         ${f(cached.seconds)}  (${(first.seconds / cached.seconds).toFixed(2)}x faster)`);
rmSync(scratch, { recursive: true, force: true });
