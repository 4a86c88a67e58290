#!/usr/bin/env node
// Installs the embedded engine: a .venv at the workspace root with the pinned
// py-rattler-build (the official Python bindings of rattler-build's Rust engine).
// Used when no `rattler-build` is on PATH. Idempotent: does nothing when the pin is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.INIT_CWD && existsSync(join(process.env.INIT_CWD, 'nx.json')) ? process.env.INIT_CWD : join(here, '../../..');
const requirements = join(here, '../python/requirements.txt');
const wanted = readFileSync(requirements, 'utf8');
const pin = /py-rattler-build==([\w.]+)/.exec(wanted)?.[1];
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
// What was installed last time: the venv is current when it matches the requirements file.
const stamp = join(venv, '.forge-requirements.txt');

if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) {
  console.log(`embedded engine ready: py-rattler-build ${pin} in ${venv}`);
  process.exit(0);
}
const system = ['python3', 'python'].find((cmd) => spawnSync(cmd, ['--version']).status === 0);
if (!system) {
  console.error('setup-engine: no python3 found; install Python 3.9+ or put rattler-build on PATH instead');
  process.exit(1);
}
console.log(`setting up the embedded engine in ${venv} (py-rattler-build ${pin})`);
if (!existsSync(python)) execFileSync(system, ['-m', 'venv', venv], { stdio: 'inherit' });
execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements], { stdio: 'inherit' });
writeFileSync(stamp, wanted);
console.log(`embedded engine ready: py-rattler-build ${pin} in ${venv}`);
