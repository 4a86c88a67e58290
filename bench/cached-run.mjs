#!/usr/bin/env node
// A fully cached `nx run-many -t build` of the demo workspace (4 recipes, 14 variant tasks and
// 4 aggregates) against its floor: a plain Nx workspace with the same projects and tasks written
// out in project.json files, no plugin (bench/floor.mjs). Both are built once, then timed in
// alternation (paired runs) so that load on the machine hits both alike; prints medians and
// their ratio, with Nx's plugin isolation on (its default) and off (NX_ISOLATE_PLUGINS=false,
// for both). With --baseline <checkout> (another copy of this repository, installed and
// built), the demo is also timed with that checkout's plugin in the same alternation.
// Usage: node bench/cached-run.mjs [--runs 9] [--baseline DIR]
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';
import { median, nxEnv, runNx, writeFloor } from './floor.mjs';

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

  let tasks = 0;
  const timed = (root, env) => {
    const r = runNx(repo, root, build, env);
    // The demo's 4 aggregate `build` targets are no-ops, which Nx does not count as cache hits.
    const [, hits, total] = /Cache:\s+(\d+)\/(\d+) hit/.exec(r.stdout) ?? [];
    if (hits === undefined || Number(total) - Number(hits) !== 4) throw new Error(`a run in ${root} was not fully cached:\n${r.stdout.slice(-1500)}`);
    tasks = Number(total);
    return r.seconds;
  };
  timed(forge, nxEnv);
  console.log(`fully cached nx run-many -t build of the demo (${tasks} tasks: variant builds, their solve tasks, aggregates), ${runs} paired runs, median wall time and median ratio`);
  for (const [label, env] of [['plugin isolation on (Nx default)', nxEnv], ['plugin isolation off, both', { ...nxEnv, NX_ISOLATE_PLUGINS: 'false' }]]) {
    const rows = [];
    for (let run = 0; run < runs; run++) rows.push({ forge: timed(forge, env), floor: timed(floor, env), baseline: baseline && timed(baseline, env) });
    const f = median(rows.map((r) => r.forge));
    const p = median(rows.map((r) => r.floor));
    // The median of the per-run ratios: each pair ran back to back, under the same load.
    console.log(`  ${label}: forge ${f.toFixed(3)} s, plain Nx floor ${p.toFixed(3)} s: ${median(rows.map((r) => r.forge / r.floor)).toFixed(2)}x`);
    if (baseline) {
      const b = median(rows.map((r) => r.baseline));
      console.log(`    baseline plugin ${values.baseline}: ${b.toFixed(3)} s: ${median(rows.map((r) => r.baseline / r.floor)).toFixed(2)}x`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
