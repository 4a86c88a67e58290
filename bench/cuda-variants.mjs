#!/usr/bin/env node
// The compile cache across Python variants of one CUDA extension, on a machine with nvcc (no GPU
// needed): a scikit-build-core project (CMake, CMAKE_CUDA_COMPILER_LAUNCHER) whose kernel file
// includes no Python header and whose module file does, built as wheel variants for two Pythons
// in fresh venvs, one after the other, from an empty compile cache. Prints each variant's time
// and sccache's hits and misses: the second variant should compile its .cu from the cache
// (CUDA, PTX and CUBIN hits) and only the module that includes Python.h again.
// Usage: node bench/cuda-variants.mjs [--pythons 3.11,3.12]   (both found by `uv python find`)

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { pythons: { type: 'string', default: '3.11,3.12' }, keep: { type: 'boolean', default: false } } });
const pythons = values.pythons.split(',');
const ws = mkdtempSync(join(tmpdir(), 'forge-cuda-variants-'));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORGE_COMPILE_CACHE_DIR: join(ws, '.sccache') };
const nvccVersion = /release (\d+\.\d+)/.exec(execFileSync('/usr/local/cuda/bin/nvcc', ['--version'], { encoding: 'utf8' }))[1];

const files = {
  'nx.json': readFileSync(join(repo, 'examples/wheels/nx.json'), 'utf8'),
  'variants.yaml': `python:\n${pythons.map((p) => `  - "${p}"`).join('\n')}\ncuda_version:\n  - "${nvccVersion}"\n`,
  'pkgs/cuda-demo/wheel/wheel.yaml': `name: cuda-demo
version: 0.1.0
source:
  path: ../src
variant:
  keys: [python, cuda_version]
  properties:
    - "nvidia :: cuda_version_lower_bound :: \${{ cuda_version }}"
build:
  environment: venv
  requirements:
    - scikit-build-core>=0.10
test:
  imports: [cuda_demo]
`,
  'pkgs/cuda-demo/src/pyproject.toml': `[build-system]
requires = ["scikit-build-core>=0.10"]
build-backend = "scikit_build_core.build"

[project]
name = "cuda-demo"
version = "0.1.0"
requires-python = ">=3.9"

[tool.scikit-build]
wheel.packages = ["cuda_demo"]
`,
  'pkgs/cuda-demo/src/CMakeLists.txt': `cmake_minimum_required(VERSION 3.18)
project(cuda_demo LANGUAGES C CUDA)
set(CMAKE_CUDA_ARCHITECTURES 90)
find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
Python_add_library(_kernels MODULE module.c saxpy.cu WITH_SOABI)
install(TARGETS _kernels DESTINATION cuda_demo)
`,
  'pkgs/cuda-demo/src/saxpy.cu': `// No Python header: the same object for every Python version.
__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}
extern "C" int saxpy_block_size(void) { return 256; }
extern "C" void saxpy_launch(int n, float a, const float* x, float* y) {
  saxpy_kernel<<<(n + 255) / 256, 256>>>(n, a, x, y);
}
`,
  'pkgs/cuda-demo/src/module.c': `#define PY_SSIZE_T_CLEAN
#include <Python.h>
int saxpy_block_size(void);
static PyObject* block_size(PyObject* self, PyObject* args) { return PyLong_FromLong(saxpy_block_size()); }
static PyMethodDef methods[] = {{"block_size", block_size, METH_NOARGS, "the kernel's block size"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};
PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
`,
  'pkgs/cuda-demo/src/cuda_demo/__init__.py': 'from ._kernels import block_size\n',
};
for (const [path, text] of Object.entries(files)) {
  mkdirSync(dirname(join(ws, path)), { recursive: true });
  writeFileSync(join(ws, path), text);
}
symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');

try {
  for (const python of pythons) {
    const id = `py${python}-cuda${nvccVersion}`;
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), 'run', `cuda-demo:wheel-${id}`, '--output-style=stream'], { cwd: ws, env, encoding: 'utf8', maxBuffer: 64 << 20 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) throw new Error(`${id} failed:\n${(result.stdout + result.stderr).split('\n').slice(-40).join('\n')}`);
    const stats = /compile cache: (\d+ hits.*)$/m.exec(result.stdout)?.[1] ?? 'no compile cache line';
    const phases = /built .* in ([\d.]+s \(.*\))$/m.exec(result.stdout)?.[1] ?? '';
    console.log(`${id}: ${seconds.toFixed(1)} s with Nx; ${phases}`);
    console.log(`  compile cache: ${stats}`);
  }
} finally {
  const { compileCache, stopServer } = await import(join(repo, 'tools/forge/dist/engine/compile-cache.js'));
  const cache = compileCache(repo, env);
  if (!('off' in cache)) await stopServer(cache);
  if (values.keep) console.log(`workspace kept at ${ws}`);
  else rmSync(ws, { recursive: true, force: true });
}
