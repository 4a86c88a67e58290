import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { BuildEnvironment } from '../engine/build-environment.js';
import { COMPILER_VARIABLES, openCompileCache, useCompileCache, type CacheUse } from '../engine/compile-cache.js';
import { withCompileProgress } from '../engine/compile-progress.js';
import { createEnvironment } from '../engine/environments.js';
import { cudaLibraryCpath, findOnPath, type CudaInfo } from '../engine/toolchain.js';
import { dockerToolchain, ensureImage, hostCaBundle, IMAGE_PATHS, imageTools, type ImageBuild } from '../engine/docker.js';
import { checkToolchain, frontendDir, ninjaFallback, toolsNinja, type ToolchainOk } from '../engine/wheel-env.js';
import { WheelTest } from '../engine/wheel-test.js';
import { labelStep, localVersionStep, parseRequirements, pytorchLocalVersion, requirementAdmits, retagStep, runWheelSteps, WHEEL_TOOL, type LabelledWheel, type WheelRef, type WheelStep } from '../engine/wheel-tool.js';
import { ForgeError, isForgeError } from '../errors.js';
import type { WheelProject, WheelTask } from '../graph/wheel-graph.js';
import { WHEEL_ENVIRONMENT_ENV } from '../nx/plugin.js';
import { normalizeDistName, requirementName, type WheelEnvironmentKind } from '../recipe/wheel-spec.js';
import { explainChange, UNCOPIED_SOURCE_FILES } from '../store/content-key.js';
import { BUILD_TREES, BuildTrees, buildTreesOff, INSTALLED_DISTRIBUTIONS_DIGEST, treeIdentity, type Restored } from '../store/build-trees.js';
import { KEY_FILE, MANIFEST, sha256File, taskName, type Manifest } from '../store/outputs.js';
import { findPublished, wheelIndexLocation, type PublishedWheels } from '../store/wheel-records.js';
import { resolveWheelSource, wheelKey, wheelSourceTree, type ResolvedWheelSource } from '../store/wheel-keys.js';
import { restoreShared, shareBuilt } from '../store/shared-store.js';
import { defaultCudaArchList, torchIncompatibility } from '../variants/torch-cuda.js';
import { renderWheel, type RenderedWheel } from '../variants/wheel-render.js';
import type { WheelRun } from './context.js';

const exec = promisify(execFile);

export type WheelOutcome = 'built' | 'cached' | 'published' | 'skipped' | 'failed';

/** Folder of the task's installable wheel (local version or plain) as a PEP 503 index: `index/<cu130|cpu>/`. */
export const TASK_INDEX = 'index';

/** `cu130` for a CUDA variant, `cpu` without one: the per-CUDA index a wheel goes to. */
export function indexFlavor(values: WheelTask['values']): string {
  const cuda = values.cuda_version;
  return cuda === undefined ? 'cpu' : `cu${String(cuda).replace('.', '')}`;
}

/** The environment kind of a project, unless FORGE_WHEEL_ENVIRONMENT overrides every project's. */
export function environmentKind(project: WheelProject): WheelEnvironmentKind {
  const override = process.env[WHEEL_ENVIRONMENT_ENV];
  if (override === undefined || override === '') return project.spec.build.environment;
  if (override !== 'host' && override !== 'venv' && override !== 'docker') throw new ForgeError(`${WHEEL_ENVIRONMENT_ENV}=${override}: must be host, venv or docker`);
  return override;
}

/** Build requirements that are not wheel projects of this workspace (those are upstream wheels). */
export function externalRequirements(run: WheelRun, project: WheelProject, rendered: RenderedWheel): string[] {
  const upstream = new Set([...(run.graph.dependencies.get(project.name) ?? [])].map((name) => normalizeDistName(run.graph.projects.get(name)!.spec.name)));
  return rendered.requirements.filter((spec) => !upstream.has(requirementName(spec) ?? ''));
}

/**
 * Builds one wheel variant, unless the wheelhouse has its content key, or the
 * wheel index has it published; `host` variants the machine does not match are
 * skipped with the reason. The build goes to a staging folder that replaces the
 * task's folder by one rename, so a failed or interrupted build leaves nothing.
 */
export async function buildWheelTask(run: WheelRun, projectName: string, id: string, log: (line: string) => void): Promise<WheelOutcome> {
  const { root, forge, store } = run;
  const { project, task } = findWheelTask(run, projectName, id);
  const label = `${projectName}:${id}`;
  const { spec } = project;

  const upstream: Record<string, string> = {};
  const upstreamWheels: string[] = [];
  for (const need of task.needs) {
    const manifest = store.readManifest(need.project, need.id);
    const installable = manifest?.files.find((f) => f.file.startsWith(`${TASK_INDEX}/`) && f.file.endsWith('.whl'));
    if (!manifest || !installable) {
      log(`${label}: skipped: upstream ${need.project}:${need.id} has no wheel here (it was skipped or not built)`);
      return 'skipped';
    }
    upstream[`${need.project}/${need.id}`] = manifest.key;
    upstreamWheels.push(join(store.taskDir(need.project, need.id), installable.file));
  }
  const assessed = await assessWheelTask(run, project, task, upstream, log);
  if (assessed.status === 'skipped') {
    log(`${label}: skipped: ${assessed.reason}`);
    return 'skipped';
  }
  const { key, inputs } = assessed;

  store.sweep();
  return store.lock(projectName, id, async () => {
    if (store.valid(projectName, id, key)) {
      log(`${label}: cached in ${posix.join(forge.wheelsDir, projectName, id)} (key ${key.slice(0, 12)})`);
      return 'cached';
    }
    if (await restoreShared(run.shared, 'wheel', store, projectName, id, key, log)) return 'cached';
    const staged = store.stagingDir(projectName, id);
    try {
      if (forge.wheelIndex) {
        const published = await findPublished(forge.wheelIndex, root, projectName, id);
        if (published.found && published.record.key === key) {
          await copyPublished(forge.wheelIndex, root, published.record.files, staged);
          finish(staged, { project: projectName, id, key, inputs, files: listFiles(staged), builtAt: new Date().toISOString(), seconds: 0, channel: published.where });
          store.publish(staged, projectName, id);
          log(`${label}: already published in ${published.where}, not building`);
          return 'published';
        }
        if (published.found && published.record.version === spec.version && published.record.buildNumber === (spec.buildNumber ?? null)) {
          const changed = explainChange(published.record.inputs, inputs);
          log(`error: ${label}: ${published.where} already has ${spec.name} ${spec.version}${spec.buildNumber === undefined ? '' : ` build ${spec.buildNumber}`} for this variant, built from other inputs (${changed.join('; ')}); bump build_number (or version) in ${project.file} to publish the change`);
          return 'failed';
        }
        if (!published.found && published.problem) log(`${label}: could not check the wheel index (${published.problem})`);
      }
      const outcome = await buildInto(run, project, task, { ...assessed, staged, upstreamWheels }, log);
      if (outcome === 'built') await shareBuilt(run.shared, 'wheel', store, projectName, id, key, log);
      return outcome;
    } catch (error) {
      // A patch that does not apply, a wheel of another name or version: failed builds too, for `forge plan`.
      if (isForgeError(error)) store.recordFailure(projectName, id, key, [error.format()]);
      throw error;
    } finally {
      store.discard(staged);
    }
  }, () => log(`${label}: waiting for another build of the same variant to finish`));
}

/** A wheel task ready to build here: its key, and what the build needs to know. */
export interface ReadyWheelTask {
  readonly status: 'ready';
  readonly key: string;
  readonly inputs: Manifest['inputs'];
  readonly rendered: RenderedWheel;
  readonly requirements: readonly string[];
  readonly kind: WheelEnvironmentKind;
  readonly check: ToolchainOk;
  /** `docker`: the variant's image. */
  readonly image?: ImageBuild;
  readonly frontend: string;
  readonly source: ResolvedWheelSource;
}

export type WheelAssessment = ReadyWheelTask | { readonly status: 'skipped'; readonly reason: string };

export function findWheelTask(run: WheelRun, projectName: string, id: string): { project: WheelProject; task: WheelTask } {
  const project = run.graph.projects.get(projectName);
  if (!project) throw new ForgeError(`${projectName} is not a wheel project (no ${run.forge.recipesDir}/${projectName}/wheel/wheel.yaml)`);
  const task = run.graph.tasks.get(projectName)!.find((t) => t.id === id);
  if (!task) throw new ForgeError(`wheel project ${projectName} has no variant \`${id}\` (known: ${run.graph.tasks.get(projectName)!.map((t) => t.id).join(', ')})`);
  return { project, task };
}

/**
 * Whether this machine can build a wheel task and, if so, its content key: the
 * torch compatibility table, then the environment's toolchain (a `host`
 * mismatch is a skip with the reason), then the resolved source. `upstream`
 * holds the upstream tasks' keys.
 */
export async function assessWheelTask(run: WheelRun, project: WheelProject, task: WheelTask, upstream: Readonly<Record<string, string>>, log: (line: string) => void = () => undefined): Promise<WheelAssessment> {
  const label = `${project.name}:${task.id}`;
  if (task.unmet.length) throw new ForgeError(`${label} builds against ${task.unmet.join(', ')}, which has no variant matching ${JSON.stringify(task.values)}`, { file: project.file });
  const values = Object.fromEntries(Object.entries(task.values).map(([k, v]) => [k, String(v)]));
  if (values.torch !== undefined) {
    const reason = torchIncompatibility({ torch: values.torch, cuda: values.cuda_version, python: values.python });
    if (reason) return { status: 'skipped', reason };
  }
  const rendered = renderWheel(project.spec, task.values);
  const kind = environmentKind(project);
  // A docker variant's requirements before its image is made (minutes); a host or venv one's below.
  if (kind === 'docker') await checkRequirementSyntax(run.root, project, rendered);
  const requirements = externalRequirements(run, project, rendered);
  const frontend = frontendDir(dirname(run.sources.dir));
  const docker = kind === 'docker' ? await dockerImage(run, project, label, values, rendered, log) : undefined;
  const check = docker ? docker.check : checkToolchain({ kind: kind as 'host' | 'venv', python: values.python, cuda: values.cuda_version, torch: values.torch, requirements, parse: rendered.requirements }, frontend);
  if (!docker) await checkRequirementSyntax(run.root, project, rendered, check.invalid);
  if (!check.ok) return { status: 'skipped', reason: check.reason };
  const source = (await resolveWheelSource(project, run.sources))!;
  const { key, inputs } = wheelKey(run.root, project, task, { source, toolchain: check.toolchain, upstream });
  return { status: 'ready', key, inputs, rendered, requirements, kind, check, frontend, source, ...(docker ? { image: docker.image } : {}) };
}

/** The variant's image, made once (see engine/docker.ts); its id is the toolchain of the content key. */
async function dockerImage(run: WheelRun, project: WheelProject, label: string, values: Readonly<Record<string, string>>, rendered: RenderedWheel, log: (line: string) => void) {
  if (values.python === undefined) throw new ForgeError('the docker environment builds for the variant\'s Python: add `python` to variant.keys', { file: project.file, line: project.spec.yaml.lineOf(['variant', 'keys']) });
  const wants = { python: values.python, cuda: values.cuda_version, torch: values.torch, image: rendered.image, images: run.forge.dockerImages, index: pipIndexUrl(run.forge.pipIndex, run.root), tools: imageTools(join(dirname(WHEEL_TOOL), 'requirements.txt')) };
  const image = await ensureImage(wants, join(dirname(run.sources.dir), 'docker-images'), log, label);
  const check: ToolchainOk = { ok: true, toolchain: dockerToolchain(wants, image), python: `${IMAGE_PATHS.venv}/bin/python`, platform: `linux-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}`, cuda: undefined, cudaLibraryIncludes: [], missing: [] };
  return { image, check };
}

interface BuildContext extends ReadyWheelTask {
  readonly staged: string;
  readonly upstreamWheels: readonly string[];
}

async function buildInto(run: WheelRun, project: WheelProject, task: WheelTask, ctx: BuildContext, log: (line: string) => void): Promise<WheelOutcome> {
  const { root, forge, store, sources } = run;
  const { spec } = project;
  const label = `${project.name}:${task.id}`;
  const values = Object.fromEntries(Object.entries(task.values).map(([k, v]) => [k, String(v)]));
  const work = store.workDir(ctx.staged);
  const started = Date.now();
  // Where a build's time goes, for the log: the fixed steps around the build command are forge's overhead.
  const phases: string[] = [];
  let mark = started;
  const phase = (name: string) => {
    phases.push(`${name} ${((Date.now() - mark) / 1000).toFixed(1)}s`);
    mark = Date.now();
  };

  await checkUpstreamVersions(run, project, ctx.rendered);
  const tree = spec.source.kind === 'git' ? await wheelSourceTree(project, sources, ctx.source.commit!, (line) => log(`${label}: ${line}`)) : join(root, spec.source.path);
  const sourceRoot = join(work, 'src');
  cpSync(tree, sourceRoot, { recursive: true, filter: (path) => !UNCOPIED_SOURCE_FILES.has(basename(path)) });
  await applyPatches(project, sourceRoot, root);
  const buildDir = spec.source.subdirectory ? join(sourceRoot, spec.source.subdirectory) : sourceRoot;
  if (!existsSync(buildDir)) throw new ForgeError(`source subdirectory \`${spec.source.subdirectory}\` does not exist in the source`, { file: project.file, line: spec.yaml.lineOf(['source', 'subdirectory']) });

  const wheelOut = join(work, 'dist');
  mkdirSync(wheelOut, { recursive: true });
  const provider = spec.variant.mode === 'variant' ? providerEnv(values, ctx.check.cuda, ctx.rendered.cudaArchList, ctx.check.cudaLibraryIncludes) : {};
  log(`${label}: building ${spec.name} ${spec.version} in ${ctx.kind} (${Object.entries(ctx.check.toolchain).filter(([k]) => k !== 'environment').map(([k, v]) => `${k} ${v}`).join(', ')})`);
  for (const [name, value] of Object.entries(provider)) log(`${label}: ${name}=${value}`);
  // torch's cpp_extension compiles one file at a time without ninja: the tools venv's where the machine has none.
  const ninja = ctx.kind === 'docker' ? undefined : ninjaFallback(dirname(ctx.frontend), [provider.PATH, process.env.PATH].filter(Boolean).join(delimiter));
  const buildPath = [provider.PATH, ninja].filter(Boolean).join(delimiter);
  if (ctx.kind !== 'docker') {
    // What decides how many files compile at once, for comparing a task with a build by hand.
    log(`${label}: ninja ${findOnPath('ninja', [buildPath, process.env.PATH].filter(Boolean).join(delimiter)) ?? 'none'}${ninja ? ' (the tools venv\'s: the machine has none)' : ''}, MAX_JOBS ${process.env.MAX_JOBS ?? 'unset'}, ${availableParallelism()} cores`);
  }
  const docker = ctx.image && { cuda: values.cuda_version, gpus: spec.build.gpus, image: ctx.image, caBundle: hostCaBundle(), uvCache: join(dirname(run.sources.dir), 'docker-uv-cache') };
  const environment = createEnvironment(ctx.kind, {
    root,
    label,
    work,
    source: buildDir,
    output: wheelOut,
    requirements: ctx.requirements,
    missing: ctx.check.missing,
    upstreamWheels: ctx.upstreamWheels,
    index: pipIndexUrl(forge.pipIndex, root),
    python: ctx.check.python,
    frontend: ctx.frontend,
    configSettings: ctx.rendered.configSettings,
    command: ctx.rendered.command,
    env: { ...provider, ...ctx.rendered.env, ...(buildPath ? { PATH: buildPath } : {}) },
  }, docker);
  let cacheUse: CacheUse | undefined;
  let test: WheelTest | undefined;
  try {
    // The cache folder is mounted before the container starts; its sccache runs where the compilers do.
    const cache = await openCompileCache(root, (line) => log(`${label}: ${line}`));
    if (cache) environment.extend({ mounts: [{ path: cache.dir }] });
    await environment.prepare(log);
    const compiled = ctx.kind === 'docker' ? { buildDir, nvcc: values.cuda_version === undefined ? undefined : `${IMAGE_PATHS.cuda}/bin/nvcc`, env: { ...ctx.rendered.env } } : { buildDir, nvcc: ctx.check.cuda?.nvcc, env: process.env };
    cacheUse = cache && (await useCompileCache(cache, compiled, environment.compilerSite(), (line) => log(`${label}: ${line}`)));
    if (cacheUse) environment.extend({ env: cacheUse.env });
    if (spec.test.imports.length || ctx.rendered.testCommands.length) {
      // Started now, so torch's import (seconds, most of a torch extension's test) runs beside the build.
      test = new WheelTest(environment, work, { imports: spec.test.imports, commands: ctx.rendered.testCommands, preload: values.torch === undefined ? [] : ['torch'] }, label, log);
    }
    const keptTree = buildTreesOff() ? undefined : await restoreBuildTree(run, environment, { ...ctx, task, sourceRoot, buildPath, provider }, log);
    phase('prepare');
    const result = await environment.build(withCompileProgress(label, log));
    await cacheUse?.report();
    if (result.ok && keptTree) keptTree.keep(buildDir);
    phase('build');
    const failed = (headline: string, tail: readonly string[]): WheelOutcome => {
      store.recordFailure(project.name, task.id, ctx.key, tail);
      log(`${label}: FAILED${headline}`);
      for (const line of tail.slice(-25)) log(`  | ${line}`);
      return 'failed';
    };
    if (!result.ok) return failed(` (build exit ${result.exitCode}). Last lines of its log:`, result.tail);

    const produced = readdirSync(wheelOut).filter((f) => f.endsWith('.whl'));
    if (produced.length !== 1) throw new ForgeError(`the build left ${produced.length} wheels (${produced.join(', ') || 'none'}) where one was expected`, { file: project.file });
    let wheel = join(wheelOut, produced[0]!);
    checkWheelName(project, basename(wheel));
    if (spec.buildNumber !== undefined) wheel = ((await runWheelSteps(root, [retagStep(wheel, spec.buildNumber)]))[0] as { wheel: string }).wheel;
    if (spec.build.repair) {
      const repaired = await environment.repair(wheel, join(work, 'repaired'), spec.build.repairExclude);
      if (repaired.repaired) log(`${label}: repaired with auditwheel: ${basename(repaired.wheel)}`);
      else log(`${label}: not repaired: ${repaired.reason}`);
      wheel = repaired.wheel;
    }
    phase('repair');

    // Two Python processes side by side: the index's copy (local version, then the task's index) and the
    // variant's (label, then variants.json). Each rewrites the whole wheel, and a CUDA wheel's recompression
    // is seconds (bench/label-steps.mjs: a 59 MiB wheel's 12.0 s became 6.5 s on two cores); neither needs the other.
    const indexSteps: WheelStep[] = [];
    const local = values.cuda_version === undefined ? undefined : values.torch !== undefined ? pytorchLocalVersion(values.cuda_version, values.torch) : indexFlavor(task.values);
    let installable: WheelRef = wheel;
    if (local) {
      indexSteps.push(localVersionStep({ wheel, outDir: join(work, 'local'), local }));
      installable = { step: 0, field: 'wheel' };
    }
    indexSteps.push(['publish', join(ctx.staged, TASK_INDEX, indexFlavor(task.values)), installable]);
    const platform = ctx.check.platform.replace(/[-.]/g, '_');
    const pyFolder = `py${(values.python ?? ctx.check.toolchain.python ?? '').split('.').slice(0, 2).join('')}`;
    const layout = join(ctx.staged, pyFolder, values.cuda_version === undefined ? 'cpu' : `cuda${values.cuda_version}`, platform);
    mkdirSync(layout, { recursive: true });
    const labelSteps: WheelStep[] = [];
    if (ctx.rendered.properties.length) {
      // variantlib merges a release's variants only when they declare the same providers: declare the whole matrix's values.
      const declare = [...new Set((run.graph.tasks.get(project.name) ?? []).flatMap((t) => renderWheel(spec, t.values).properties))];
      labelSteps.push(labelStep({ wheel, outDir: layout, properties: ctx.rendered.properties, declare }), ['variants-json', layout]);
    } else {
      cpSync(wheel, join(layout, basename(wheel)));
      log(`${label}: no variant properties in ${project.file}: the wheel is not labelled`);
    }
    // Both are waited for, failed or not: a process still writing must not outlive the task's clean-up.
    const [indexed, labelled] = await Promise.allSettled([runWheelSteps(root, indexSteps), labelSteps.length ? runWheelSteps(root, labelSteps) : Promise.resolve([])]);
    if (indexed.status === 'rejected') throw indexed.reason;
    if (labelled.status === 'rejected') throw labelled.reason;
    if (labelSteps.length) {
      const variant = labelled.value[0] as LabelledWheel;
      log(`${label}: labelled ${basename(variant.wheel)} (${variant.properties.join(', ')})`);
    }
    phase('label');

    if (test) {
      // The index's file, the one that gets installed: its interpreter has had torch imported since the build.
      const tested = typeof installable === 'string' ? installable : (indexed.value[installable.step] as { wheel: string }).wheel;
      const passed = await test.run([tested, ...ctx.upstreamWheels]);
      if (!passed.ok) return failed(": the wheel's test failed. Last lines:", passed.tail);
    }
    rmSync(work, { recursive: true, force: true });
    phase('test');
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    finish(ctx.staged, { project: project.name, id: task.id, key: ctx.key, inputs: ctx.inputs, files: listFiles(ctx.staged), builtAt: new Date().toISOString(), seconds });
    store.publish(ctx.staged, project.name, task.id);
    store.clearFailure(project.name, task.id);
    log(`${label}: built ${listFiles(store.taskDir(project.name, task.id)).filter((f) => f.file.endsWith('.whl')).map((f) => f.file).join(', ')} in ${seconds}s (${phases.join(', ')})`);
    return 'built';
  } finally {
    // A test still waiting for its wheel (the build failed) is ended; what cannot end it must not hide the first error.
    await test?.cancel().catch((error: Error) => log(`${label}: could not end the test's interpreter: ${error.message}`));
    await cacheUse?.close();
    await environment.dispose();
  }
}

/**
 * The variant's kept build tree (store/build-trees.ts) put back into this
 * build, and what keeps this build's for the next. Its identity is what the
 * objects depend on that ninja cannot see: the content key's inputs but the
 * source and patches (those ninja sees, file by file), the build's settings
 * and variables, the compilers' variables, the installed distributions of the
 * build environment (a header-only upgrade under the same torch), the folder.
 */
async function restoreBuildTree(
  run: WheelRun,
  environment: BuildEnvironment,
  ctx: BuildContext & { readonly task: WheelTask; readonly sourceRoot: string; readonly buildPath: string; readonly provider: Readonly<Record<string, string>> },
  log: (line: string) => void,
): Promise<{ keep(buildDir: string): void } | undefined> {
  const label = `${ctx.task.project}:${ctx.task.id}`;
  const lines: string[] = [];
  // In the work slot, not the source: `python -c` puts its folder first on sys.path, where a source file could shadow the stdlib.
  const digest = await environment.run(environment.python, ['-c', INSTALLED_DISTRIBUTIONS_DIGEST], { cwd: dirname(ctx.sourceRoot), label }, (line) => lines.push(line));
  const installed = /([0-9a-f]{64})$/.exec(lines.at(-1) ?? '')?.[1];
  if (!digest.ok || !installed) {
    log(`${label}: build tree: not kept (the build environment's distributions could not be listed: ${lines.at(-1) ?? `exit ${digest.exitCode}`})`);
    return undefined;
  }
  const { variant, upstream, engine, toolchain } = ctx.inputs;
  const { env, configSettings, command, requirements } = ctx.rendered;
  // A container's compilers see the image's variables and the build's, none of this machine's.
  const ambient = ctx.kind === 'docker' ? 'the image' : Object.fromEntries(COMPILER_VARIABLES.map((name) => [name, process.env[name]]));
  const searchPath = [ctx.buildPath, process.env.PATH].filter(Boolean).join(delimiter);
  // The content key names the compilers by version ("nvcc 13.0"); an update in place (13.0.x, a g++ patch
  // release, new libc headers, which g++'s -MMD leaves out of the depfiles) keeps that name and the files' old times.
  const compilers = ctx.kind === 'docker' ? 'the image' : [
    ...[process.env.CC, process.env.CXX, 'cc', 'c++', ctx.check.cuda?.nvcc].filter((name): name is string => !!name).map((name) => fileStamp(isAbsolute(name) ? name : findOnPath(name, searchPath))),
    ...['/usr/include', ctx.check.cuda && join(ctx.check.cuda.home, 'include')].map((dir) => fileStamp(dir || undefined)),
  ];
  const identity = treeIdentity({ variant, upstream, engine, toolchain, compilers, build: { env, configSettings, command, requirements }, provider: ctx.provider, buildPath: ctx.buildPath, ambient, installed, kind: ctx.kind, folder: ctx.sourceRoot });
  const trees = new BuildTrees(join(run.store.dir, BUILD_TREES));
  const name = taskName(ctx.task.project, ctx.task.id);
  // A tree that cannot be put back or kept (a full disk, a file the build made read-only) costs the
  // compiles, not the build: a half-restored one is still right, since only unchanged files get old times.
  let restored: Restored;
  try {
    restored = trees.restore(name, ctx.sourceRoot, identity, ninjaDeps(findOnPath('ninja', searchPath) ?? toolsNinja(run.root)));
  } catch (error) {
    log(`${label}: build tree: not restored (${(error as Error).message}): ninja compiles what it finds out of date`);
    return undefined;
  }
  log(`${label}: build tree: ${restored.outcome}`);
  const builtSince = Date.now();
  return {
    keep: (buildDir) => {
      let why: string | undefined;
      try {
        why = trees.keep({ project: ctx.task.project, name }, ctx.sourceRoot, buildDir, restored.snapshot, identity, builtSince);
      } catch (error) {
        why = (error as Error).message;
      }
      if (why) log(`${label}: build tree: not kept (${why}): the next build compiles every object`);
      try {
        const current = new Set((run.graph.tasks.get(ctx.task.project) ?? []).map((t) => taskName(t.project, t.id)));
        const removed = trees.prune(ctx.task.project, current);
        if (removed.length) log(`${label}: build tree: removed ${removed.join(', ')} (variants no longer in the matrix)`);
      } catch (error) {
        log(`${label}: build tree: could not remove the trees of variants no longer in the matrix (${(error as Error).message})`);
      }
    },
  };
}

/** A file's real path, size and time (a folder's time moves when a package adds or replaces a file in it). */
function fileStamp(path: string | undefined): string {
  if (!path || !existsSync(path)) return `${path ?? ''}: none`;
  const real = realpathSync(path);
  const stat = statSync(real);
  return `${real}: ${stat.size} ${stat.mtimeMs}`;
}

/** The files ninja's deps log names for a kept object folder (`ninja -t deps`), or undefined where it cannot tell. */
function ninjaDeps(ninja: string | undefined): (folder: string) => ReadonlySet<string> | undefined {
  return (folder) => {
    if (!ninja || !existsSync(join(folder, 'build.ninja'))) return undefined;
    try {
      const out = execFileSync(ninja, ['-C', folder, '-t', 'deps'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
      return new Set(out.split('\n').filter((line) => line.startsWith('    ')).map((line) => line.trim()));
    } catch {
      return undefined;
    }
  };
}

/**
 * A requirement pip cannot parse would fail later where the environment reads it (uv, the upstream
 * version check), each naming its own step instead of wheel.yaml's line. `invalid`: what the toolchain
 * check's interpreter probe found, where it ran (it parses them with the same packaging, and saves this
 * check a Python start-up of its own, about 0.1 s a task); else the tools venv parses them.
 */
async function checkRequirementSyntax(root: string, project: WheelProject, rendered: RenderedWheel, invalid?: Readonly<Record<string, string>>): Promise<void> {
  if (!rendered.requirements.length) return;
  const reasons = invalid ?? Object.fromEntries((await parseRequirements(root, rendered.requirements)).flatMap((r, i) => (r.error === undefined ? [] : [[rendered.requirements[i]!, r.error]])));
  const bad = rendered.requirements.findIndex((spec) => reasons[spec] !== undefined);
  if (bad >= 0) throw new ForgeError(`build requirement \`${rendered.requirements[bad]}\` is not a PEP 508 requirement: ${reasons[rendered.requirements[bad]!]}`, { file: project.file, line: project.spec.yaml.lineOf(['build', 'requirements', bad]) });
}

/**
 * An upstream wheel is installed as its project builds it, whatever version its
 * requirement asks for: a requirement that does not admit that version is an
 * error, not a build against another version than the one written.
 */
async function checkUpstreamVersions(run: WheelRun, project: WheelProject, rendered: RenderedWheel): Promise<void> {
  const upstream = new Map([...(run.graph.dependencies.get(project.name) ?? [])].map((name) => [normalizeDistName(run.graph.projects.get(name)!.spec.name), run.graph.projects.get(name)!]));
  for (const [i, spec] of rendered.requirements.entries()) {
    const dependency = upstream.get(requirementName(spec) ?? '');
    if (!dependency || spec.trim() === requirementName(spec)) continue;
    if (!(await requirementAdmits(run.root, spec, dependency.spec.version))) {
      throw new ForgeError(`build requirement \`${spec}\` does not admit ${dependency.spec.version}, the version ${dependency.file} builds`, { file: project.file, line: project.spec.yaml.lineOf(['build', 'requirements', i]) });
    }
  }
}

/**
 * seed 004's `-Cvariant` defaults: the toolkit's CUDA_HOME and bin, and TORCH_CUDA_ARCH_LIST for torch builds;
 * on `host`, the headers of torch's own CUDA libraries on CPATH (cusparse.h, which ATen/cuda includes, is not
 * in a toolkit of nvcc alone).
 */
export function providerEnv(values: Readonly<Record<string, string>>, cuda: CudaInfo | undefined, archList: string | undefined, libraryIncludes: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  if (values.cuda_version === undefined) return env;
  if (cuda) {
    env.CUDA_HOME = cuda.home;
    env.PATH = join(cuda.home, 'bin');
  }
  Object.assign(env, cudaLibraryCpath(libraryIncludes));
  const list = archList ?? (values.torch !== undefined ? defaultCudaArchList(values.torch, values.cuda_version) : undefined);
  if (list) env.TORCH_CUDA_ARCH_LIST = list;
  return env;
}

/** The index `venv`/`docker` install from, as a URL (a folder becomes file://). */
function pipIndexUrl(value: string, root: string): string {
  const where = wheelIndexLocation(value, root);
  return 'url' in where ? where.url : `file://${where.dir}`;
}

async function applyPatches(project: WheelProject, sourceRoot: string, root: string): Promise<void> {
  for (const [i, patch] of project.spec.source.patches.entries()) {
    try {
      // The ceiling keeps git from treating the workspace's repository as the patch's target.
      await exec('git', ['apply', '--whitespace=nowarn', join(root, patch)], { cwd: sourceRoot, env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(sourceRoot) } });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').filter(Boolean);
      throw new ForgeError(`patch \`${posix.relative(posix.dirname(project.file), patch)}\` does not apply: ${stderr.slice(0, 2).join(' / ')}`, { file: project.file, line: project.spec.yaml.lineOf(['source', 'patches', i]) });
    }
  }
}

/** The wheel must be the project's name and declared version: the version decides the published file names. */
function checkWheelName(project: WheelProject, file: string): void {
  const [name, version] = file.split('-');
  if (normalizeDistName(name ?? '') !== normalizeDistName(project.spec.name)) {
    throw new ForgeError(`the build produced ${file}, not a wheel of \`${project.spec.name}\``, { file: project.file, line: project.spec.yaml.lineOf(['name']) });
  }
  if (version !== project.spec.version) {
    throw new ForgeError(`the build produced version ${version} (${file}), ${project.file} says ${project.spec.version}`, { file: project.file, line: project.spec.yaml.lineOf(['version']) });
  }
}

/** Copies (or downloads) a task's published files from the wheel index into the staging folder. */
async function copyPublished(index: string, root: string, files: PublishedWheels['files'], staged: string): Promise<void> {
  const where = wheelIndexLocation(index, root);
  for (const entry of files) {
    const target = join(staged, entry.file);
    mkdirSync(dirname(target), { recursive: true });
    if ('dir' in where) cpSync(join(where.dir, entry.index), target);
    else {
      const response = await fetch(`${where.url}/${entry.index}`, { signal: AbortSignal.timeout(120_000) });
      if (!response.ok) throw new ForgeError(`cannot download ${where.url}/${entry.index}: HTTP ${response.status}`);
      writeFileSync(target, Buffer.from(await response.arrayBuffer()));
    }
    // The wheelhouse copy becomes this key's output (and upstream of its dependents): a file damaged or replaced
    // in the index since its upload must not pass for it.
    const sha256 = sha256File(target);
    if (entry.sha256 !== undefined && sha256 !== entry.sha256) {
      throw new ForgeError(`${'dir' in where ? where.dir : where.url}/${entry.index} is not the file that was published (sha256 ${sha256.slice(0, 12)}, its upload recorded ${entry.sha256.slice(0, 12)}): the wheel index is damaged; restore the file, or bump build_number to build and publish a new one`);
    }
  }
}

function listFiles(dir: string, prefix = ''): Array<{ file: string; sha256: string; size: number }> {
  const out: Array<{ file: string; sha256: string; size: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      out.push(...listFiles(join(dir, entry.name), rel));
    } else if (entry.isFile() && entry.name !== MANIFEST && entry.name !== KEY_FILE) {
      out.push({ file: rel, sha256: sha256File(join(dir, entry.name)), size: statSync(join(dir, entry.name)).size });
    }
  }
  return out;
}

function finish(dir: string, manifest: Manifest): void {
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, KEY_FILE), `${manifest.key}\n`);
}

