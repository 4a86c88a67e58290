import type { Command } from 'commander';
import { loadWheelGraph } from '../../graph/wheel-graph.js';
import { normalizeKey, type VariantValue } from '../../variants/keys.js';
import { loadWorkspace, selectProjects } from '../load.js';
import { printTable } from '../table.js';

/** The `forge variants --json` shape (one entry per package a recipe produces). */
export interface PackageVariants {
  /** A conda recipe's package, or a wheel project's distribution (no build string; file names are known after the build). */
  readonly kind: 'conda' | 'wheel';
  readonly project: string;
  readonly name: string;
  readonly version: string;
  readonly noarch: 'python' | 'generic' | null;
  readonly usedKeys: string[];
  readonly variants: Array<{ id: string; values: Record<string, VariantValue>; buildString: string | null; subdir: string; file: string | null }>;
}

export async function collectVariants(names: readonly string[]): Promise<PackageVariants[]> {
  const { root, options, graph } = await loadWorkspace();
  const wheels = loadWheelGraph(root, options);
  const result: PackageVariants[] = [];
  // A name may be a recipe project, a package it produces, a wheel project, or a folder with both.
  const wheelProjects = names.length ? names.filter((name) => wheels.projects.has(name)) : [...wheels.projects.keys()].sort();
  const condaNames = names.filter((name) => !wheels.projects.has(name) || graph.projects.has(name));
  const condaProjects = names.length && condaNames.length === 0 ? [] : selectProjects(graph, condaNames, [...wheels.projects.keys()]);
  for (const project of condaProjects) {
    const byPackage = new Map<string, PackageVariants>();
    for (const task of graph.tasks.get(project) ?? []) {
      for (const output of task.outputs) {
        let entry = byPackage.get(output.name);
        if (!entry) {
          entry = { kind: 'conda', project, name: output.name, version: output.version, noarch: output.noarch, usedKeys: [], variants: [] };
          byPackage.set(output.name, entry);
        }
        for (const key of Object.keys(output.variant)) {
          if (!entry.usedKeys.includes(key) && key !== normalizeKey(output.name)) entry.usedKeys.push(key);
        }
        entry.variants.push({ id: task.id, values: { ...task.values }, buildString: output.buildString, subdir: output.subdir, file: output.file });
      }
    }
    for (const entry of byPackage.values()) {
      entry.usedKeys.sort();
      result.push(entry);
    }
  }
  for (const project of wheelProjects) {
    const { spec } = wheels.projects.get(project)!;
    result.push({
      kind: 'wheel',
      project,
      name: spec.name,
      version: spec.version,
      noarch: null,
      usedKeys: [...spec.variant.keys].sort(),
      variants: (wheels.tasks.get(project) ?? []).map((task) => ({ id: task.id, values: { ...task.values }, buildString: null, subdir: options.targetPlatform, file: null })),
    });
  }
  return result;
}

export function registerVariants(program: Command): void {
  program
    .command('variants')
    .description('list the variants each recipe and wheel project expands to, with build strings and file names')
    .argument('[packages...]', 'packages or projects to show (default: all)')
    .option('--json', 'print JSON for scripts')
    .action(async (packages: string[], options: { json?: boolean }) => {
      const packagesVariants = await collectVariants(packages);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(packagesVariants, null, 2)}\n`);
        return;
      }
      printTable(
        ['kind', 'package', 'variant', 'build string', 'file'],
        packagesVariants.flatMap((p) => p.variants.map((v) => [p.kind, `${p.name} ${p.version}`, v.id, v.buildString ?? '', v.file ?? '(a wheel: named when built)'])),
      );
      const total = packagesVariants.reduce((sum, p) => sum + p.variants.length, 0);
      process.stdout.write(`\n${packagesVariants.length} package(s), ${total} variant(s)\n`);
    });
}
