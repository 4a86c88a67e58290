import type { ExecutorContext } from '@nx/devkit';
import { join } from 'node:path';
import { describeError, ForgeError, isForgeError } from '../errors.js';
import { explainChange } from '../store/content-key.js';
import { indexDir, publishWheels } from '../store/wheel-index.js';
import { findPublished, writePublished, type PublishedWheels } from '../store/wheel-records.js';
import { startWheelRun } from './context.js';
import { requireWheelIndex } from './run-preflight.js';
import { assessWheelTask, indexFlavor, TASK_INDEX } from './wheel-build.js';

/** Folder of the wheel index that holds the variant-labelled wheels and their variants.json. */
export const VARIANTS_INDEX = 'variants';

/**
 * Publishes every built variant of a wheel project to the wheel index: the
 * installable wheel (PyTorch-style local version) into the index of its CUDA
 * version, the labelled wheel into `variants/`, then the record of what was
 * published. Runs after the project's wheel tasks and its upstream uploads.
 * Never overwrites: a variant published from other inputs under the same
 * version and build number is refused.
 */
export default async function uploadWheelsExecutor(_options: object, context: ExecutorContext): Promise<{ success: boolean }> {
  const project = context.projectName!;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const run = startWheelRun(context.root);
    const { root, forge, graph, store } = run;
    const wheelProject = graph.projects.get(project);
    if (!wheelProject) throw new ForgeError(`${project} is not a wheel project`);
    const wheelIndex = requireWheelIndex(forge);
    const index = indexDir(wheelIndex, root);
    const { spec } = wheelProject;
    let failed = false;
    for (const task of graph.tasks.get(project) ?? []) {
      const label = `${project}:${task.id}`;
      const manifest = store.readManifest(project, task.id);
      if (!manifest) {
        log(`${label}: no wheel built here (skipped on this machine, or not built): nothing to publish`);
        continue;
      }
      // A build whose files changed since is neither publishable nor "not built": leaving it out would end
      // the upload green with the variant missing from the index.
      const damaged = store.damagedFiles(project, task.id, manifest);
      if (damaged.length) {
        log(`error: ${label}: files of the build in ${forge.wheelsDir}/${project}/${task.id} were removed or changed since it was built (${damaged.join(', ')}); run its wheel task first`);
        failed = true;
        continue;
      }
      // The wheelhouse may hold a build of earlier inputs (this upload run alone, or a variant
      // this machine now skips): publishing it would put old code under today's version.
      const upstream = Object.fromEntries(task.needs.map((n) => [`${n.project}/${n.id}`, store.readManifest(n.project, n.id)?.key ?? '']));
      const current = await assessWheelTask(run, wheelProject, task, upstream, log);
      if (current.status === 'skipped') {
        log(`${label}: skipped on this machine (${current.reason}): the wheel built here earlier is not published`);
        continue;
      }
      if (current.key !== manifest.key) {
        log(`error: ${label}: the wheel in ${forge.wheelsDir}/${project}/${task.id} is not built from its current inputs (${explainChange(manifest.inputs, current.inputs).join('; ')}); run its wheel task first`);
        failed = true;
        continue;
      }
      const existing = await findPublished(wheelIndex, root, project, task.id);
      if (existing.found && existing.record.key === manifest.key) {
        log(`${label}: already in ${index}`);
        continue;
      }
      if (existing.found && existing.record.version === spec.version && existing.record.buildNumber === (spec.buildNumber ?? null)) {
        log(`error: ${label}: ${index} already has ${spec.name} ${spec.version} for this variant, built from other inputs (${explainChange(existing.record.inputs, manifest.inputs).join('; ')}); bump build_number (or version) in ${wheelProject.file} to publish the change`);
        failed = true;
        continue;
      }
      const wheels = manifest.files.filter((f) => f.file.endsWith('.whl'));
      const installable = wheels.filter((f) => f.file.startsWith(`${TASK_INDEX}/`));
      const labelled = wheels.filter((f) => !f.file.startsWith(`${TASK_INDEX}/`));
      const files: Array<PublishedWheels['files'][number]> = [];
      // The variant wheels first: variantlib refuses a release whose variants declare other values (a value
      // added to the matrix since the others were labelled) before anything is written, and then the
      // per-CUDA folder must not get a wheel that no record describes.
      for (const [folder, group] of [[VARIANTS_INDEX, labelled], [indexFlavor(task.values), installable]] as const) {
        if (group.length === 0) continue;
        const result = await publishWheels(root, join(index, folder), group.map((f) => join(store.taskDir(project, task.id), f.file))).catch((error: unknown) => {
          if (folder === VARIANTS_INDEX && isForgeError(error) && error.message.includes('must declare the same providers')) {
            throw new ForgeError(`${error.message.replace(/: label them all with the same --declare values$/, '')}: the release's published variants were labelled for another matrix; bump build_number in ${wheelProject.file} to build and publish every variant again`);
          }
          throw error;
        });
        for (const published of result.files) {
          const local = group.find((f) => f.file.split('/').pop() === published.file)!;
          files.push({ file: local.file, index: `${folder}/${published.project}/${published.file}`, sha256: local.sha256 });
          log(`${label}: ${published.action === 'present' ? 'already there' : 'published'} ${folder}/${published.project}/${published.file}`);
        }
      }
      writePublished(index, { project, id: task.id, key: manifest.key, inputs: manifest.inputs, version: spec.version, buildNumber: spec.buildNumber ?? null, files, at: new Date().toISOString() });
    }
    return { success: !failed };
  } catch (error) {
    log(`${project}: upload-wheels error: ${describeError(error)}`);
    return { success: false };
  }
}
