#!/usr/bin/env node
// Scheduling benchmark with the real engine: a synthetic DAG of recipes x 6 variants whose
// build scripts sleep known durations, built by `nx run-many -t build` at several --parallel
// values. Prints the makespan against the critical-path bound and against seed 000's
// level-by-level order (each level waits for the whole previous one) at the same parallelism,
// simulated from the measured task durations; then a fully cached run against a plain Nx
// workspace with the same cached tasks (bench/floor.mjs).
// Usage: node bench/build-schedule.mjs [--recipes 20] [--parallel 2,4] [--seed 7]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';
import { median, writeFloor } from './floor.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { recipes: { type: 'string', default: '20' }, parallel: { type: 'string', default: '2,4' }, seed: { type: 'string', default: '7' } } });
const count = Number(values.recipes);
const parallels = values.parallel.split(',').map(Number);
let state = Number(values.seed) >>> 0 || 1;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const scratch = mkdtempSync(join(tmpdir(), 'forge-sched-'));
const bootstrap = join(scratch, 'bootstrap');
await buildBootstrapChannel(join(repo, 'examples/demo/bootstrap'), bootstrap, repo);

// Recipes and their sleep (seconds), with a few long ones so the order matters.
const recipes = [];
for (let i = 0; i < count; i++) {
  const deps = new Set();
  for (let d = 0; d < 2 && i > 0; d++) if (random() < 0.7) deps.add(Math.floor(random() * i));
  const sleep = random() < 0.15 ? 4 : 1 + Math.floor(random() * 2);
  recipes.push({ name: `p${String(i).padStart(2, '0')}`, deps: [...deps].map((d) => `p${String(d).padStart(2, '0')}`), sleep });
}

function workspace() {
  const root = mkdtempSync(join(scratch, 'ws-'));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
  cpSync(bootstrap, join(root, '.bootstrap'), { recursive: true });
  cpSync(join(repo, 'examples/demo/variants.yaml'), join(root, 'variants.yaml'));
  writeFileSync(join(root, 'nx.json'), JSON.stringify({ plugins: [{ plugin: '@wv-forge/forge/plugin', options: { channels: ['./.bootstrap'], artifactChannels: [] } }] }));
  for (const r of recipes) {
    mkdirSync(join(root, 'pkgs', r.name, 'recipe'), { recursive: true });
    writeFileSync(
      join(root, 'pkgs', r.name, 'recipe', 'recipe.yaml'),
      [
        `package: {name: ${r.name}, version: "1.0"}`,
        'build:',
        '  number: 0',
        '  variant: {use_keys: [cuda_version]}',
        `  script: [sleep ${r.sleep}, mkdir -p $PREFIX/share/${r.name}]`,
        'requirements:',
        '  host: [python, cuda-version' + r.deps.map((d) => `, ${d}`).join('') + ']',
        '',
      ].join('\n'),
    );
  }
  return root;
}

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const nx = (root, ...args) => {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`nx ${args.join(' ')} failed:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
};

/** Task durations (s) from the manifests: the engine's own wall time per variant. */
function durations(root) {
  const result = new Map();
  for (const project of readdirSync(join(root, 'output')).filter((p) => !p.startsWith('.'))) {
    for (const id of readdirSync(join(root, 'output', project))) {
      const m = JSON.parse(readFileSync(join(root, 'output', project, id, 'manifest.json'), 'utf8'));
      result.set(`${project}:${id}`, m.seconds);
    }
  }
  return result;
}

// A variant task needs the same variant of each dependency (all are python x cuda here).
const needs = (task) => {
  const [project, id] = task.split(':');
  return recipes.find((r) => r.name === project).deps.map((d) => `${d}:${id}`);
};

function criticalPath(times) {
  const memo = new Map();
  const finish = (task) => {
    if (!memo.has(task)) memo.set(task, times.get(task) + Math.max(0, ...needs(task).map(finish)));
    return memo.get(task);
  };
  return Math.max(...[...times.keys()].map(finish));
}

/** List scheduling of `tasks` on `p` workers; returns the makespan. */
function listSchedule(tasks, times, p, ready = () => 0) {
  const workers = Array(p).fill(0);
  let end = 0;
  for (const task of tasks) {
    workers.sort((a, b) => a - b);
    const start = Math.max(workers[0], ready(task));
    workers[0] = start + times.get(task);
    end = Math.max(end, workers[0]);
  }
  return end;
}

/** Greedy DAG scheduling (what Nx does) on `p` workers, simulated from the same durations. */
function dagSchedule(times, p) {
  const finish = new Map();
  const workers = Array(p).fill(0);
  const pending = [...times.keys()];
  while (pending.length) {
    workers.sort((a, b) => a - b);
    const now = workers[0];
    const readyAt = (t) => Math.max(0, ...needs(t).map((n) => finish.get(n) ?? Infinity));
    // Start the longest task that is ready when this worker frees up, else wait for the earliest.
    const ready = pending.filter((t) => readyAt(t) <= now).sort((a, b) => times.get(b) - times.get(a));
    const task = ready[0] ?? pending.filter((t) => Number.isFinite(readyAt(t))).sort((a, b) => readyAt(a) - readyAt(b))[0];
    const start = Math.max(now, readyAt(task));
    finish.set(task, start + times.get(task));
    workers[0] = start + times.get(task);
    pending.splice(pending.indexOf(task), 1);
  }
  return Math.max(...finish.values());
}

function levelByLevel(times, p) {
  const level = new Map();
  const levelOf = (name) => {
    if (!level.has(name)) level.set(name, 1 + Math.max(-1, ...recipes.find((r) => r.name === name).deps.map(levelOf)));
    return level.get(name);
  };
  let total = 0;
  const byLevel = new Map();
  for (const task of times.keys()) {
    const l = levelOf(task.split(':')[0]);
    byLevel.set(l, [...(byLevel.get(l) ?? []), task]);
  }
  for (const l of [...byLevel.keys()].sort((a, b) => a - b)) {
    const tasks = byLevel.get(l).sort((a, b) => times.get(b) - times.get(a));
    total += listSchedule(tasks, times, p);
  }
  return total;
}

const tasks = recipes.length * 6;
console.log(`${recipes.length} recipes x 6 variants = ${tasks} builds; sleeps ${recipes.map((r) => r.sleep).join(',')} s; 2 cores`);
for (const p of parallels) {
  const root = workspace();
  const makespan = nx(root, 'run-many', '-t', 'build', `--parallel=${p}`, '--output-style=static');
  const times = durations(root);
  const work = [...times.values()].reduce((a, b) => a + b, 0);
  const bound = Math.max(criticalPath(times), work / p);
  console.log(
    `--parallel ${p}: measured makespan ${makespan.toFixed(1)} s (engine time ${work.toFixed(1)} s); critical-path bound ${bound.toFixed(1)} s: ${(makespan / bound).toFixed(2)}x; ` +
      `simulated from the same task times: DAG order ${dagSchedule(times, p).toFixed(1)} s, level-by-level ${levelByLevel(times, p).toFixed(1)} s`,
  );
  if (p === parallels[0]) {
    // Paired with its floor: the same tasks as plain project.json files (bench/floor.mjs).
    const floor = mkdtempSync(join(scratch, 'floor-'));
    writeFloor(repo, root, floor);
    nx(floor, 'run-many', '-t', 'build', `--parallel=${p}`, '--output-style=static');
    const pairs = [];
    for (let i = 0; i < 5; i++) {
      const cached = nx(root, 'run-many', '-t', 'build', `--parallel=${p}`, '--output-style=static');
      pairs.push({ cached, floor: nx(floor, 'run-many', '-t', 'build', `--parallel=${p}`, '--output-style=static') });
    }
    const cached = median(pairs.map((x) => x.cached));
    const noop = median(pairs.map((x) => x.floor));
    console.log(`fully cached run: ${cached.toFixed(2)} s; plain Nx run of the same ${tasks} builds and their solve tasks, cached: ${noop.toFixed(2)} s: ${median(pairs.map((x) => x.cached / x.floor)).toFixed(2)}x (medians of 5 paired runs)`);
  }
}
rmSync(scratch, { recursive: true, force: true });
