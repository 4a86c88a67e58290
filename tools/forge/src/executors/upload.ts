import type { ExecutorContext } from '@nx/devkit';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { execa } from 'execa';
import { EMBEDDED_FRONT, type Engine } from '../engine/engine.js';
import { describeError, ForgeError } from '../errors.js';
import { findOnChannels } from '../store/channels.js';
import { OutputStore } from '../store/outputs.js';
import { currentPublishRun, writePublishRecords, type PublishRecord } from '../store/publish-records.js';
import { checkFreshness, frontPython, staleMessage } from '../store/stale-guard.js';
import { parseUploadChannel, requireUploadCredentials, type UploadChannel } from '../store/upload-channel.js';
import { startRun } from './context.js';

/**
 * Publishes every variant of one package to the upload channel. It runs after
 * the package's own build and after its upstream packages' uploads (Nx
 * dependsOn), so a package never appears before what it needs. A file the
 * channel already has is skipped, unless it was built from another recipe:
 * then the stale guard refuses and names the fix.
 */
export default async function uploadExecutor(_options: object, context: ExecutorContext): Promise<{ success: boolean }> {
  const project = context.projectName!;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const records: PublishRecord[] = [];
  const record = (entry: Omit<PublishRecord, 'project' | 'at'>) => records.push({ project, at: new Date().toISOString(), ...entry });
  let outputDir: string | undefined;
  let current: { variant: string; file: string } | undefined;
  try {
    const { root, forge, graph, engine, keys, store } = await startRun(context.root);
    outputDir = join(root, forge.outputDir);
    const target = parseUploadChannel(forge.uploadChannel, root);
    requireUploadCredentials(target);
    const python = frontPython(root);
    let failed = false;
    for (const task of graph.tasks.get(project) ?? []) {
      const { key, inputs } = keys.of(task);
      const manifest = store.valid(project, task.id, key);
      if (!manifest) throw new ForgeError(`${project}:${task.id} is not built with its current inputs; run its build first`);
      for (const output of task.outputs) {
        const label = `${project}:${task.id}`;
        current = { variant: task.id, file: output.file };
        let present = (await findOnChannels(output.file, [target.url])).found;
        if (!present) {
          if (!manifest.files.some((f) => f.file === output.file)) {
            throw new ForgeError(`${label}: ${output.file} was found on ${manifest.channel ?? 'a channel'} and is not here to upload`);
          }
          const started = Date.now();
          // Another publish may have put the name there since the index was read: then it is checked like any file on the channel.
          present = (await upload(target, join(store.taskDir(project, task.id), output.file), output.file, engine, python)) === 'exists';
          if (!present) {
            log(`${label}: uploaded ${output.file} to ${target.url}`);
            record({ variant: task.id, file: output.file, action: 'uploaded', seconds: (Date.now() - started) / 1000 });
          }
        }
        if (present) {
          const freshness = await checkFreshness(python, target.url, output.file, inputs.files);
          if (freshness.stale) {
            log(`error: ${staleMessage(project, task.id, output.file, target.url, freshness.changed)}`);
            record({ variant: task.id, file: output.file, action: 'refused', reason: `stale: ${freshness.changed.join(', ')}` });
            failed = true;
          } else {
            log(`${label}: ${output.file} is already on ${target.url}`);
            record({ variant: task.id, file: output.file, action: 'on-channel' });
          }
        }
        current = undefined;
      }
    }
    return { success: !failed };
  } catch (error) {
    const reason = describeError(error);
    log(`${project}: upload error: ${reason}`);
    if (current) record({ ...current, action: 'failed', reason });
    return { success: false };
  } finally {
    // Also after a failure: the files uploaded before it are on the channel, and the summary must say so.
    const run = currentPublishRun();
    if (outputDir && run) writePublishRecords(outputDir, run, project, records);
  }
}

/**
 * The temporary files of a copy or an index (`.<file>.conda.<pid>`,
 * `.repodata.json.<pid>`) are only written under the channel lock, so while
 * we hold it any left are a killed publisher's, which nothing else removes.
 */
function removeAbandoned(folder: string): void {
  for (const name of readdirSync(folder)) if (/^\.(.+\.conda|repodata\.json)\.\d+$/.test(name)) rmSync(join(folder, name), { force: true });
}

/** Puts one file on the channel; `exists` when a folder channel already has that name (it is never replaced). */
async function upload(target: UploadChannel, path: string, file: string, engine: Engine, python: string): Promise<'uploaded' | 'exists'> {
  if (target.kind === 'prefix') {
    // The key stays in the environment (PREFIX_API_KEY), out of process listings.
    const args = ['upload', 'prefix', '--url', target.server, '--channel', target.channel, path];
    const result = await execa(engine.command, [...engine.prefix, ...args], { reject: false });
    if (result.failed) throw new ForgeError(`uploading ${file} failed: ${(result.stderr || result.shortMessage || 'unknown error').split('\n').pop()}`);
    return 'uploaded';
  }
  // A folder channel: copy in (through a rename) and re-index, one writer at a time.
  const subdir = posix.dirname(file);
  const folder = new OutputStore(target.dir);
  return folder.lock('channel', 'index', async () => {
    mkdirSync(join(target.dir, subdir), { recursive: true });
    removeAbandoned(join(target.dir, subdir));
    // The index was read before the lock: a concurrent publish (another workspace on
    // the same folder) may have put this name here since, or one killed before its
    // re-index. The name is kept, and indexed, whatever we hold.
    const exists = existsSync(join(target.dir, file));
    if (!exists) {
      const temporary = join(target.dir, subdir, `.${posix.basename(file)}.${process.pid}`);
      copyFileSync(path, temporary);
      renameSync(temporary, join(target.dir, file));
    }
    await execa(python, [EMBEDDED_FRONT, 'index', target.dir]);
    return exists ? 'exists' : 'uploaded';
  });
}
