#!/usr/bin/env node
// A fully cached `nx run-many -t build` of the demo workspace (4 recipes: variant builds, their
// solve tasks, 4 aggregates) against two floors: a plain Nx workspace with the same projects and
// tasks written out in project.json files, no plugin (bench/floor.mjs), and the same with a
// plugin that infers nothing (what any inferred-task plugin costs before it does any work). All
// are built once, then timed in alternation (paired runs) so that load on the machine hits them
// alike; prints medians and ratios in three Nx set-ups: daemon off with plugin isolation (Nx's
// default in CI), daemon off without isolation (NX_ISOLATE_PLUGINS=false), and the daemon on
// (Nx's default on a workstation). With --baseline <checkout> (another copy of this repository,
// installed and built), the demo is also timed with that checkout's plugin in the same alternation.
// Usage: node bench/cached-run.mjs [--runs 9] [--baseline DIR]
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';
import { median, nxEnv, runNx, writeFloor, writeNoopPluginFloor } from './floor.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(repo, 'examples/demo');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, baseline: { type: 'string' } } });
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'forge-cached-'));
const build = ['run-many', '-t', 'build', '--parallel=2', '--output-style=static'];

async function demoWorkspace(name, checkout) {
  const root = join(scratch, name);
  cpSync(demo, root, { recursive: true, filter: (src) => !/[/\\](output|\.nx|\.bootstrap|\.published)$/.test(src) });
  symlinkSync(join(checkout, 'node_modules'), join(root, 'node_modules'), 'dir');
  await buildBootstrapChannel(join(root, 'bootstrap'), join(root, '.bootstrap'), repo);
  runNx(repo, root, build);
  return root;
}

try {
  const forge = await demoWorkspace('forge', repo);
  const baseline = values.baseline ? await demoWorkspace('baseline', values.baseline) : undefined;
  const floor = join(scratch, 'floor');
  mkdirSync(floor);
  writeFloor(repo, forge, floor);
  runNx(repo, floor, build);
  const noop = join(scratch, 'noop-plugin');
  writeNoopPluginFloor(repo, floor, noop);
  runNx(repo, noop, build);
  const workspaces = [forge, floor, noop, ...(baseline ? [baseline] : [])];

  let tasks = 0;
  const timed = (root, env) => {
    const r = runNx(repo, root, build, env);
    // The 4 aggregate `build` targets are no-ops, which Nx does not count as cache hits.
    const [, hits, total] = /Cache:\s+(\d+)\/(\d+) hit/.exec(r.stdout) ?? [];
    if (hits === undefined || Number(total) - Number(hits) !== 4) throw new Error(`a run in ${root} was not fully cached:\n${r.stdout.slice(-1500)}`);
    tasks = Number(total);
    return r.seconds;
  };
  timed(forge, nxEnv);
  console.log(`fully cached nx run-many -t build of the demo (${tasks} tasks: variant builds, their solve tasks, aggregates), ${runs} paired runs, median wall time and median ratio`);
  const daemon = { ...nxEnv, NX_DAEMON: 'true' };
  const setups = [
    ['daemon off, plugin isolation on (Nx default in CI)', nxEnv],
    ['daemon off, plugin isolation off (NX_ISOLATE_PLUGINS=false, all)', { ...nxEnv, NX_ISOLATE_PLUGINS: 'false' }],
    ['daemon on (Nx default on a workstation; first run of each not timed)', daemon],
  ];
  try {
    for (const [label, env] of setups) {
      if (env === daemon) for (const root of workspaces) timed(root, env);
      const rows = [];
      for (let run = 0; run < runs; run++) rows.push({ forge: timed(forge, env), floor: timed(floor, env), noop: timed(noop, env), baseline: baseline && timed(baseline, env) });
      const med = (key) => median(rows.map((r) => r[key]));
      const ratio = (a, b) => median(rows.map((r) => r[a] / r[b])).toFixed(2);
      console.log(`  ${label}:`);
      console.log(`    forge ${med('forge').toFixed(3)} s; plain Nx floor ${med('floor').toFixed(3)} s; floor + a plugin that infers nothing ${med('noop').toFixed(3)} s`);
      console.log(`    forge / plain Nx ${ratio('forge', 'floor')}x; no-op plugin / plain Nx ${ratio('noop', 'floor')}x; forge / no-op plugin ${ratio('forge', 'noop')}x`);
      if (baseline) console.log(`    baseline plugin ${values.baseline}: ${med('baseline').toFixed(3)} s: ${ratio('baseline', 'floor')}x plain Nx`);
    }
  } finally {
    for (const root of workspaces) runNx(repo, root, ['daemon', '--stop'], daemon);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
