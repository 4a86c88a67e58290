#!/usr/bin/env node
// Installs the embedded engine: a .venv at the workspace root with the pinned
// py-rattler-build (the official Python bindings of rattler-build's Rust engine).
// Used when no `rattler-build` is on PATH. Idempotent: does nothing when the pin is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.INIT_CWD && existsSync(join(process.env.INIT_CWD, 'nx.json')) ? process.env.INIT_CWD : join(here, '../../..');
const requirements = join(here, '../python/requirements.txt');
const pin = /py-rattler-build==([\w.]+)/.exec(readFileSync(requirements, 'utf8'))?.[1];
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');

const installed = existsSync(python)
  ? spawnSync(python, ['-c', 'import rattler_build; print(rattler_build.rattler_build_version())'], { encoding: 'utf8' })
  : undefined;
if (installed?.status === 0 && pin && installed.stdout.includes(pin)) {
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
console.log(`embedded engine ready: py-rattler-build ${pin} in ${venv}`);
