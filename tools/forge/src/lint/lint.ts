import { collectSpecs } from '../recipe/evaluate.js';
import { strictVersionSpec } from '../recipe/jinja.js';
import type { Recipe } from '../recipe/recipe.js';
import { renderRecipe } from '../variants/render.js';
import type { VariantConfig } from '../variants/variant-config.js';

/** A convention a recipe breaks, with where. */
export interface Finding {
  readonly file: string;
  readonly line: number | undefined;
  readonly rule: string;
  readonly message: string;
}

type Mapping = Record<string, unknown>;
type Path = ReadonlyArray<string | number>;

const specName = (spec: string): string => /^\s*([^\s<>=!~^*\[]+)/.exec(spec)?.[1] ?? '';
const isPinned = (spec: string): boolean => spec.trim() !== specName(spec);
const asMapping = (value: unknown): Mapping => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Mapping) : {});

/** The matrix a recipe is rendered with, for the findings that need its variants. */
export interface LintMatrix {
  readonly config: VariantConfig;
  readonly targetPlatform: string;
}

/**
 * The conventions of seed 000 (conda-forge's, for recipes meant to go
 * upstream), checked on the recipe as written so every finding has a line;
 * with a matrix, also the skip entries the engine would ignore.
 */
export function lintRecipe(recipe: Recipe, matrix?: LintMatrix): Finding[] {
  const findings: Finding[] = [];
  const report = (rule: string, message: string, path: Path) => findings.push({ file: recipe.file, line: recipe.yaml.lineOf(path), rule, message });
  const topBuild = asMapping(recipe.top.build);

  for (const output of recipe.outputs) {
    const build = { ...topBuild, ...asMapping(output.fields.build) };
    const requirements = asMapping(output.fields.requirements);
    const reqPath = [...output.path, 'requirements'];
    const host = specsWithPaths(requirements.host, [...reqPath, 'host']);
    const run = specsWithPaths(requirements.run, [...reqPath, 'run']);
    const variantPackage = build.noarch === undefined || build.noarch === null;
    const cuda = variantPackage && host.some(({ spec }) => specName(spec) === 'cuda-version');

    if (variantPackage) {
      for (const { spec, path } of host) {
        const name = specName(spec);
        if ((name === 'python' || name === 'cuda-version') && isPinned(spec)) {
          report('host-pin', `\`${spec.trim()}\` pins a variant key in host; write the bare name \`${name}\` so variants.yaml decides`, path);
        }
      }
    }
    if (cuda) {
      const useKeys = asMapping(build.variant).use_keys;
      if (!Array.isArray(useKeys) || !useKeys.includes('cuda_version')) {
        report('use-keys', 'a CUDA package needs `build.variant.use_keys: [cuda_version]` so the CUDA version is in the build hash', [...output.path, 'build']);
      }
    }
    const pinsCuda = run.some(({ spec }) => /pin_compatible\(\s*['"]cuda-version['"]/.test(spec));
    if (pinsCuda) {
      const ignore = asMapping(requirements.ignore_run_exports);
      const fromPackage = new Set((Array.isArray(ignore.from_package) ? ignore.from_package : []).map(String));
      const byName = new Set((Array.isArray(ignore.by_name) ? ignore.by_name : []).map(String));
      const devs = host.map(({ spec }) => specName(spec)).filter((name) => name.endsWith('-dev'));
      const missing = devs.filter((name) => !fromPackage.has(name));
      if (missing.length) {
        report('ignore-run-exports', `\`ignore_run_exports.from_package\` must list the -dev packages (${missing.join(', ')}) when run pins cuda-version with pin_compatible`, reqPath);
      }
      if (!byName.has('cuda-version')) {
        report('ignore-run-exports', '`ignore_run_exports.by_name` must list `cuda-version` when run pins it with pin_compatible', reqPath);
      }
    }
  }

  const maintainers = asMapping(recipe.top.extra)['recipe-maintainers'];
  if (!Array.isArray(maintainers) || maintainers.length === 0) report('maintainers', '`extra.recipe-maintainers` must list at least one maintainer', ['extra']);
  const about = asMapping(recipe.top.about);
  if (!about.license_file) report('license-file', '`about.license_file` is missing', ['about']);

  const sources = recipe.top.source === undefined ? [] : Array.isArray(recipe.top.source) ? recipe.top.source : [recipe.top.source];
  sources.forEach((raw, index) => {
    const source = asMapping(raw);
    const path = Array.isArray(recipe.top.source) ? ['source', index] : ['source'];
    if ('url' in source && !source.sha256 && !source.md5) report('source-pin', 'a `url` source needs a `sha256`', path);
    else if ('git' in source && !source.tag && !source.rev) report('source-pin', 'a `git` source needs a `tag` or a `rev` (commit)', path);
    else if ('path' in source) report('source-pin', 'a `path` source is not pinned; use a `url` with `sha256` or a `git` source with a `tag` or `rev`', path);
  });
  if (sources.length === 0) report('source-pin', 'the recipe has no source', []);
  for (const { call, spec, path } of matchCalls(recipe.yaml.value, [])) {
    const fix = matchSpecFix(spec);
    if (fix === undefined) continue;
    const effect = path.includes('skip') ? 'rattler-build ignores this skip entry and builds those variants' : 'rattler-build fails to render the recipe';
    report('match-spec', `\`${call}\`: ${fix}; as written, ${effect}`, path);
  }
  if (matrix) findings.push(...ignoredSkips(recipe, matrix, new Set(findings.map((f) => f.line))));
  return findings;
}

/** Skip entries that fail to evaluate for some variant (other than a match-spec finding on the same line). */
function ignoredSkips(recipe: Recipe, matrix: LintMatrix, reported: ReadonlySet<number | undefined>): Finding[] {
  const found = new Map<string, Finding>();
  renderRecipe(recipe, matrix.config, {
    targetPlatform: matrix.targetPlatform,
    onIgnoredSkip: (error) => {
      if (reported.has(error.line)) return;
      const message = `this skip entry cannot be evaluated (${error.message}); rattler-build ignores it and builds those variants`;
      found.set(`${error.line}\0${message}`, { file: recipe.file, line: error.line, rule: 'skip-ignored', message });
    },
  });
  return [...found.values()];
}

const MATCH_CALL = /\bmatch\(\s*[A-Za-z_][A-Za-z0-9_]*\s*,\s*(['"])(.*?)\1\s*\)/g;

/** Every `match(key, "spec")` with a literal spec, in any string of the recipe. */
function matchCalls(node: unknown, path: Path): Array<{ call: string; spec: string; path: Path }> {
  if (typeof node === 'string') return [...node.matchAll(MATCH_CALL)].map((m) => ({ call: m[0], spec: m[2]!, path }));
  if (Array.isArray(node)) return node.flatMap((item, index) => matchCalls(item, [...path, index]));
  if (typeof node === 'object' && node !== null) return Object.entries(node).flatMap(([key, value]) => matchCalls(value, [...path, key]));
  return [];
}

/** A version without an operator, as one term of a spec (`3.13` in `3.12.*|3.13`). */
const BARE_VERSION = /(^|[|,(])(\s*)(\d[0-9A-Za-z.+_!-]*)(?=\s*(?:$|[|,)]))/g;

/**
 * What to write instead of a spec rattler-build's match() rejects, or undefined when it
 * accepts it. The engine parses specs strictly: a bare version is not `==` there but an
 * error, which a skip entry swallows.
 */
function matchSpecFix(spec: string): string | undefined {
  try {
    strictVersionSpec(spec);
    return undefined;
  } catch {
    const exact = spec.replace(BARE_VERSION, '$1$2==$3');
    if (exact === spec) return `\`${spec}\` is not a version spec rattler-build accepts`;
    return `rattler-build does not read a bare version as a match; write \`${exact}\` (exactly) or \`${spec.replace(BARE_VERSION, '$1$2$3.*')}\` (any release of it)`;
  }
}

function specsWithPaths(node: unknown, path: Path): Array<{ spec: string; path: Path }> {
  const out: Array<{ spec: string; path: Path }> = [];
  if (!Array.isArray(node)) return out;
  node.forEach((item, index) => {
    const specs: string[] = [];
    collectSpecs(item, specs);
    for (const spec of specs) out.push({ spec, path: [...path, index] });
  });
  return out;
}
