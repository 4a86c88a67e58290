#!/usr/bin/env node
// Graph inference at scale: N synthetic recipes in a random DAG (seeded, so runs compare),
// timing a cold (no .nx folder) and a warm `nx show projects` against the floor measured in the
// same run: the same N projects and their tasks as plain project.json files, no plugin
// (bench/floor.mjs). Runs alternate between the two workspaces; ratios are medians of the
// per-run ratios. Also times `forge variants --json`, cold and warm.
// Usage: node bench/graph-scale.mjs [--recipes 1000] [--seed 1] [--runs 5] [--keep]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, nxEnv, writeFloor } from './floor.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { recipes: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, keep: { type: 'boolean' } } });
const count = Number(values.recipes);
const runs = Number(values.runs);

let state = Number(values.seed) >>> 0 || 1;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const scratch = mkdtempSync(join(tmpdir(), 'forge-bench-'));
const root = join(scratch, 'forge');
const floor = join(scratch, 'floor');
mkdirSync(floor);
mkdirSync(root);
symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
copyFileSync(join(repo, 'nx.json'), join(root, 'nx.json'));
copyFileSync(join(repo, 'variants.yaml'), join(root, 'variants.yaml'));
for (let i = 0; i < count; i++) {
  const name = `pkg${String(i).padStart(4, '0')}`;
  const deps = new Set();
  const fanIn = Math.floor(random() * 4);
  for (let d = 0; d < fanIn && i > 0; d++) deps.add(`pkg${String(Math.floor(random() * i)).padStart(4, '0')}`);
  const noarch = random() < 0.3;
  const host = noarch ? ['python >=3.10', 'pip'] : ['python', 'cuda-version', 'pip'];
  const recipe = [
    'context:',
    `  version: "1.${i}.0"`,
    'package:',
    `  name: ${name}`,
    '  version: ${{ version }}',
    'build:',
    '  number: 0',
    noarch ? '  noarch: python' : '  variant:\n    use_keys: [cuda_version]',
    'requirements:',
    ...(noarch ? [] : ["  build:\n    - ${{ compiler('c') }}"]),
    '  host:',
    ...[...host, ...deps].map((d) => `    - ${d}`),
    '  run:',
    ...(noarch ? ['    - python >=3.10'] : ["    - ${{ pin_compatible('python', upper_bound='x.x') }}"]),
    ...[...deps].map((d) => `    - ${d}`),
  ].join('\n');
  mkdirSync(join(root, 'pkgs', name, 'recipe'), { recursive: true });
  writeFileSync(join(root, 'pkgs', name, 'recipe', 'recipe.yaml'), `${recipe}\n`);
}

function time(cwd, args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd, env: nxEnv, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}
const nx = [join(repo, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'];
const forge = [join(repo, 'tools/forge/dist/cli/main.js'), 'variants', '--json'];
const clean = (dir) => rmSync(join(dir, '.nx'), { recursive: true, force: true });

try {
  writeFloor(repo, root, floor);
  const rows = [];
  for (let run = 0; run < runs; run++) {
    clean(root);
    const forgeCold = time(root, forge);
    const forgeWarm = time(root, forge);
    clean(root);
    clean(floor);
    const nxCold = time(root, nx);
    const floorCold = time(floor, nx);
    const nxWarm = time(root, nx);
    const floorWarm = time(floor, nx);
    rows.push({ nxCold, nxWarm, floorCold, floorWarm, forgeCold, forgeWarm });
  }
  const m = (key) => median(rows.map((r) => r[key])) / 1000;
  const ratio = (a, b) => median(rows.map((r) => r[a] / r[b])).toFixed(2);
  console.log(`recipes: ${count} (seed ${values.seed}), runs: ${runs}, median wall time; floor: ${count} plain project.json projects with the same tasks`);
  console.log(`  nx show projects, cold          ${m('nxCold').toFixed(2)} s   floor ${m('floorCold').toFixed(2)} s   ${ratio('nxCold', 'floorCold')}x`);
  console.log(`  nx show projects, warm          ${m('nxWarm').toFixed(2)} s   floor ${m('floorWarm').toFixed(2)} s   ${ratio('nxWarm', 'floorWarm')}x`);
  console.log(`  forge variants --json, cold     ${m('forgeCold').toFixed(2)} s`);
  console.log(`  forge variants --json, warm     ${m('forgeWarm').toFixed(2)} s`);
} finally {
  if (values.keep) console.log(`workspaces kept in ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}
