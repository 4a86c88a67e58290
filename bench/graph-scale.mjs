#!/usr/bin/env node
// Graph inference at scale: N synthetic recipes in a random DAG (seeded, so runs compare),
// timing a cold and a warm `nx show projects` and `forge variants --json`.
// Usage: node bench/graph-scale.mjs [--recipes 1000] [--seed 1] [--runs 3]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { recipes: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, runs: { type: 'string', default: '3' } } });
const count = Number(values.recipes);
const runs = Number(values.runs);

let state = Number(values.seed) >>> 0 || 1;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const root = mkdtempSync(join(tmpdir(), 'forge-bench-'));
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

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
function time(label, args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr}`);
  return ms;
}
const nx = [join(repo, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'];
const forge = [join(repo, 'tools/forge/dist/cli/main.js'), 'variants', '--json'];
const clean = () => rmSync(join(root, '.nx'), { recursive: true, force: true });

const rows = [];
for (let run = 0; run < runs; run++) {
  clean();
  const forgeCold = time('forge cold', forge);
  const forgeWarm = time('forge warm', forge);
  clean();
  const nxCold = time('nx cold', nx);
  const nxWarm = time('nx warm', nx);
  rows.push({ nxCold, nxWarm, forgeCold, forgeWarm });
}
const median = (key) => rows.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
console.log(`recipes: ${count} (seed ${values.seed}), runs: ${runs}, median wall time`);
for (const [label, key] of [['nx show projects, cold', 'nxCold'], ['nx show projects, warm', 'nxWarm'], ['forge variants --json, cold', 'forgeCold'], ['forge variants --json, warm', 'forgeWarm']]) {
  console.log(`  ${label.padEnd(30)} ${(median(key) / 1000).toFixed(2)} s`);
}
rmSync(root, { recursive: true, force: true });
