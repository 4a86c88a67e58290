// The floor a forge workspace is compared with: the same projects and tasks (names, dependsOn,
// inputs, outputs) written out as plain project.json files, with no plugin. Each variant build
// and solve task is a cached shell command that leaves the same output files, so a cached run
// restores the same outputs; the recipe folders are copied so inputs hash the same files.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const nxEnv = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

/** Runs the repository's Nx in `root`; returns wall seconds and stdout. */
export function runNx(repo, root, args, env = nxEnv) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), ...args], { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`nx ${args.join(' ')} failed in ${root}:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, stdout: r.stdout };
}

/**
 * Writes the floor of the forge workspace `forge` (built) into `floor`. Its build and solve tasks
 * copy in the very files the forge tasks left (a snapshot kept beside the floor, outside it), so
 * Nx caches and restores the same outputs in both.
 */
export function writeFloor(repo, forge, floor) {
  runNx(repo, forge, ['graph', `--file=${join(floor, '.graph.json')}`]);
  const graph = JSON.parse(readFileSync(join(floor, '.graph.json'), 'utf8')).graph;
  cpSync(join(forge, 'pkgs'), join(floor, 'pkgs'), { recursive: true });
  for (const file of ['variants.yaml']) if (existsSync(join(forge, file))) cpSync(join(forge, file), join(floor, file));
  symlinkSync(join(repo, 'node_modules'), join(floor, 'node_modules'), 'dir');
  writeFileSync(join(floor, 'nx.json'), JSON.stringify({ namedInputs: { default: ['{projectRoot}/**/*'] } }));
  const snapshot = `${floor}.outputs`;
  for (const node of Object.values(graph.nodes)) {
    const targets = {};
    for (const [name, target] of Object.entries(node.data.targets)) {
      if (target.executor === '@wv-forge/forge:build' || target.executor === '@wv-forge/forge:solve') {
        const out = target.outputs[0].replace('{workspaceRoot}/', '').replace('{projectName}', node.name);
        // graph-scale's workspaces are never built: their floor tasks are never run either.
        const built = existsSync(join(forge, out));
        if (built) cpSync(join(forge, out), join(snapshot, out), { recursive: true });
        const folder = target.executor === '@wv-forge/forge:build';
        const copy = !built ? 'true' : folder ? `mkdir -p ${out} && cp -R ${join(snapshot, out)}/. ${out}/` : `mkdir -p ${dirname(out)} && cp ${join(snapshot, out)} ${out}`;
        targets[name] = { ...target, executor: 'nx:run-commands', options: { command: copy } };
      } else targets[name] = { ...target, executor: 'nx:noop' };
    }
    mkdirSync(join(floor, node.data.root), { recursive: true });
    writeFileSync(join(floor, node.data.root, 'project.json'), JSON.stringify({ name: node.name, root: node.data.root, targets }));
  }
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The floor with one more plugin in nx.json that infers nothing: what any inferred-task plugin
 * costs a run before it does any work (under Nx's plugin isolation, a worker process of its
 * own). It matches the recipe files as forge does and answers no project and no dependency.
 * Installed as a package in node_modules (a file path in nx.json would be a "local plugin",
 * which Nx resolves by loading the workspace's projects first, an extra cost forge does not pay
 * here either).
 */
export function writeNoopPluginFloor(repo, floor, dest) {
  cpSync(floor, dest, { recursive: true, verbatimSymlinks: true, filter: (src) => !/[/\\](node_modules|\.nx)$/.test(src) });
  const modules = join(dest, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(join(repo, 'node_modules'))) symlinkSync(join(repo, 'node_modules', entry), join(modules, entry));
  const plugin = join(modules, 'forge-noop-plugin');
  mkdirSync(plugin);
  writeFileSync(join(plugin, 'package.json'), JSON.stringify({ name: 'forge-noop-plugin', main: 'index.js' }));
  writeFileSync(join(plugin, 'index.js'), "exports.name = 'forge-noop-plugin';\nexports.createNodesV2 = ['**/recipe/recipe.yaml', async () => []];\nexports.createDependencies = () => [];\n");
  const nxJson = JSON.parse(readFileSync(join(floor, 'nx.json'), 'utf8'));
  writeFileSync(join(dest, 'nx.json'), JSON.stringify({ ...nxJson, plugins: ['forge-noop-plugin'] }));
}
