#!/usr/bin/env node
// A fully cached `nx run-many -t build` of the demo workspace (4 recipes, 14 variant tasks and
// 4 aggregates) against its floor: a plain Nx workspace with the same projects, the same 18
// tasks (same names, dependsOn, inputs and outputs) written out in project.json files, no
// plugin. Both are built once, then timed in alternation (paired runs) so that load on the
// machine hits both alike; prints medians and their ratio.
// With --baseline <checkout> (another copy of this repository, installed and built), the demo is
// also timed with that checkout's plugin in the same alternation: an A/B of two versions.
// Usage: node bench/cached-run.mjs [--runs 9] [--baseline DIR]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(repo, 'examples/demo');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, baseline: { type: 'string' } } });
const runs = Number(values.runs);

const scratch = mkdtempSync(join(tmpdir(), 'forge-cached-'));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const nx = (root, ...args) => {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`nx ${args.join(' ')} failed in ${root}:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, stdout: r.stdout };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function demoWorkspace(name, checkout) {
  const root = join(scratch, name);
  cpSync(demo, root, { recursive: true, filter: (src) => !/[/\\](output|\.nx|\.bootstrap|\.published)$/.test(src) });
  symlinkSync(join(checkout, 'node_modules'), join(root, 'node_modules'), 'dir');
  await buildBootstrapChannel(join(root, 'bootstrap'), join(root, '.bootstrap'), repo);
  nx(root, 'run-many', '-t', 'build', '--parallel=2', '--output-style=static');
  return root;
}

try {
  const forge = await demoWorkspace('forge', repo);
  const baseline = values.baseline ? await demoWorkspace('baseline', values.baseline) : undefined;

  // The floor: the plugin's projects written out, each variant task a cached shell command
  // that leaves the same output folder.
  nx(forge, 'graph', `--file=${join(scratch, 'graph.json')}`);
  const graph = JSON.parse(readFileSync(join(scratch, 'graph.json'), 'utf8')).graph;
  const floor = join(scratch, 'floor');
  cpSync(join(forge, 'pkgs'), join(floor, 'pkgs'), { recursive: true });
  cpSync(join(forge, 'variants.yaml'), join(floor, 'variants.yaml'));
  symlinkSync(join(repo, 'node_modules'), join(floor, 'node_modules'), 'dir');
  writeFileSync(join(floor, 'nx.json'), JSON.stringify({ namedInputs: { default: ['{projectRoot}/**/*'] } }));
  let tasks = 0;
  for (const node of Object.values(graph.nodes)) {
    const targets = {};
    for (const [name, target] of Object.entries(node.data.targets)) {
      if (target.executor === '@wv-forge/forge:build') {
        const out = `output/${node.name}/${target.options.variant}`;
        targets[name] = { ...target, executor: 'nx:run-commands', options: { command: `mkdir -p ${out} && echo ${name} > ${out}/content-key` } };
      } else if (name === 'build') targets[name] = target;
      else continue;
      tasks++;
    }
    writeFileSync(join(floor, node.data.root, 'project.json'), JSON.stringify({ name: node.name, root: node.data.root, targets }));
  }
  nx(floor, 'run-many', '-t', 'build', '--parallel=2', '--output-style=static');

  const rows = [];
  for (let run = 0; run < runs; run++) {
    const a = nx(forge, 'run-many', '-t', 'build', '--parallel=2', '--output-style=static');
    const b = nx(floor, 'run-many', '-t', 'build', '--parallel=2', '--output-style=static');
    const c = baseline && nx(baseline, 'run-many', '-t', 'build', '--parallel=2', '--output-style=static');
    // The 4 aggregates are no-ops, which Nx does not count as cache hits.
    for (const r of [a, b, c]) if (r && !/Cache:\s+14\/18 hit/.test(r.stdout)) throw new Error(`a run was not fully cached:\n${r.stdout.slice(-1500)}`);
    rows.push({ forge: a.seconds, floor: b.seconds, baseline: c?.seconds });
  }
  const f = median(rows.map((r) => r.forge));
  const p = median(rows.map((r) => r.floor));
  console.log(`fully cached nx run-many -t build of the demo (${tasks} tasks), ${runs} paired runs, median wall time`);
  console.log(`  forge plugin                       ${f.toFixed(3)} s`);
  console.log(`  plain Nx, same tasks (floor)       ${p.toFixed(3)} s`);
  console.log(`  ratio                              ${(f / p).toFixed(2)}x`);
  console.log(`  per-run ratios                     ${rows.map((r) => (r.forge / r.floor).toFixed(2)).join(' ')}`);
  if (baseline) {
    const c = median(rows.map((r) => r.baseline));
    console.log(`  baseline plugin (${values.baseline})  ${c.toFixed(3)} s, ${(c / p).toFixed(2)}x the floor`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
