import type { Command } from 'commander';
import { normalizeKey, type VariantValue } from '../../variants/keys.js';
import { loadWorkspace, selectProjects } from '../load.js';
import { printTable } from '../table.js';

/** The `forge variants --json` shape (one entry per package a recipe produces). */
export interface PackageVariants {
  readonly name: string;
  readonly version: string;
  readonly noarch: 'python' | 'generic' | null;
  readonly usedKeys: string[];
  readonly variants: Array<{ id: string; values: Record<string, VariantValue>; buildString: string; subdir: string; file: string }>;
}

export async function collectVariants(names: readonly string[]): Promise<PackageVariants[]> {
  const { graph } = await loadWorkspace();
  const result: PackageVariants[] = [];
  for (const project of selectProjects(graph, names)) {
    const byPackage = new Map<string, PackageVariants>();
    for (const task of graph.tasks.get(project) ?? []) {
      for (const output of task.outputs) {
        let entry = byPackage.get(output.name);
        if (!entry) {
          entry = { name: output.name, version: output.version, noarch: output.noarch, usedKeys: [], variants: [] };
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
  return result;
}

export function registerVariants(program: Command): void {
  program
    .command('variants')
    .description('list the variants each recipe expands to, with build strings and file names')
    .argument('[packages...]', 'packages or projects to show (default: all)')
    .option('--json', 'print JSON for scripts')
    .action(async (packages: string[], options: { json?: boolean }) => {
      const packagesVariants = await collectVariants(packages);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(packagesVariants, null, 2)}\n`);
        return;
      }
      printTable(
        ['package', 'variant', 'build string', 'file'],
        packagesVariants.flatMap((p) => p.variants.map((v) => [`${p.name} ${p.version}`, v.id, v.buildString, v.file])),
      );
      const total = packagesVariants.reduce((sum, p) => sum + p.variants.length, 0);
      process.stdout.write(`\n${packagesVariants.length} package(s), ${total} variant(s)\n`);
    });
}
