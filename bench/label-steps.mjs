#!/usr/bin/env node
// The steps after a wheel's repair: its `+cu…` copy for the index (local version, then the task's
// index) and its variant (variantlib's label, then variants.json). Each rewrites the whole wheel,
// so a CUDA wheel's recompression is seconds. Times them as a wheel task runs them (two
// forge_wheel.py batches side by side) against the floor of one batch doing all four in turn.
//
// Usage: node bench/label-steps.mjs [--wheel FILE] [--mb N] [--runs N]
//   --wheel: a wheel to use (its name's tags are kept); default: one made here by pypa wheel's
//            `pack` from N MiB (default 60, a pytorch3d-sized .so) of compressible bytes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { wheel: { type: 'string' }, mb: { type: 'string', default: '60' }, runs: { type: 'string', default: '3' } } });
const { embeddedPython } = await import(pathToFileURL(join(repo, 'tools/forge/dist/engine/engine.js')).href);
const { labelStep, localVersionStep, runWheelSteps } = await import(pathToFileURL(join(repo, 'tools/forge/dist/engine/wheel-tool.js')).href);
const python = embeddedPython(repo);
if (!python) throw new Error('no tools venv: run `npm run setup:engine`');
const scratch = mkdtempSync(join(tmpdir(), 'forge-label-bench-'));

function syntheticWheel(mb) {
  const tree = join(scratch, 'tree');
  mkdirSync(join(tree, 'bench_ext'), { recursive: true });
  mkdirSync(join(tree, 'bench_ext-1.0.dist-info'));
  writeFileSync(join(tree, 'bench_ext/__init__.py'), '');
  // Machine code compresses about 3:1; words drawn at random from a small set do too.
  const make = `import random, sys\nrandom.seed(0)\nwords = [bytes(random.randrange(256) for _ in range(random.randrange(2, 9))) for _ in range(4096)]\nout = bytearray()\nwhile len(out) < ${mb} << 20:\n    out += random.choice(words)\nopen(sys.argv[1], "wb").write(out)\n`;
  const made = spawnSync(python, ['-c', make, join(tree, 'bench_ext/_C.so')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(made.stderr);
  writeFileSync(join(tree, 'bench_ext-1.0.dist-info/METADATA'), 'Metadata-Version: 2.1\nName: bench-ext\nVersion: 1.0\n\n');
  writeFileSync(join(tree, 'bench_ext-1.0.dist-info/WHEEL'), 'Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\n\n');
  const out = join(scratch, 'wheel');
  mkdirSync(out);
  const packed = spawnSync(python, ['-m', 'wheel', 'pack', '--dest-dir', out, tree], { encoding: 'utf8' });
  if (packed.status !== 0) throw new Error(packed.stderr);
  return join(out, 'bench_ext-1.0-cp311-cp311-manylinux_2_17_x86_64.whl');
}

const wheel = values.wheel ?? syntheticWheel(Number(values.mb));
const properties = ['nvidia :: cuda_version_lower_bound :: 13.0'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const times = { floor: [], task: [] };
for (let i = 0; i < Number(values.runs); i++) {
  for (const side of i % 2 === 0 ? ['floor', 'task'] : ['task', 'floor']) {
    const dir = mkdtempSync(join(scratch, 'run-'));
    const layout = join(dir, 'layout');
    mkdirSync(layout);
    const index = [localVersionStep({ wheel, outDir: join(dir, 'local'), local: 'cu130' }), ['publish', join(dir, 'index/cu130'), { step: 0, field: 'wheel' }]];
    const variant = [labelStep({ wheel, outDir: layout, properties, declare: properties }), ['variants-json', layout]];
    const started = process.hrtime.bigint();
    if (side === 'floor') await runWheelSteps(repo, [...index, ...variant]);
    else await Promise.all([runWheelSteps(repo, index), runWheelSteps(repo, variant)]);
    times[side].push(Number(process.hrtime.bigint() - started) / 1e9);
    rmSync(dir, { recursive: true, force: true });
  }
}
const show = (xs) => `${median(xs).toFixed(2)} s  [${xs.map((x) => `${x.toFixed(2)} s`).join(', ')}]`;
console.log(`wheel: ${wheel} (${(statSync(wheel).size / 2 ** 20).toFixed(1)} MiB)`);
console.log(`one batch, the four steps in turn (floor)   ${show(times.floor)}`);
console.log(`two batches side by side (the wheel task)   ${show(times.task)}`);
console.log(`ratio task / floor                          ${(median(times.task) / median(times.floor)).toFixed(2)}x`);
rmSync(scratch, { recursive: true, force: true });
