import type { Command } from 'commander';
import { join } from 'node:path';
import { engineVersion, locateEngine } from '../../engine/engine.js';
import { ForgeError } from '../../errors.js';
import { ContentKeys, explainChange } from '../../store/content-key.js';
import { OutputStore } from '../../store/outputs.js';
import { loadWorkspace, selectProjects } from '../load.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("show the inputs of a variant's content key and which of them changed since its last build")
    .argument('<package>', 'package or project')
    .argument('<variant>', 'variant id, as `forge variants` lists it')
    .option('--json', 'print JSON')
    .action(async (pkg: string, variant: string, options: { json?: boolean }) => {
      const { root, options: forge, graph } = await loadWorkspace();
      const [project] = selectProjects(graph, [pkg]) as [string];
      const task = graph.tasks.get(project)?.find((t) => t.id === variant);
      if (!task) throw new ForgeError(`${project} has no variant \`${variant}\` (known: ${(graph.tasks.get(project) ?? []).map((t) => t.id).join(', ')})`);
      const { key, inputs } = new ContentKeys(root, graph, engineVersion(locateEngine(root, forge.engine))).of(task);
      const previous = new OutputStore(join(root, forge.outputDir)).readManifest(project, variant);
      const changes = previous ? (previous.key === key ? [] : explainChange(previous.inputs, inputs)) : undefined;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ project, variant, key, inputs, previousKey: previous?.key ?? null, changes: changes ?? null }, null, 2)}\n`);
        return;
      }
      const out: string[] = [`${project}:${variant}  key ${key}`, '', 'recipe files:'];
      for (const [file, hash] of Object.entries(inputs.files)) out.push(`  ${file}  ${hash.slice(0, 12)}`);
      out.push('variant:');
      for (const [name, values] of Object.entries(inputs.variant)) out.push(`  ${name}: ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(', ')}`);
      out.push('upstream:');
      for (const [name, upstreamKey] of Object.entries(inputs.upstream)) out.push(`  ${name}  ${upstreamKey.slice(0, 12)}`);
      if (Object.keys(inputs.upstream).length === 0) out.push('  (none)');
      out.push(`engine: ${inputs.engine}`, '');
      if (!previous) out.push('never built here: no manifest in the outputs');
      else if (changes!.length === 0) out.push(`unchanged since the build of ${previous.builtAt}`);
      else out.push(`changed since the build of ${previous.builtAt} (key ${previous.key.slice(0, 12)}):`, ...changes!.map((c) => `  ${c}`));
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
