import { Version, VersionSpec } from '@conda-org/rattler';
import { ForgeError } from '../errors.js';
import { isPin, renderTemplate, templateNames, type JinjaScope, type Pin } from '../recipe/jinja.js';
import { NodeEvaluator, collectNames, collectSpecs } from '../recipe/evaluate.js';
import type { Recipe } from '../recipe/recipe.js';
import { ALWAYS_INCLUDED, normalizeKey, type Variant, type VariantValue } from './keys.js';
import { defaultBuildString, hashInfo, type NoArch } from './hash.js';
import { osEnvVarKeys, platformVariables } from './platform.js';
import { combinations, withPlatform, type VariantConfig } from './variant-config.js';

export type Section = 'build' | 'host' | 'run' | 'run_constraints';
export const SECTIONS: readonly Section[] = ['build', 'host', 'run', 'run_constraints'];

/** One evaluated requirement: the package it names and how. */
export interface Requirement {
  readonly name: string;
  /** The match spec text, or the pin call for pins. */
  readonly spec: string;
  readonly pin?: Pin['kind'];
  /** For pins: `exact=True`. */
  readonly exact?: boolean;
  /** For pins: `lower_bound`/`upper_bound` as written (null: none), what a solve turns into a version range. */
  readonly bounds?: { readonly lower?: string | null; readonly upper?: string | null };
}

/** One package file a recipe produces for one variant. */
export interface RenderedVariant {
  readonly recipeFile: string;
  readonly name: string;
  readonly version: string;
  readonly buildNumber: number;
  readonly buildString: string;
  readonly hash: string;
  readonly hashPrefix: string;
  readonly noarch: NoArch;
  readonly subdir: string;
  /** The keys that went into the hash, with their values (rattler-build's `used_variant`). */
  readonly variant: Variant;
  /** The whole combination the recipe was evaluated with. */
  readonly combination: Variant;
  readonly skipped: boolean;
  readonly requirements: Readonly<Record<Section, readonly Requirement[]>>;
  /** `subdir/name-version-build.conda` */
  readonly file: string;
}

export interface RenderOptions {
  readonly targetPlatform: string;
  /** Told of each `build.skip` entry that cannot be evaluated, which the engine (and so this) takes as false. */
  readonly onIgnoredSkip?: (error: ForgeError) => void;
}

type Mapping = Record<string, unknown>;

interface Evaluated {
  readonly name: string;
  readonly version: string;
  readonly buildNumber: number;
  readonly noarch: NoArch;
  readonly skipped: boolean;
  readonly stringTemplate: string | undefined;
  /** Where that template stands: the output's own `build.string` or the recipe's. */
  readonly stringPath: ReadonlyArray<string | number>;
  /** Where the output stands in the YAML (`[]` or `['outputs', i]`). */
  readonly outputPath: ReadonlyArray<string | number>;
  readonly requirements: Record<Section, Requirement[]>;
  readonly pins: readonly string[];
  readonly variant: Record<string, VariantValue>;
  readonly combination: Variant;
  readonly context: Mapping;
}

/**
 * Expands a recipe over a variant config the way rattler-build renders it:
 * which keys it uses, the combinations, each output's used variant, hash,
 * build string and file name.
 */
export function renderRecipe(recipe: Recipe, baseConfig: VariantConfig, options: RenderOptions): RenderedVariant[] {
  const config = withPlatform(baseConfig, options.targetPlatform);
  const candidates = candidateKeys(recipe, options.targetPlatform);
  const used = new Set([...candidates].filter((key) => config.values.has(key)));
  const evaluated: Evaluated[] = [];
  let pending = combinations(config, used);
  // New keys can appear only after evaluation (a requirement named by an
  // expression); rattler-build re-expands such combinations, up to 10 rounds.
  for (let round = 0; round < 10 && pending.length; round++) {
    const next: Record<string, VariantValue>[] = [];
    for (const combination of pending) {
      const outputs = evaluateCombination(recipe, combination, options);
      const discovered = new Set<string>();
      for (const output of outputs) {
        for (const section of ['build', 'host'] as const) {
          for (const req of output.requirements[section]) {
            const key = normalizeKey(req.name);
            if (!req.pin && req.spec.trim() === req.name && config.values.has(key) && !(key in combination)) discovered.add(key);
          }
        }
      }
      if (discovered.size === 0) {
        evaluated.push(...outputs);
        continue;
      }
      let expanded: Record<string, VariantValue>[] = [combination];
      for (const key of discovered) expanded = expanded.flatMap((c) => config.values.get(key)!.map((value) => ({ ...c, [key]: value })));
      next.push(...expanded);
    }
    pending = next;
  }
  return finalize(recipe, evaluated);
}

function candidateKeys(recipe: Recipe, targetPlatform: string): Set<string> {
  const names = new Set<string>();
  // `extra` is not scanned: a key read only there is no variant key (and undefined when read).
  const withoutExtra = ({ extra: _extra, ...rest }: Mapping) => rest;
  collectNames(withoutExtra({ ...recipe.top, outputs: undefined }), names);
  for (const output of recipe.outputs) collectNames(withoutExtra(output.fields), names);
  for (const output of recipe.outputs) {
    const requirements = (output.fields.requirements ?? {}) as Mapping;
    const specs: string[] = [];
    collectSpecs(requirements.build, specs);
    collectSpecs(requirements.host, specs);
    for (const spec of specs) if (isFreeSpec(spec)) names.add(spec.trim());
  }
  for (const build of [recipe.top.build, ...recipe.outputs.map((o) => o.fields.build)]) {
    const useKeys = ((build as Mapping | undefined)?.variant as Mapping | undefined)?.use_keys;
    if (Array.isArray(useKeys)) for (const key of useKeys) names.add(String(key));
  }
  for (const key of ALWAYS_INCLUDED) names.add(key);
  for (const key of osEnvVarKeys(targetPlatform)) names.add(key);
  return new Set([...names].map(normalizeKey));
}

function evaluateCombination(recipe: Recipe, combination: Variant, options: RenderOptions): Evaluated[] {
  const accessed = new Set<string>();
  const variables: Record<string, unknown> = { ...platformVariables(options.targetPlatform), ...combination };
  const scope: JinjaScope = { variables, targetPlatform: options.targetPlatform, onAccess: (name) => accessed.add(name) };
  // build.string waits for the hash; skip entries are conditions, evaluated one by one below.
  const deferred = new Set(['build.string', 'build.skip', ...recipe.outputs.flatMap((o) => ['string', 'skip'].map((key) => [...o.path, 'build', key].join('.')))]);
  const evaluator = new NodeEvaluator(recipe.yaml, scope, deferred);

  const context: Mapping = {};
  for (const [key, node] of Object.entries(recipe.context)) {
    const value = evaluator.evaluate(node, ['context', key]);
    context[key] = value;
    variables[key] = value;
  }
  const accessedInContext = new Set(accessed);

  // A multi-output recipe's top-level sections are evaluated once and shared;
  // a single-output recipe's top level is its one output.
  const shared: Mapping = {};
  if (recipe.multiOutput) {
    for (const key of ['source', 'build', 'about', 'extra', 'recipe']) {
      if (key in recipe.top) shared[key] = evaluator.evaluate(recipe.top[key], [key]);
    }
  }
  const sharedAccess = new Set(accessed);

  // A staging output builds no package: what it reads and its free build/host
  // requirements become variant keys of each output that inherits it.
  const stagingKeys = new Map<string, Set<string>>();
  for (const output of recipe.outputs) {
    if (output.staging === undefined) continue;
    accessed.clear();
    for (const key of ['source', 'build']) {
      if (key in output.fields) evaluator.evaluate(output.fields[key], [...output.path, key]);
    }
    const requirements = parseRequirements(evaluator.evaluate(output.fields.requirements ?? {}, [...output.path, 'requirements']) as Mapping, recipe, output.path);
    const keys = new Set(accessed);
    for (const req of [...requirements.build, ...requirements.host]) if (!req.pin && isFreeSpec(req.spec)) keys.add(normalizeKey(req.name));
    stagingKeys.set(output.staging, keys);
  }

  return recipe.outputs.filter((output) => output.staging === undefined).map((output) => {
    accessed.clear();
    for (const name of sharedAccess) accessed.add(name);
    for (const name of output.inherit === undefined ? [] : (stagingKeys.get(output.inherit) ?? [])) accessed.add(name);
    const fields: Mapping = {};
    for (const key of ['package', 'source', 'build', 'requirements', 'tests', 'about', 'extra']) {
      if (key in output.fields) fields[key] = evaluator.evaluate(output.fields[key], [...output.path, key]);
    }
    const sharedBuild = (recipe.multiOutput ? shared.build : undefined) as Mapping | undefined;
    const build = { ...sharedBuild, ...((fields.build ?? {}) as Mapping) };
    // An output's `noarch:` left empty keeps the recipe's (where an empty `string:` does replace it).
    if (build.noarch === null && sharedBuild?.noarch !== undefined) build.noarch = sharedBuild.noarch;
    const where = (key: string) => ({ file: recipe.file, line: recipe.yaml.lineOf([...output.path, 'build', key]) });
    // An output's skip entries add to the recipe's top-level ones (the engine skips when any holds).
    const skipEntries = [
      ...(recipe.multiOutput ? evaluator.skipEntries((shared.build as Mapping | undefined)?.skip, ['build', 'skip']) : []),
      ...evaluator.skipEntries(((fields.build ?? {}) as Mapping).skip, [...output.path, 'build', 'skip']),
    ];
    const skipped = skipEntries.some(({ item, path }) => evaluator.skipCondition(item, path, options.onIgnoredSkip));

    const pkg = (fields.package ?? {}) as Mapping;
    const recipeMeta = (shared.recipe ?? {}) as Mapping;
    const rawName = pkg.name ?? recipeMeta.name;
    // The engine reads a number (`name: 7`) as its text, as it does a version.
    const name = typeof rawName === 'number' ? String(rawName) : rawName;
    const version = pkg.version ?? recipeMeta.version;
    if (name === undefined || name === null || name === '') throw new ForgeError('the package has no name', { file: recipe.file, line: recipe.yaml.lineOf([...output.path, 'package']) });
    if (typeof name !== 'string') throw new ForgeError(`\`package.name\` must be text, got ${JSON.stringify(name)}`, { file: recipe.file, line: recipe.yaml.lineOf([...output.path, 'package', 'name']) });
    if (version === undefined || version === null) throw new ForgeError(`package \`${name}\` has no version`, { file: recipe.file, line: recipe.yaml.lineOf([...output.path, 'package']) });
    checkNameAndVersion(recipe, output.path, name, String(version));
    const noarch = build.noarch === undefined || build.noarch === null ? null : build.noarch;
    if (noarch !== null && noarch !== 'python' && noarch !== 'generic') {
      throw new ForgeError(`\`build.noarch\` must be \`python\` or \`generic\`, got \`${String(noarch)}\``, where('noarch'));
    }
    // A template that renders to nothing (`${{ 10 if false }}`) leaves the engine's default, 0; a YAML null is refused, as the engine does.
    const buildNumber = 'number' in build && build.number !== undefined ? Number(build.number ?? Number.NaN) : 0;
    if (!Number.isInteger(buildNumber) || buildNumber < 0) throw new ForgeError(`\`build.number\` must be a whole number, got \`${String(build.number)}\``, where('number'));

    const requirements = parseRequirements((fields.requirements ?? {}) as Mapping, recipe, output.path);
    const free = new Set<string>();
    for (const req of [...requirements.build, ...requirements.host]) if (!req.pin && isFreeSpec(req.spec)) free.add(normalizeKey(req.name));

    const variant: Record<string, VariantValue> = {};
    const osKeys = osEnvVarKeys(options.targetPlatform);
    for (const [key, value] of Object.entries(combination)) {
      if (key in context && !accessedInContext.has(key)) continue;
      if (noarch === 'python' && key === 'python') continue;
      if (accessed.has(key) || free.has(key) || (ALWAYS_INCLUDED as readonly string[]).includes(key) || osKeys.has(key)) variant[key] = value;
    }
    if (noarch) variant.target_platform = 'noarch';
    for (const req of requirements.run) if (req.name.startsWith('__')) variant[normalizeKey(req.name)] = req.spec;
    const variantKeys = (build.variant ?? {}) as Mapping;
    for (const key of stringList(variantKeys.use_keys)) {
      const k = normalizeKey(key);
      if (combination[k] !== undefined) variant[k] = combination[k]!;
    }
    for (const key of stringList(variantKeys.ignore_keys)) delete variant[normalizeKey(key)];

    // Only exact pins put the sibling's "version build" into the hash (rattler-build's add_pins_to_variant).
    const pins = [...new Set(SECTIONS.flatMap((s) => requirements[s]).filter((r) => r.pin === 'pin_subpackage' && r.exact && r.name !== name).map((r) => r.name))];
    const { template: stringTemplate, path: stringPath } = stringField(recipe, output.path);
    return { name, version: String(version), buildNumber, noarch, skipped, stringTemplate, stringPath, outputPath: output.path, requirements, pins, variant, combination, context };
  });
}

/** The engine's checks of a package name and version, with its words; and a name whose case it would not keep in every place. */
function checkNameAndVersion(recipe: Recipe, outputPath: ReadonlyArray<string | number>, name: string, version: string): void {
  const line = (field: string) => ({ file: recipe.file, line: recipe.yaml.lineOf([...outputPath, 'package', field]) ?? recipe.yaml.lineOf(['recipe', field]) });
  if (!/^[0-9A-Za-z_.-]+$/.test(name)) throw new ForgeError(`\`${name}\` is not a valid package name: it may hold only 0-9, a-z, A-Z, -, _ and .`, line('name'));
  if (name !== name.toLowerCase()) {
    // py-rattler-build's render lowercases it, its build keeps it: which file a build makes is not certain.
    throw new ForgeError(`package names are lower case: write \`${name.toLowerCase()}\` (rattler-build keeps \`${name}\` in one place and lowercases it in another)`, line('name'));
  }
  try {
    new Version(version);
  } catch (error) {
    throw new ForgeError(`\`${version}\` is not a valid version: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, line('version'));
  }
}

function finalize(recipe: Recipe, evaluated: Evaluated[]): RenderedVariant[] {
  const done = new Map<Evaluated, RenderedVariant>();
  // pin_subpackage puts the pinned sibling's "version build" into the variant,
  // so siblings resolve first; rattler-build orders them the same way.
  while (done.size < evaluated.length) {
    let progressed = false;
    for (const item of evaluated) {
      if (done.has(item)) continue;
      const siblings = item.pins.map((pin) => pickSibling(evaluated, pin, item.combination));
      if (siblings.some((s) => s === undefined)) {
        const missing = item.pins[siblings.indexOf(undefined)];
        throw new ForgeError(`pin_subpackage('${missing}') names no output of this recipe`, { file: recipe.file });
      }
      if (siblings.some((s) => !done.has(s!))) continue;
      refuseSkippedSibling(recipe, item, siblings as Evaluated[]);
      const variant = { ...item.variant };
      siblings.forEach((sibling, i) => {
        const rendered = done.get(sibling!)!;
        variant[normalizeKey(item.pins[i]!)] = `${rendered.version} ${rendered.buildString}`;
      });
      done.set(item, resolve(recipe, item, variant));
      progressed = true;
    }
    if (!progressed) throw new ForgeError('pin_subpackage cycle between the outputs of this recipe', { file: recipe.file });
  }
  const seen = new Set<string>();
  const result: RenderedVariant[] = [];
  for (const item of evaluated) {
    const rendered = done.get(item)!;
    // Combinations that differ only in keys an output ignores give the same package once.
    if (seen.has(rendered.file)) continue;
    seen.add(rendered.file);
    result.push(rendered);
  }
  return result;
}

/**
 * An exact pin to a sibling that is skipped for this variant: rattler-build then pins
 * the build of that sibling for another variant (another CUDA version, say) or, with
 * none left, fails; which one it takes is not a rule forge can promise, and a package
 * pinned to a sibling built for another variant is rarely what was meant.
 */
function refuseSkippedSibling(recipe: Recipe, item: Evaluated, siblings: readonly Evaluated[]): void {
  if (item.skipped) return;
  const skipped = siblings.find((sibling) => sibling.skipped);
  if (!skipped) return;
  const values = Object.entries(skipped.combination)
    .filter(([key]) => key !== 'target_platform' && key in skipped.variant)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(', ');
  throw new ForgeError(
    `\`${item.name}\` pins \`${skipped.name}\` exactly, which build.skip skips for ${values || 'this platform'}: rattler-build would pin another variant's build of it or fail, so skip \`${item.name}\` for the same variants`,
    { file: recipe.file, line: recipe.yaml.lineOf([...item.outputPath, 'requirements']) },
  );
}

function pickSibling(all: readonly Evaluated[], name: string, combination: Variant): Evaluated | undefined {
  const candidates = all.filter((e) => e.name === name);
  let best: Evaluated | undefined;
  let bestScore = -1;
  for (const candidate of candidates) {
    const score = Object.entries(combination).filter(([k, v]) => candidate.combination[k] === v).length;
    if (score > bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

function resolve(recipe: Recipe, item: Evaluated, variant: Variant): RenderedVariant {
  const info = hashInfo(variant, item.noarch);
  let buildString = defaultBuildString(info, item.buildNumber);
  if (item.stringTemplate !== undefined) {
    refusePlatformVariables(recipe, item);
    const targetPlatform = String(item.combination.target_platform);
    const scope: JinjaScope = {
      variables: { ...platformVariables(targetPlatform), ...variant, ...item.context, hash: info.hash, build_number: item.buildNumber },
      targetPlatform,
      onAccess: () => undefined,
    };
    try {
      // Rendering to nothing gives an empty build string, as `string:` left empty does.
      buildString = String(renderTemplate(item.stringTemplate, scope) ?? '');
    } catch (error) {
      throw new ForgeError(`build.string: ${error instanceof Error ? error.message : String(error)}`, { file: recipe.file, line: recipe.yaml.lineOf(item.stringPath) });
    }
  }
  const subdir = item.noarch ? 'noarch' : String(item.combination.target_platform ?? 'noarch');
  return {
    recipeFile: recipe.file,
    name: item.name,
    version: item.version,
    buildNumber: item.buildNumber,
    buildString,
    hash: info.hash,
    hashPrefix: info.prefix,
    noarch: item.noarch,
    subdir,
    variant,
    combination: item.combination,
    skipped: item.skipped,
    requirements: item.requirements,
    file: `${subdir}/${item.name}-${item.version}-${buildString}.conda`,
  };
}

/**
 * rattler-build renders `build.string` with the platform variables (`unix`, `linux`,
 * `x86_64`, …) of the machine it runs on, not of the target: rendered for win-64 on
 * linux, `unix` is true. The file name would then depend on where the build runs, so
 * forge refuses rather than predict one of two names. `target_platform` and the
 * `is_linux(target_platform)` family are right for every target.
 */
function refusePlatformVariables(recipe: Recipe, item: Evaluated): void {
  const platformNames = Object.keys(platformVariables(String(item.combination.target_platform)));
  const read = templateNames(item.stringTemplate!).find((name) => platformNames.includes(name) && !['target_platform', 'build_platform', 'host_platform'].includes(name) && !(name in item.context));
  if (read === undefined) return;
  throw new ForgeError(
    `build.string reads the platform variable \`${read}\`, which rattler-build evaluates for the machine it runs on, not the target platform, so the file name would depend on where it is built: test \`target_platform\` instead (\`is_linux(target_platform)\`, \`target_platform == "win-64"\`)`,
    { file: recipe.file, line: recipe.yaml.lineOf(item.stringPath) },
  );
}

function stringField(recipe: Recipe, outputPath: ReadonlyArray<string | number>): { template: string | undefined; path: ReadonlyArray<string | number> } {
  const own = ((recipe.outputs.find((o) => o.path === outputPath)?.fields.build ?? {}) as Mapping).string;
  const inherited = recipe.multiOutput ? ((recipe.top.build ?? {}) as Mapping).string : undefined;
  const value = own !== undefined ? own : inherited;
  const path = own === undefined ? ['build', 'string'] : [...outputPath, 'build', 'string'];
  // `string:` left empty gives an empty build string in the engine, not the default one.
  return { template: value === undefined ? undefined : value === null ? '' : String(value), path };
}

function parseRequirements(node: Mapping, recipe: Recipe, outputPath: ReadonlyArray<string | number>): Record<Section, Requirement[]> {
  const result = { build: [], host: [], run: [], run_constraints: [] } as Record<Section, Requirement[]>;
  for (const section of SECTIONS) {
    const items = node[section];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      throw new ForgeError(`\`requirements.${section}\` must be a list`, { file: recipe.file, line: recipe.yaml.lineOf([...outputPath, 'requirements', section]) });
    }
    items.forEach((item, index) => {
      if (isPin(item)) {
        const bound = (key: string) => (item.args[key] === undefined ? undefined : item.args[key] === null ? null : String(item.args[key]));
        const bounds = { lower: bound('lower_bound'), upper: bound('upper_bound') };
        result[section].push({ name: item.name, spec: `${item.kind}('${item.name}')`, pin: item.kind, exact: item.args.exact === true, bounds });
      } else if (typeof item === 'string' && item.trim() !== '') {
        const name = /^\s*([^\s<>=!~^*\[]+)/.exec(item)?.[1];
        const where = { file: recipe.file, line: recipe.yaml.lineOf([...outputPath, 'requirements', section, index]) };
        if (!name) throw new ForgeError(`cannot read the package name in \`${item}\``, where);
        checkBareVersion(item.trim(), where);
        result[section].push({ name, spec: item.trim().replace(/\s+/g, ' ') });
      } else {
        throw new ForgeError(`a requirement must be a match spec or a pin, got ${JSON.stringify(item)}`, { file: recipe.file, line: recipe.yaml.lineOf([...outputPath, 'requirements', section]) });
      }
    });
  }
  return result;
}

/**
 * The engine parses requirements strictly, so conda-build's bare version (`numpy 1.26`,
 * `foo 1.2 h123_0`) is refused ("missing range specifier for '1.26'. Did you mean '==1.26'
 * or '1.26.*'?"), but only when that variant builds; forge's solve met it first and stopped
 * the solve of every variant, naming no file. Only the plain `name version [build]` form is
 * judged here, where the version part is certain; rattler's own strict parser judges it.
 */
function checkBareVersion(spec: string, where: { file: string; line?: number }): void {
  const version = /^[^\s<>=!~^*[\]]+\s+([0-9*][^\s,|<>=!~[\]]*)(?:\s+[^\s,|<>=!~[\]]+)?$/.exec(spec)?.[1];
  if (version === undefined) return;
  try {
    new VersionSpec(version, 'strict').free();
  } catch (error) {
    throw new ForgeError(`\`${spec}\` is not a match spec rattler-build accepts: ${String((error as Error).message ?? error).split('\n')[0]}`, where);
  }
}

/** A spec that is only a package name: rattler-build treats it as a variant key. */
export function isFreeSpec(spec: string): boolean {
  return /^\s*[A-Za-z0-9_][A-Za-z0-9_.\-]*\s*$/.test(spec) && !spec.includes('${{');
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}
