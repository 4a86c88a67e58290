import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ForgeError } from '../../src/errors.js';
import { renderRecipes } from '../../src/graph/render-recipes.js';
import { enginePython } from './paths.js';

/** One recipe rendered for one platform. */
export interface Job {
  readonly recipe: string;
  readonly variants: string;
  readonly platform: string;
}

/**
 * One package as the engine reports it. `subdir` and `variant` (the keys in
 * its hash) only where the engine gives them final: its CLI render. The Python
 * render's `used_variant` is taken before ignore_keys and pins apply.
 */
export interface Package {
  readonly name: string;
  readonly version: string;
  readonly buildString: string;
  readonly noarch: string | null;
  readonly subdir?: string;
  readonly variant?: Readonly<Record<string, unknown>>;
}

/**
 * A render's outcome. `kept`: what would be built (skipped variants left out);
 * `all`: every variant, skipped ones included. Or the refusal's message.
 */
export type Answer = { readonly kept: readonly Package[]; readonly all: readonly Package[] } | { readonly error: string };

const run = promisify(execFile);
const TRUTH = join(dirname(fileURLToPath(import.meta.url)), 'engine_truth.py');

/** rattler-build's own answers (py-rattler-build: its CLI render and its Python render), all jobs in one engine process. */
export async function engineAnswers(jobs: readonly Job[]): Promise<Answer[]> {
  const child = run(enginePython(), [TRUTH], { maxBuffer: 256 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify(jobs));
  const answers = JSON.parse((await child).stdout) as Answer[];
  if (answers.length !== jobs.length) throw new Error(`the engine answered ${answers.length} of ${jobs.length} jobs`);
  return answers;
}

/** What forge predicts, through the path a workspace load takes (render-recipes: checks and render). */
export function forgeAnswer(job: Job): Answer {
  let rendered;
  try {
    const [entry] = renderRecipes({ file: job.variants, text: readFileSync(job.variants, 'utf8') }, job.platform, [{ file: job.recipe, text: readFileSync(job.recipe, 'utf8') }]);
    rendered = entry!.rendered;
  } catch (error) {
    if (error instanceof ForgeError) return { error: error.format() };
    throw error;
  }
  const pkg = (r: (typeof rendered)[number], final: boolean): Package => ({
    name: r.name,
    version: r.version,
    buildString: r.buildString,
    noarch: r.noarch,
    ...(final ? { subdir: r.subdir, variant: r.variant } : {}),
  });
  return { kept: rendered.filter((r) => !r.skipped).map((r) => pkg(r, true)), all: rendered.map((r) => pkg(r, false)) };
}

const line = (p: Package) =>
  JSON.stringify([p.name, String(p.version), p.buildString, p.noarch ?? null, ...(p.subdir === undefined ? [] : [p.subdir, Object.entries(p.variant ?? {}).map(([k, v]) => `${k}=${String(v)}`).sort()])]);
const key = (p: Package) => line({ name: p.name, version: p.version, buildString: p.buildString, noarch: p.noarch });

/**
 * Where forge's answer differs from the engine's; empty when they agree.
 * - Both refuse, or both render.
 * - `kept`, what gets built: the same packages, each as often, with the same
 *   build strings, subdirs and hashed variant keys (variant values compared as
 *   text: the build string already carries their types through the hash).
 * - `all`: every package the engine's Python render lists, forge lists too. That
 *   render leaves out the skipped outputs of a multi-output recipe (it lists a
 *   single output's skipped variants), so forge may list more, but only as skipped.
 */
export function differences(engine: Answer, forge: Answer): string[] {
  if ('error' in engine || 'error' in forge) {
    if ('error' in engine && 'error' in forge) return [];
    if ('error' in engine) return [`the engine refuses (${engine.error}) but forge renders`];
    return [`forge refuses (${(forge as { error: string }).error}) but the engine renders`];
  }
  const problems: string[] = [];
  const engineKept = engine.kept.map(line).sort();
  const forgeKept = forge.kept.map(line).sort();
  for (const entry of engineKept) if (!forgeKept.includes(entry)) problems.push(`built by the engine, not predicted: ${entry}`);
  for (const entry of forgeKept) if (!engineKept.includes(entry)) problems.push(`predicted, not built by the engine: ${entry}`);
  if (problems.length === 0 && engineKept.join() !== forgeKept.join()) problems.push(`different counts: engine ${engineKept.join(' ')}; forge ${forgeKept.join(' ')}`);
  const engineAll = new Set(engine.all.map(key));
  const forgeAll = new Set(forge.all.map(key));
  const forgeBuilt = new Set(forge.kept.map(key));
  for (const entry of engineAll) if (!forgeAll.has(entry)) problems.push(`rendered by the engine, missing from forge: ${entry}`);
  for (const entry of forgeAll) if (!engineAll.has(entry) && forgeBuilt.has(entry)) problems.push(`predicted and built by forge, unknown to the engine's render: ${entry}`);
  if (engine.all.length === 0 && engine.kept.length > 0) problems.push('the engine builds packages its render does not list');
  return problems;
}
