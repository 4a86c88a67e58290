import { ForgeError } from '../errors.js';
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
  for (const section of SECTIONS) {
    const value = fields[section];
    // Anything but a mapping (a template, a list) is for the render to judge.
    if (!isMapping(value)) continue;
    checkKeys(yaml, value, [...path, section], `\`${section}\``, RECIPE_FIELDS[section]!);
    for (const inner of NESTED[section] ?? []) {
      const name = `${section}.${inner}`;
      if (isMapping(value[inner])) checkKeys(yaml, value[inner], [...path, section, inner], `\`${name}\``, RECIPE_FIELDS[name]!);
    }
  }
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
    if (kind === 'script') checkKeys(yaml, node, path, 'a script test', RECIPE_FIELDS['tests.script']!);
    else if (kind === 'downstream') checkKeys(yaml, node, path, 'a downstream test', ['downstream']);
    else if (isMapping(node[kind])) checkKeys(yaml, node[kind], [...path, kind], `a ${kind} test`, RECIPE_FIELDS[`tests.${kind}`]!);
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
    if (kind) checkKeys(yaml, node, path, `a ${kind} source`, SOURCE_FIELDS[kind]);
  }
}

function checkKeys(yaml: YamlFile, value: Mapping, path: Path, where: string, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new ForgeError(`unknown field \`${key}\` in ${where} (rattler-build knows: ${known.join(', ')})`, { file: yaml.path, line: yaml.lineOf([...path, key]) });
    }
  }
}
