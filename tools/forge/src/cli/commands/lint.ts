import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readVariantConfig } from '../../graph/variant-config-file.js';
import { lintRecipe } from '../../lint/lint.js';
import { parseRecipe } from '../../recipe/recipe.js';
import { parseYamlText } from '../../recipe/yaml-file.js';
import { loadWorkspace, selectProjects, wheelProjectNames } from '../load.js';

export function registerLint(program: Command): void {
  program
    .command('lint')
    .description('check recipes against the conda-forge conventions wv-forge follows')
    .argument('[packages...]', 'packages or projects to check (default: all)')
    .option('--json', 'print findings as JSON')
    .action(async (packages: string[], options: { json?: boolean }) => {
      const { root, options: forge, graph } = await loadWorkspace();
      const matrix = { config: readVariantConfig(root, forge.variantConfig).config, targetPlatform: forge.targetPlatform };
      const findings = selectProjects(graph, packages, wheelProjectNames(root, forge)).flatMap((name) => {
        const file = graph.projects.get(name)!.recipeFile;
        return lintRecipe(parseRecipe(parseYamlText(file, readFileSync(join(root, file), 'utf8'))), matrix);
      });
      if (options.json) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
      else {
        for (const f of findings) process.stdout.write(`${f.file}${f.line ? `:${f.line}` : ''}: ${f.message} [${f.rule}]\n`);
        process.stdout.write(findings.length ? `\n${findings.length} finding(s)\n` : 'no findings\n');
      }
      if (findings.length) process.exitCode = 1;
    });
}
