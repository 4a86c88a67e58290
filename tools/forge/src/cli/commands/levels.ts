import type { Command } from 'commander';
import { levels } from '../../graph/recipe-graph.js';
import { loadWorkspace } from '../load.js';

export function registerLevels(program: Command): void {
  program
    .command('levels')
    .description('print the packages in dependency levels: each level needs only earlier ones')
    .option('--json', 'print an array of arrays of package names')
    .action(async (options: { json?: boolean }) => {
      const { graph } = await loadWorkspace();
      const result = levels(graph);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      result.forEach((level, index) => {
        const described = level.map((name) => {
          const deps = [...(graph.dependencies.get(name) ?? [])].sort();
          const count = graph.tasks.get(name)?.length ?? 0;
          return `${name} (${count} variant${count === 1 ? '' : 's'}${deps.length ? `; needs ${deps.join(', ')}` : ''})`;
        });
        process.stdout.write(`Level ${index}: ${described.join(', ')}\n`);
      });
    });
}
