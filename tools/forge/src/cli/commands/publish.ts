import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { engineVersion, locateEngine } from '../../engine/engine.js';
import { ForgeError } from '../../errors.js';
import type { RecipeGraph } from '../../graph/recipe-graph.js';
import { findOnChannels } from '../../store/channels.js';
import { ContentKeys } from '../../store/content-key.js';
import { OutputStore } from '../../store/outputs.js';
import { writeFileAtomic } from '../../json-file.js';
import { PUBLISH_RUN_ENV, prunePublishRuns, readPublishRecords, startPublishRun, summaryFile } from '../../store/publish-records.js';
import { checkFreshness, frontPython } from '../../store/stale-guard.js';
import { parseUploadChannel, requireUploadCredentials } from '../../store/upload-channel.js';
import { loadWorkspace, selectProjects, wheelProjectNames } from '../load.js';
import { nxBin } from '../workspace-root.js';
import { printTable } from '../table.js';

/** One line of the publish summary: a package file of one variant. */
export interface SummaryRow {
  readonly package: string;
  readonly variant: string;
  readonly file: string;
  /** What the build step did: built, cached, channel (found there), failed. */
  readonly build: 'built' | 'cached' | 'channel' | 'failed';
  /** What the upload step did: uploaded, on-channel, refused, failed, not-run. */
  readonly upload: 'uploaded' | 'on-channel' | 'refused' | 'failed' | 'not-run';
  readonly bytes: number | null;
  readonly buildSeconds: number | null;
  readonly uploadSeconds: number | null;
  readonly note?: string;
}

/** The named packages and everything they need: publishing one publishes its upstream first. */
function withUpstream(graph: RecipeGraph, names: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of graph.dependencies.get(name) ?? []) visit(dep);
  };
  for (const name of names) visit(name);
  return [...seen].sort();
}

/** One file of a dry run: what publishing would do with it (`would`: the table's words). */
interface DryRunRow {
  readonly task: string;
  readonly file: string;
  readonly action: 'upload' | 'skip' | 'refuse';
  readonly would: string;
}

async function dryRun(packages: string[], json: boolean): Promise<void> {
  const { root, options, graph } = await loadWorkspace();
  const target = parseUploadChannel(options.uploadChannel, root);
  const keys = new ContentKeys(root, graph, engineVersion(locateEngine(root, options.engine)));
  const store = new OutputStore(join(root, options.outputDir));
  const rows: DryRunRow[] = [];
  for (const project of withUpstream(graph, selectProjects(graph, packages, wheelProjectNames(root, options)))) {
    for (const task of graph.tasks.get(project) ?? []) {
      const { key, inputs } = keys.of(task);
      const built = store.valid(project, task.id, key);
      for (const output of task.outputs) {
        const present = await findOnChannels(output.file, [target.url]);
        const row = { task: `${project}:${task.id}`, file: output.file };
        if (present.found) {
          const freshness = await checkFreshness(frontPython(root), target.url, output.file, inputs.files);
          rows.push(freshness.stale
            ? { ...row, action: 'refuse', would: `refuse: already there from another recipe (${freshness.changed.join(', ')}); bump build.number` }
            : { ...row, action: 'skip', would: 'skip: already there' });
        } else {
          rows.push({ ...row, action: 'upload', would: `upload${built ? '' : ' after building'}${present.problem ? ` (could not check: ${present.problem})` : ''}` });
        }
      }
    }
  }
  // The publish itself would fail on refused files: a dry run in CI must say so by its exit code too.
  const refused = rows.filter((row) => row.action === 'refuse').length;
  if (refused) process.exitCode = 1;
  if (json) {
    process.stdout.write(`${JSON.stringify({ channel: target.url, files: rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`dry run: nothing is built or uploaded. Upload channel: ${target.url}\n\n`);
  printTable(['variant', 'file', 'would'], rows.map((row) => [row.task, row.file, row.would]));
  if (refused) process.stdout.write(`\n${refused} file(s) would be refused: bump build.number in their recipes\n`);
}

function summarize(graph: RecipeGraph, outputDir: string, run: string, projects: readonly string[], startedAt: number, keys: ContentKeys): SummaryRow[] {
  const store = new OutputStore(outputDir);
  const rows: SummaryRow[] = [];
  for (const project of projects) {
    const records = readPublishRecords(outputDir, run, project);
    for (const task of graph.tasks.get(project) ?? []) {
      const manifest = store.valid(project, task.id, keys.of(task).key);
      for (const output of task.outputs) {
        const entry = manifest?.files.find((f) => f.file === output.file);
        const record = records.find((r) => r.file === output.file);
        const build: SummaryRow['build'] = !manifest ? 'failed' : manifest.channel ? 'channel' : Date.parse(manifest.builtAt) >= startedAt ? 'built' : 'cached';
        rows.push({
          package: project,
          variant: task.id,
          file: output.file,
          build,
          upload: record?.action ?? 'not-run',
          bytes: entry?.size ?? null,
          buildSeconds: build === 'built' ? manifest!.seconds : null,
          uploadSeconds: record?.seconds ?? null,
          ...(record?.reason ? { note: record.reason } : {}),
        });
      }
    }
  }
  return rows;
}

function markdown(rows: readonly SummaryRow[], channel: string): string {
  const lines = [`## wv-forge publish to ${channel}`, '', '| package | variant | file | build | upload | size | build time |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.package} | ${r.variant} | \`${r.file}\` | ${r.build} | ${r.upload}${r.note ? ` (${r.note})` : ''} | ${r.bytes === null ? '' : `${(r.bytes / 1024).toFixed(1)} KiB`} | ${r.buildSeconds === null ? '' : `${r.buildSeconds} s`} |`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description('build what is needed and upload to the upload channel in dependency order; writes a summary')
    .argument('[packages...]', 'packages to publish, with everything they need (default: all)')
    .option('--dry-run', 'list exactly what would be uploaded where, touching nothing (exit 1 if a file would be refused)')
    .option('--json', 'with --dry-run: print the list as JSON for scripts')
    .option('--parallel <n>', 'tasks to run at once (passed to nx)', '2')
    .action(async (packages: string[], options: { dryRun?: boolean; json?: boolean; parallel: string }) => {
      if (options.dryRun) return dryRun(packages, options.json ?? false);
      if (options.json) throw new ForgeError('--json lists a dry run: use it with --dry-run (the publish writes output/publish-summary.json)');
      const { root, options: forge, graph } = await loadWorkspace();
      const target = parseUploadChannel(forge.uploadChannel, root);
      requireUploadCredentials(target);
      const selected = selectProjects(graph, packages, wheelProjectNames(root, forge));
      const startedAt = Date.now();
      const outDir = join(root, forge.outputDir);
      const run = startPublishRun(outDir, startedAt);
      const nx = nxBin(root);
      const args = ['run-many', '-t', 'upload', `--parallel=${options.parallel}`, ...(packages.length ? ['--projects', selected.join(',')] : [])];
      const result = spawnSync(process.execPath, [nx, ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, [PUBLISH_RUN_ENV]: run } });
      const keys = new ContentKeys(root, graph, engineVersion(locateEngine(root, forge.engine)));
      const rows = summarize(graph, outDir, run, withUpstream(graph, selected), startedAt, keys);
      const json = `${JSON.stringify({ run, channel: target.url, rows }, null, 2)}\n`;
      const md = markdown(rows, target.url);
      // This run's own summary, then the workspace's latest (a publish running beside this one may replace that, never corrupt it).
      writeFileAtomic(summaryFile(outDir, run, 'json'), json);
      writeFileAtomic(summaryFile(outDir, run, 'md'), md);
      writeFileAtomic(join(outDir, 'publish-summary.json'), json);
      writeFileAtomic(join(outDir, 'publish-summary.md'), md);
      prunePublishRuns(outDir, run);
      process.stdout.write('\n');
      printTable(
        ['variant', 'file', 'build', 'upload', 'size'],
        rows.map((r) => [`${r.package}:${r.variant}`, r.file, r.build, r.upload, r.bytes === null ? '' : `${(r.bytes / 1024).toFixed(1)} KiB`]),
      );
      process.stdout.write(`\nsummary: ${forge.outputDir}/publish-summary.json and .md (this run's own: ${relative(root, summaryFile(outDir, run, 'json'))} and .md)\n`);
      if (result.status !== 0) process.exitCode = result.status ?? 1;
    });
}
