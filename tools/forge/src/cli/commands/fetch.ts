import type { Command } from 'commander';
import { ForgeError } from '../../errors.js';
import { loadWheelGraph } from '../../graph/wheel-graph.js';
import { SourceCache } from '../../store/source-cache.js';
import { resolveWheelSource, wheelSourceTree } from '../../store/wheel-keys.js';
import { findWorkspaceRoot } from '../workspace-root.js';
import { readForgeOptions } from '../../config/forge-config.js';
import { printTable } from '../table.js';

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('fetch the git sources of wheel projects into the source cache (FORGE_SOURCE_CACHE, default .forge/sources), to build later without network')
    .argument('[projects...]', 'wheel projects (default: all)')
    .option('--json', 'print JSON')
    .action(async (projects: string[], options: { json?: boolean }) => {
      const root = findWorkspaceRoot();
      const graph = loadWheelGraph(root, readForgeOptions(root));
      const sources = SourceCache.forWorkspace(root);
      const names = projects.length ? projects : [...graph.projects.keys()].sort();
      const rows: Array<{ project: string; url: string; commit: string; tree: string }> = [];
      for (const name of names) {
        const project = graph.projects.get(name);
        if (!project) {
          const known = [...graph.projects.keys()].sort();
          throw new ForgeError(`unknown wheel project \`${name}\` (${known.length ? `known: ${known.join(', ')}` : 'this workspace has no wheel projects'})`);
        }
        if (project.spec.source.kind !== 'git') continue;
        const { commit } = (await resolveWheelSource(project, sources))!;
        const tree = await wheelSourceTree(project, sources, commit!, (line) => process.stderr.write(`${name}: ${line}\n`));
        rows.push({ project: name, url: project.spec.source.url, commit: commit!, tree });
      }
      if (options.json) process.stdout.write(`${JSON.stringify({ cache: sources.dir, sources: rows }, null, 2)}\n`);
      else {
        printTable(['project', 'source', 'commit', 'tree'], rows.map((r) => [r.project, r.url, r.commit.slice(0, 12), r.tree]));
        process.stdout.write(`\n${rows.length} git source(s) in ${sources.dir}\n`);
      }
    });
}
