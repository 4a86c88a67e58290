import { ForgeError } from '../errors.js';
import { licenseProblem } from './spdx-license.js';
import type { YamlFile } from './yaml-file.js';

type Path = ReadonlyArray<string | number>;

/**
 * The fields rattler-build's recipe parser (stage 0) accepts in each section
 * (py-rattler-build 0.73; `recipe-fields` in bad-input.test.ts checks every
 * one against the engine). The engine refuses any other field, so a
 * misspelled `requirements.hots` or `build.scirpt` would pass forge's render,
 * be left out of the prediction, and fail only when that variant builds.
 * `context` and `extra` are free-form.
 */
export const RECIPE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  package: ['name', 'version'],
  recipe: ['name', 'version'],
  build: ['number', 'string', 'script', 'steps', 'noarch', 'flags', 'python', 'skip', 'always_copy_files', 'always_include_files', 'merge_build_and_host_envs', 'files', 'dynamic_linking', 'variant', 'prefix_detection', 'post_process'],
  'build.script': ['interpreter', 'env', 'secrets', 'content', 'file', 'cwd'],
  'build.variant': ['use_keys', 'ignore_keys', 'down_prioritize_variant'],
  'build.python': ['entry_points', 'skip_pyc_compilation', 'use_python_app_entrypoint', 'version_independent', 'site_packages_path'],
  'build.dynamic_linking': ['rpaths', 'binary_relocation', 'missing_dso_allowlist', 'rpath_allowlist', 'overdepending_behavior', 'overlinking_behavior'],
  'build.prefix_detection': ['force_file_type', 'ignore', 'ignore_binary_files'],
  requirements: ['build', 'host', 'run', 'run_constraints', 'run_exports', 'ignore_run_exports'],
  'requirements.run_exports': ['noarch', 'strong', 'strong_constraints', 'weak', 'weak_constraints'],
  'requirements.ignore_run_exports': ['by_name', 'from_package'],
  about: ['homepage', 'repository', 'documentation', 'license', 'license_family', 'license_file', 'summary', 'description'],
  output: ['package', 'build', 'requirements', 'tests', 'about', 'source', 'staging', 'inherit'],
  // A `tests` entry: a script test's own fields, and the mapping under each other kind
  // (the engine takes any field beside a python, perl, r, ruby or package_contents test).
  'tests.script': ['script', 'requirements', 'files'],
  'tests.python': ['imports', 'pip_check', 'python_version'],
  'tests.perl': ['uses'],
  'tests.r': ['libraries'],
  'tests.ruby': ['requires'],
  'tests.package_contents': ['files', 'site_packages', 'bin', 'lib', 'include', 'strict'],
};

/** What makes a `tests` entry a test of its kind; an entry with none is refused. */
const TEST_KINDS = ['python', 'perl', 'r', 'ruby', 'script', 'downstream', 'package_contents'];

/** A source's fields by its kind (the field that names where it comes from). */
export const SOURCE_FIELDS: Readonly<Record<'url' | 'git' | 'path', readonly string[]>> = {
  url: ['url', 'sha256', 'md5', 'file_name', 'patches', 'target_directory', 'filter', 'attestation'],
  git: ['git', 'rev', 'tag', 'branch', 'depth', 'lfs', 'patches', 'target_directory', 'filter', 'expected_commit', 'submodules'],
  path: ['path', 'sha256', 'md5', 'file_name', 'patches', 'target_directory', 'filter', 'use_gitignore'],
};

/** A YAML value as the engine's parser sees it: a scalar (text, a number, a boolean, a template), a list, a mapping. */
export type Shape = 'text' | 'list' | 'mapping';
const TEXT: readonly Shape[] = ['text'];
const LIST: readonly Shape[] = ['list'];
const MAPPING: readonly Shape[] = ['mapping'];
const TEXT_OR_LIST: readonly Shape[] = ['text', 'list'];
const LIST_OR_MAPPING: readonly Shape[] = ['list', 'mapping'];

/**
 * The shapes rattler-build's parser (stage 0) takes for each field, by the tables
 * above (`source.*` for every kind of source): it refuses any other shape, a list as
 * `about.license` say, with no line ("expected scalar but got non-scalar"), and only
 * when that variant builds, after forge had predicted a package from it. The sections
 * themselves are keyed by name alone, as they stand in a recipe and in an output.
 * `shapes` in bad-input.test.ts checks every entry against the engine.
 */
export const FIELD_SHAPES: Readonly<Record<string, readonly Shape[]>> = {
  package: MAPPING, recipe: MAPPING, build: MAPPING, requirements: MAPPING, about: MAPPING, context: MAPPING, extra: MAPPING,
  source: LIST_OR_MAPPING, tests: LIST, staging: MAPPING, inherit: ['text', 'mapping'],
  'package.name': TEXT, 'package.version': TEXT, 'recipe.name': TEXT, 'recipe.version': TEXT,
  'build.number': TEXT, 'build.string': TEXT, 'build.noarch': TEXT, 'build.merge_build_and_host_envs': TEXT,
  'build.script': ['text', 'list', 'mapping'], 'build.skip': TEXT_OR_LIST, 'build.flags': LIST, 'build.always_copy_files': LIST, 'build.always_include_files': LIST,
  'build.files': LIST_OR_MAPPING, 'build.python': MAPPING, 'build.dynamic_linking': MAPPING, 'build.variant': MAPPING, 'build.prefix_detection': MAPPING,
  'build.script.interpreter': TEXT, 'build.script.env': MAPPING, 'build.script.secrets': LIST, 'build.script.content': TEXT_OR_LIST,
  'build.script.file': TEXT, 'build.script.cwd': TEXT,
  'build.variant.use_keys': LIST, 'build.variant.ignore_keys': LIST, 'build.variant.down_prioritize_variant': TEXT,
  'build.python.entry_points': LIST, 'build.python.skip_pyc_compilation': LIST, 'build.python.use_python_app_entrypoint': TEXT,
  'build.python.version_independent': TEXT, 'build.python.site_packages_path': TEXT,
  'build.dynamic_linking.rpaths': LIST, 'build.dynamic_linking.binary_relocation': TEXT_OR_LIST, 'build.dynamic_linking.missing_dso_allowlist': LIST,
  'build.dynamic_linking.rpath_allowlist': LIST, 'build.dynamic_linking.overdepending_behavior': TEXT, 'build.dynamic_linking.overlinking_behavior': TEXT,
  'build.prefix_detection.force_file_type': MAPPING, 'build.prefix_detection.ignore': TEXT_OR_LIST, 'build.prefix_detection.ignore_binary_files': TEXT,
  'requirements.build': LIST, 'requirements.host': LIST, 'requirements.run': LIST, 'requirements.run_constraints': LIST,
  'requirements.run_exports': LIST_OR_MAPPING, 'requirements.ignore_run_exports': MAPPING,
  'requirements.run_exports.noarch': LIST, 'requirements.run_exports.strong': LIST, 'requirements.run_exports.strong_constraints': LIST,
  'requirements.run_exports.weak': LIST, 'requirements.run_exports.weak_constraints': LIST,
  'requirements.ignore_run_exports.by_name': LIST, 'requirements.ignore_run_exports.from_package': LIST,
  'about.homepage': TEXT, 'about.repository': TEXT, 'about.documentation': TEXT, 'about.license': TEXT, 'about.license_family': TEXT,
  'about.license_file': TEXT_OR_LIST, 'about.summary': TEXT, 'about.description': TEXT,
  'tests.script.script': ['text', 'list', 'mapping'], 'tests.script.requirements': MAPPING, 'tests.script.files': MAPPING,
  'tests.python.imports': TEXT_OR_LIST, 'tests.python.pip_check': TEXT, 'tests.python.python_version': TEXT_OR_LIST,
  'tests.perl.uses': LIST, 'tests.r.libraries': LIST, 'tests.ruby.requires': LIST,
  'tests.package_contents.files': LIST_OR_MAPPING, 'tests.package_contents.site_packages': LIST_OR_MAPPING, 'tests.package_contents.bin': LIST_OR_MAPPING,
  'tests.package_contents.lib': LIST_OR_MAPPING, 'tests.package_contents.include': LIST_OR_MAPPING, 'tests.package_contents.strict': TEXT,
  'source.url': TEXT_OR_LIST, 'source.sha256': TEXT, 'source.md5': TEXT, 'source.file_name': TEXT, 'source.patches': LIST,
  'source.target_directory': TEXT, 'source.filter': LIST_OR_MAPPING, 'source.attestation': MAPPING,
  'source.git': TEXT, 'source.rev': TEXT, 'source.tag': TEXT, 'source.branch': TEXT, 'source.depth': TEXT, 'source.lfs': TEXT,
  'source.expected_commit': TEXT, 'source.submodules': TEXT, 'source.path': TEXT, 'source.use_gitignore': TEXT,
};

/**
 * Lists whose items the engine reads as text (a match spec, a key, a file name): an item
 * that is a list or a mapping is refused, but for a conditional (`if`/`then`/`else`),
 * whose branches are text or lists of text.
 */
export const TEXT_ITEMS: ReadonlySet<string> = new Set([
  'build.script', 'build.skip', 'build.flags', 'build.always_copy_files', 'build.always_include_files', 'build.script.content',
  'build.variant.use_keys', 'build.variant.ignore_keys', 'build.python.entry_points', 'build.python.skip_pyc_compilation',
  'build.dynamic_linking.rpaths', 'build.dynamic_linking.missing_dso_allowlist', 'build.dynamic_linking.rpath_allowlist',
  'requirements.build', 'requirements.host', 'requirements.run', 'requirements.run_constraints',
  'requirements.run_exports.noarch', 'requirements.run_exports.strong', 'requirements.run_exports.strong_constraints',
  'requirements.run_exports.weak', 'requirements.run_exports.weak_constraints',
  'requirements.ignore_run_exports.by_name', 'requirements.ignore_run_exports.from_package',
  'about.license_file', 'tests.script.script', 'tests.python.imports', 'tests.perl.uses', 'tests.r.libraries', 'tests.ruby.requires', 'source.patches',
]);

/**
 * The fields the engine reads as a boolean, by the words each of its parsers takes: most
 * a YAML boolean (`true`, `True`, `TRUE`, `false`…, unquoted: what the YAML reader gives
 * as a boolean) or a template, `use_gitignore` no template; `version_independent` the
 * text `true` or `false`, quoted or not, or a template; `strict` true, True, yes, Yes and
 * their negatives, quoted or not, and no template. Anything else (`maybe`, `"true"` for
 * most) the engine refuses with no line, when the variant builds. `every boolean field`
 * in bad-input.test.ts checks each field and word against the engine.
 */
type BooleanWords = 'yaml' | 'yaml-only' | 'true-false' | 'yes-no';
export const BOOLEAN_FIELDS: Readonly<Record<string, BooleanWords>> = {
  'build.merge_build_and_host_envs': 'yaml', 'build.python.use_python_app_entrypoint': 'yaml', 'build.python.version_independent': 'true-false',
  'build.dynamic_linking.binary_relocation': 'yaml', 'build.prefix_detection.ignore': 'yaml', 'build.prefix_detection.ignore_binary_files': 'yaml',
  'tests.python.pip_check': 'yaml', 'tests.package_contents.strict': 'yes-no', 'source.lfs': 'yaml', 'source.submodules': 'yaml', 'source.use_gitignore': 'yaml-only',
};
const BOOLEAN_TEXTS: Readonly<Record<'true-false' | 'yes-no', readonly string[]>> = {
  'true-false': ['true', 'false'],
  'yes-no': ['true', 'True', 'yes', 'Yes', 'false', 'False', 'no', 'No'],
};
const BOOLEAN_TAKES: Readonly<Record<BooleanWords, string>> = {
  yaml: 'true or false, unquoted, or a ${{ … }} template',
  'yaml-only': 'true or false, unquoted',
  'true-false': 'true or false, or a ${{ … }} template',
  'yes-no': 'true, false, yes or no',
};

const SECTIONS = ['package', 'recipe', 'build', 'requirements', 'about'] as const;
const NESTED: Record<string, readonly string[]> = {
  build: ['script', 'variant', 'python', 'dynamic_linking', 'prefix_detection'],
  requirements: ['run_exports', 'ignore_run_exports'],
};

type Mapping = Record<string, unknown>;
const isMapping = (value: unknown): value is Mapping => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Refuses a field the engine does not know, naming the line; `fields` is the top level or one output. */
export function checkFields(yaml: YamlFile, fields: Mapping, path: Path, isOutput: boolean): void {
  if (isOutput) checkKeys(yaml, fields, path, 'an output', RECIPE_FIELDS.output!);
  for (const [key, value] of Object.entries(fields)) checkShape(yaml, value, [...path, key], key);
  if (isMapping(fields.context)) for (const [key, value] of Object.entries(fields.context)) checkShape(yaml, value, [...path, 'context', key], 'context.*');
  for (const section of SECTIONS) {
    const value = fields[section];
    if (!isMapping(value)) continue;
    checkKeys(yaml, value, [...path, section], `\`${section}\``, RECIPE_FIELDS[section]!, section);
    for (const inner of NESTED[section] ?? []) {
      const name = `${section}.${inner}`;
      if (isMapping(value[inner])) checkKeys(yaml, value[inner], [...path, section, inner], `\`${name}\``, RECIPE_FIELDS[name]!, name);
    }
  }
  if (isMapping(fields.about)) {
    checkLicense(yaml, fields.about.license, [...path, 'about', 'license']);
    for (const key of ['homepage', 'repository', 'documentation']) checkUrl(yaml, fields.about[key], [...path, 'about', key]);
  }
  const env = isMapping(fields.build) && isMapping(fields.build.script) ? fields.build.script.env : undefined;
  if (isMapping(env)) for (const [key, value] of Object.entries(env)) checkShape(yaml, value, [...path, 'build', 'script', 'env', key], 'build.script.env.*');
  checkSources(yaml, fields.source, [...path, 'source']);
  checkTests(yaml, fields.tests, [...path, 'tests']);
}

function checkTests(yaml: YamlFile, node: unknown, path: Path): void {
  if (Array.isArray(node)) node.forEach((item, i) => checkTests(yaml, item, [...path, i]));
  else if (isMapping(node)) {
    if ('if' in node) {
      checkTests(yaml, node.then, [...path, 'then']);
      checkTests(yaml, node.else, [...path, 'else']);
      return;
    }
    const kinds = TEST_KINDS.filter((kind) => kind in node);
    if (kinds.length === 0) throw new ForgeError(`a test needs one of: ${TEST_KINDS.join(', ')}`, { file: yaml.path, line: yaml.lineOf(path) });
    if (kinds.length > 1) return;
    const [kind] = kinds as [string];
    if (kind === 'script') checkKeys(yaml, node, path, 'a script test', RECIPE_FIELDS['tests.script']!, 'tests.script');
    else if (kind === 'downstream') checkKeys(yaml, node, path, 'a downstream test', ['downstream']);
    else if (isMapping(node[kind])) checkKeys(yaml, node[kind], [...path, kind], `a ${kind} test`, RECIPE_FIELDS[`tests.${kind}`]!, `tests.${kind}`);
  }
}

function checkSources(yaml: YamlFile, node: unknown, path: Path): void {
  if (Array.isArray(node)) node.forEach((item, i) => checkSources(yaml, item, [...path, i]));
  else if (isMapping(node)) {
    if ('if' in node) {
      checkSources(yaml, node.then, [...path, 'then']);
      checkSources(yaml, node.else, [...path, 'else']);
      return;
    }
    const kind = (['url', 'git', 'path'] as const).find((k) => k in node);
    if (kind) checkKeys(yaml, node, path, `a ${kind} source`, SOURCE_FIELDS[kind], 'source');
  }
}

/** Refuses a field the engine does not know; with `table`, also a known field of a shape the engine refuses. */
function checkKeys(yaml: YamlFile, value: Mapping, path: Path, where: string, known: readonly string[], table?: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ForgeError(`unknown field \`${key}\` in ${where} (rattler-build knows: ${known.join(', ')})`, { file: yaml.path, line: yaml.lineOf([...path, key]) });
    }
    if (table !== undefined) checkShape(yaml, value[key], [...path, key], `${table}.${key}`);
  }
}

/** `about.license` is an SPDX expression the engine refuses when the variant builds, with no line (see spdx-license.ts). */
function checkLicense(yaml: YamlFile, value: unknown, path: Path): void {
  if (typeof value !== 'string' || value.includes('${{')) return;
  const problem = licenseProblem(value);
  if (problem) throw new ForgeError(`\`${path.filter((p) => typeof p === 'string').join('.')}\` \`${value}\` ${problem}`, { file: yaml.path, line: yaml.lineOf(path) });
}

/** The engine parses `about` links as absolute URLs: `github.com/x` is refused ("relative URL without a base"). A URL starts with its scheme. */
function checkUrl(yaml: YamlFile, value: unknown, path: Path): void {
  if (typeof value !== 'string' || value.includes('${{') || /^\s*[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return;
  throw new ForgeError(`\`${path.filter((p) => typeof p === 'string').join('.')}\` \`${value}\` is not an absolute URL, which rattler-build requires (write https://${value.trim() || '…'})`, { file: yaml.path, line: yaml.lineOf(path) });
}

/** Context values are text or lists of text; script variables are text. */
const VALUE_SHAPES: Readonly<Record<string, readonly Shape[]>> = { 'context.*': TEXT_OR_LIST, 'build.script.env.*': TEXT };

function checkShape(yaml: YamlFile, value: unknown, path: Path, field: string): void {
  const shapes = FIELD_SHAPES[field] ?? VALUE_SHAPES[field];
  // A field left empty is the engine's to judge (it takes some, refuses others, for their value).
  if (shapes === undefined || value === null || value === undefined) return;
  const shape = shapeOf(value);
  if (!shapes.includes(shape)) refuseShape(yaml, path, shapes, shape);
  const words = BOOLEAN_FIELDS[field];
  if (words !== undefined && shape === 'text') checkBoolean(yaml, value, path, words);
  if (shape !== 'list') return;
  if (TEXT_ITEMS.has(field) || field === 'context.*') (value as unknown[]).forEach((item, i) => checkTextItem(yaml, item, [...path, i]));
  // A source or a test is a mapping (a conditional one too).
  if (field === 'source' || field === 'tests') (value as unknown[]).forEach((item, i) => item !== null && !isMapping(item) && refuseShape(yaml, [...path, i], MAPPING, shapeOf(item)));
}

function checkBoolean(yaml: YamlFile, value: unknown, path: Path, words: BooleanWords): void {
  const template = typeof value === 'string' && value.includes('${{') && (words === 'yaml' || words === 'true-false');
  // The text as written: the YAML reader makes `True` a boolean and `1` a number.
  const text = typeof value === 'string' ? value : (yaml.sourceOf(path) ?? String(value));
  const taken = words === 'yaml' || words === 'yaml-only' ? typeof value === 'boolean' : BOOLEAN_TEXTS[words].includes(text);
  if (template || taken) return;
  const written = typeof value === 'string' ? `the text ${JSON.stringify(value)}` : `\`${text}\``;
  throw new ForgeError(`\`${dotted(path)}\` is ${written}, where rattler-build takes a boolean: ${BOOLEAN_TAKES[words]}`, { file: yaml.path, line: yaml.lineOf(path) });
}

/** A list item read as text, or a conditional whose branches are text or lists of text. */
function checkTextItem(yaml: YamlFile, item: unknown, path: Path): void {
  if (item === null || shapeOf(item) === 'text') return;
  if (isMapping(item) && 'if' in item) {
    for (const branch of ['then', 'else'] as const) {
      const value = item[branch];
      if (Array.isArray(value)) value.forEach((inner, i) => checkTextItem(yaml, inner, [...path, branch, i]));
      else if (value !== undefined && value !== null && shapeOf(value) !== 'text') refuseShape(yaml, [...path, branch], ['text', 'list'], shapeOf(value));
    }
    return;
  }
  refuseShape(yaml, path, ['text'], shapeOf(item));
}

function shapeOf(value: unknown): Shape {
  return Array.isArray(value) ? 'list' : isMapping(value) ? 'mapping' : 'text';
}

const SHAPE_NAMES: Readonly<Record<Shape, string>> = { text: 'text', list: 'a list', mapping: 'a mapping' };

function refuseShape(yaml: YamlFile, path: Path, shapes: readonly Shape[], got: Shape): never {
  throw new ForgeError(`\`${dotted(path)}\` must be ${shapes.map((s) => SHAPE_NAMES[s]).join(' or ')}, got ${SHAPE_NAMES[got]} (rattler-build refuses it)`, { file: yaml.path, line: yaml.lineOf(path) });
}

/** `source[0].lfs`: a path as the recipe's reader would name it. */
function dotted(path: Path): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}
