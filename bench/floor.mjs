// The floor a forge workspace is compared with: the same projects and tasks (names, dependsOn,
// inputs, outputs) written out as plain project.json files, with no plugin. Each variant task is
// a cached shell command that leaves the same output folder, so a cached run restores the same
// outputs; the recipe folders are copied so inputs hash the same files.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const nxEnv = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

/** Runs the repository's Nx in `root`; returns wall seconds and stdout. */
export function runNx(repo, root, args, env = nxEnv) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`nx ${args.join(' ')} failed in ${root}:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, stdout: r.stdout };
}

/** Writes the floor of the forge workspace `forge` into `floor`. */
export function writeFloor(repo, forge, floor) {
  runNx(repo, forge, ['graph', `--file=${join(floor, '.graph.json')}`]);
  const graph = JSON.parse(readFileSync(join(floor, '.graph.json'), 'utf8')).graph;
  cpSync(join(forge, 'pkgs'), join(floor, 'pkgs'), { recursive: true });
  for (const file of ['variants.yaml']) if (existsSync(join(forge, file))) cpSync(join(forge, file), join(floor, file));
  symlinkSync(join(repo, 'node_modules'), join(floor, 'node_modules'), 'dir');
  writeFileSync(join(floor, 'nx.json'), JSON.stringify({ namedInputs: { default: ['{projectRoot}/**/*'] } }));
  for (const node of Object.values(graph.nodes)) {
    const targets = {};
    for (const [name, target] of Object.entries(node.data.targets)) {
      if (target.executor === '@wv-forge/forge:build') {
        const out = `output/${node.name}/${target.options.variant}`;
        targets[name] = { ...target, executor: 'nx:run-commands', options: { command: `mkdir -p ${out} && echo ${name} > ${out}/content-key` } };
      } else targets[name] = { ...target, executor: 'nx:noop' };
    }
    mkdirSync(join(floor, node.data.root), { recursive: true });
    writeFileSync(join(floor, node.data.root, 'project.json'), JSON.stringify({ name: node.name, root: node.data.root, targets }));
  }
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
