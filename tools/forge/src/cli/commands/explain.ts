import type { Command } from 'commander';
import { join } from 'node:path';
import { engineVersion, locateEngine } from '../../engine/engine.js';
import { ForgeError } from '../../errors.js';
import { readForgeOptions } from '../../config/forge-config.js';
import { loadWheelGraph } from '../../graph/wheel-graph.js';
import { wheelTarget } from '../../nx/plugin.js';
import { ContentKeys, explainChange, type KeyInputs } from '../../store/content-key.js';
import { OutputStore } from '../../store/outputs.js';
import { loadWorkspace, selectProjects, wheelProjectNames } from '../load.js';
import { makeWheelPlan } from '../wheel-plan.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("show the inputs of a variant's content key and which of them changed since its last build")
    .argument('<package>', 'package or project')
    .argument('<variant>', 'variant id, as `forge variants` lists it')
    .option('--wheel', "the project's wheel variant (the default when the project has no recipe)")
    .option('--json', 'print JSON')
    .action(async (pkg: string, variant: string, options: { json?: boolean; wheel?: boolean }) => {
      const { root, options: forge, graph } = await loadWorkspace();
      const wheel = options.wheel || (!graph.projects.has(pkg) && loadWheelGraph(root, forge).projects.has(pkg));
      const { project, key, inputs, store } = wheel ? await wheelKey(root, pkg, variant) : await condaKey(pkg, variant);
      const previous = store.readManifest(project, variant);
      const changes = previous ? (previous.key === key ? [] : explainChange(previous.inputs, inputs)) : undefined;
      // A variant never built under this id is new to the matrix (a value added or changed):
      // say how it differs from the closest variant that was built.
      const nearest = previous ? undefined : closestBuild(store, project, inputs);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ project, variant, key, inputs, previousKey: previous?.key ?? null, changes: changes ?? null, closest: nearest ?? null }, null, 2)}\n`);
        return;
      }
      const out: string[] = [`${project}:${wheel ? wheelTarget(variant) : variant}  key ${key}`, '', wheel ? 'files:' : 'recipe files:'];
      for (const [file, hash] of Object.entries(inputs.files)) out.push(`  ${file}  ${hash.slice(0, 12)}`);
      out.push('variant:');
      for (const [name, values] of Object.entries(inputs.variant)) out.push(`  ${name}: ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(', ')}`);
      out.push('upstream:');
      for (const [name, upstreamKey] of Object.entries(inputs.upstream)) out.push(`  ${name}  ${upstreamKey.slice(0, 12)}`);
      if (Object.keys(inputs.upstream).length === 0) out.push('  (none)');
      for (const [part, record] of [['source', inputs.source], ['toolchain', inputs.toolchain]] as const) {
        if (record) out.push(`${part}:`, ...Object.entries(record).map(([k, v]) => `  ${k}: ${v}`));
      }
      out.push(`engine: ${inputs.engine}`, '');
      if (!previous && nearest) out.push(`never built here; the closest build, ${nearest.variant} of ${nearest.builtAt}, differs in:`, ...nearest.changes.map((c) => `  ${c}`));
      else if (!previous) out.push('never built here: no manifest in the outputs');
      else if (changes!.length === 0) out.push(`unchanged since the build of ${previous.builtAt}`);
      else out.push(`changed since the build of ${previous.builtAt} (key ${previous.key.slice(0, 12)}):`, ...changes!.map((c) => `  ${c}`));
      process.stdout.write(`${out.join('\n')}\n`);
    });
}

interface Explained {
  readonly project: string;
  readonly key: string;
  readonly inputs: KeyInputs;
  /** Where its builds are kept. */
  readonly store: OutputStore;
}

async function condaKey(pkg: string, variant: string): Promise<Explained> {
  const { root, options: forge, graph } = await loadWorkspace();
  const [project] = selectProjects(graph, [pkg], wheelProjectNames(root, forge)) as [string];
  const task = graph.tasks.get(project)?.find((t) => t.id === variant);
  if (!task) throw new ForgeError(`${project} has no variant \`${variant}\` (known: ${(graph.tasks.get(project) ?? []).map((t) => t.id).join(', ')})`);
  const { key, inputs } = new ContentKeys(root, graph, engineVersion(locateEngine(root, forge.engine))).of(task);
  return { project, key, inputs, store: new OutputStore(join(root, forge.outputDir)) };
}

/** A wheel task's key on this machine: its toolchain is part of it, so a variant the host skips has none. */
async function wheelKey(root: string, project: string, variant: string): Promise<Explained> {
  const forge = readForgeOptions(root);
  const plan = await makeWheelPlan(root);
  const target = `${project}:${wheelTarget(variant)}`;
  const entry = plan.entries.find((e) => e.target === target);
  const projects = [...new Set(plan.entries.map((e) => e.project))].sort();
  // A recipe named with --wheel (or a typo) would otherwise read "has no variant … (known: )".
  if (!projects.includes(project)) throw new ForgeError(`unknown wheel project \`${project}\` (${projects.length ? `known: ${projects.join(', ')}` : 'this workspace has no wheel projects'})`);
  if (!entry) throw new ForgeError(`wheel project ${project} has no variant \`${variant}\` (known: ${plan.entries.filter((e) => e.project === project).map((e) => e.variant).join(', ')})`);
  const inputs = plan.inputs.get(target);
  if (!inputs) throw new ForgeError(`${target} has no key on this machine: ${entry.status}: ${entry.reason}`);
  return { project, key: entry.key, inputs, store: new OutputStore(join(root, forge.wheelsDir)) };
}

/** The build of another variant of the project whose inputs differ least from these. */
function closestBuild(store: OutputStore, project: string, inputs: KeyInputs): { variant: string; builtAt: string; changes: string[] } | undefined {
  let best: { variant: string; builtAt: string; changes: string[] } | undefined;
  for (const id of store.builtIds(project)) {
    const manifest = store.readManifest(project, id);
    if (!manifest) continue;
    const changes = explainChange(manifest.inputs, inputs);
    if (!best || changes.length < best.changes.length) best = { variant: id, builtAt: manifest.builtAt, changes };
  }
  return best;
}
