import { dirname } from 'node:path';
import { ForgeError } from '../errors.js';
import { checkFields } from './recipe-fields.js';
import { readYamlFile, type YamlFile } from './yaml-file.js';

type Mapping = Record<string, unknown>;

/** One package a recipe produces, before evaluation. */
export interface OutputSource {
  /** Where in the YAML this output's own fields live (`[]` or `['outputs', i]`). */
  readonly path: ReadonlyArray<string | number>;
  readonly fields: Mapping;
  /** A staging output's name: it builds no package, and the outputs that `inherit` it take its variant keys. */
  readonly staging?: string;
  /** The staging output this one inherits from (`inherit: name` or `inherit: {from: name}`). */
  readonly inherit?: string;
}

/**
 * A recipe v1 file, parsed but not evaluated (rattler-build's stage 0):
 * its context, the top-level sections shared by all outputs, and the outputs.
 */
export interface Recipe {
  readonly file: string;
  readonly dir: string;
  readonly yaml: YamlFile;
  readonly context: Mapping;
  /** Top-level sections: package or recipe, source, build, about, extra. */
  readonly top: Mapping;
  readonly outputs: readonly OutputSource[];
  readonly multiOutput: boolean;
}

const SINGLE_KEYS = new Set(['schema_version', 'context', 'package', 'source', 'build', 'requirements', 'tests', 'about', 'extra']);
const MULTI_KEYS = new Set(['schema_version', 'context', 'recipe', 'source', 'build', 'outputs', 'about', 'extra', 'tests']);

export function loadRecipe(file: string, text?: string): Recipe {
  return parseRecipe(readYamlFile(file, text));
}

export function parseRecipe(yaml: YamlFile): Recipe {
  const file = yaml.path;
  const root = yaml.value;
  if (root === null || root === undefined) throw new ForgeError('the recipe is empty (it needs at least `package: {name, version}`)', { file, line: 1 });
  if (typeof root !== 'object' || Array.isArray(root)) throw new ForgeError('a recipe must be a YAML mapping', { file, line: 1 });
  const top = root as Mapping;
  const multiOutput = 'outputs' in top;
  const allowed = multiOutput ? MULTI_KEYS : SINGLE_KEYS;
  for (const key of Object.keys(top)) {
    if (!allowed.has(key)) {
      const hint =
        key === 'requirements' && multiOutput
          ? ' (a multi-output recipe puts requirements in each output)'
          : key === 'cache'
            ? ' (rattler-build replaced the top-level `cache:` with staging outputs: `outputs: [{staging: {name: …}}, {package: …, inherit: …}]`; `rattler-build migrate-recipe` converts it)'
            : '';
      throw new ForgeError(`unknown top-level key \`${key}\`${hint}`, { file, line: yaml.lineOf([key]) });
    }
  }
  if ('schema_version' in top && String(top.schema_version) !== '1') {
    throw new ForgeError(`unsupported \`schema_version\` ${JSON.stringify(top.schema_version)}: rattler-build reads recipe format 1 only`, { file, line: yaml.lineOf(['schema_version']) });
  }
  emptySections(top, yaml, []);
  const context = mapping(top.context ?? {}, yaml, ['context']);
  if (!multiOutput) {
    if (!('package' in top)) throw new ForgeError('a recipe needs a `package` section (or `recipe` with `outputs`)', { file, line: 1 });
    mapping(top.package, yaml, ['package']);
    checkFields(yaml, top, [], false);
    return { file, dir: dirname(file), yaml, context, top, outputs: [{ path: [], fields: top }], multiOutput };
  }
  if (!Array.isArray(top.outputs) || top.outputs.length === 0) {
    throw new ForgeError('`outputs` must be a non-empty list', { file, line: yaml.lineOf(['outputs']) });
  }
  checkFields(yaml, top, [], false);
  const outputs = top.outputs.map((output, index): OutputSource => {
    const fields = mapping(output, yaml, ['outputs', index]);
    checkFields(yaml, fields, ['outputs', index], true);
    emptySections(fields, yaml, ['outputs', index]);
    const path = ['outputs', index];
    const staging = (fields.staging as Mapping | undefined)?.name;
    const inherit = typeof fields.inherit === 'string' ? fields.inherit : (fields.inherit as Mapping | undefined)?.from;
    return { path, fields, ...(staging === undefined ? {} : { staging: String(staging) }), ...(inherit === undefined ? {} : { inherit: String(inherit) }) };
  });
  const stagings = new Set(outputs.flatMap((o) => (o.staging === undefined ? [] : [o.staging])));
  for (const output of outputs) {
    if (output.inherit !== undefined && !stagings.has(output.inherit)) {
      throw new ForgeError(`\`inherit: ${output.inherit}\` names no staging output of this recipe`, { file, line: yaml.lineOf([...output.path, 'inherit']) });
    }
  }
  return { file, dir: dirname(file), yaml, context, top, outputs, multiOutput };
}

/** rattler-build refuses a section left empty (`about:` with nothing under it) rather than take it as absent. */
function emptySections(fields: Mapping, yaml: YamlFile, path: ReadonlyArray<string | number>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value === null) throw new ForgeError(`\`${[...path, key].join('.')}\` is empty: rattler-build refuses an empty section (leave it out, or write \`{}\` or \`[]\`)`, { file: yaml.path, line: yaml.lineOf([...path, key]) });
  }
}

function mapping(value: unknown, yaml: YamlFile, path: ReadonlyArray<string | number>): Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ForgeError(`\`${path.join('.')}\` must be a mapping`, { file: yaml.path, line: yaml.lineOf(path) });
  }
  return value as Mapping;
}

/** Patch files a recipe names in its sources (in every branch), with the YAML path of each. */
export function namedPatches(recipe: Recipe): Array<{ patch: string; path: ReadonlyArray<string | number> }> {
  return sourceStrings(recipe, 'patches').map(({ value, path }) => ({ patch: value, path }));
}

/**
 * Local source folders or files (`source.path`, in every branch and output), relative to
 * the recipe folder, with the YAML path of each: the engine reads them, so they are build inputs.
 */
export function localSources(recipe: Recipe): Array<{ source: string; path: ReadonlyArray<string | number> }> {
  return sourceStrings(recipe, 'path').map(({ value, path }) => ({ source: value, path }));
}

/** The strings under one field of every source entry (a list under `patches`), through if/then/else. */
function sourceStrings(recipe: Recipe, field: 'patches' | 'path'): Array<{ value: string; path: ReadonlyArray<string | number> }> {
  const found: Array<{ value: string; path: ReadonlyArray<string | number> }> = [];
  const strings = (node: unknown, path: ReadonlyArray<string | number>): void => {
    if (typeof node === 'string') found.push({ value: node, path });
    else if (Array.isArray(node)) node.forEach((item, i) => strings(item, [...path, i]));
    else if (typeof node === 'object' && node !== null) {
      const entry = node as Mapping;
      if ('then' in entry) strings(entry.then, [...path, 'then']);
      if ('else' in entry) strings(entry.else, [...path, 'else']);
    }
  };
  const sources = (node: unknown, path: ReadonlyArray<string | number>): void => {
    if (Array.isArray(node)) node.forEach((item, i) => sources(item, [...path, i]));
    else if (typeof node === 'object' && node !== null) {
      const entry = node as Mapping;
      if ('then' in entry) sources(entry.then, [...path, 'then']);
      if ('else' in entry) sources(entry.else, [...path, 'else']);
      if (field in entry) strings(entry[field], [...path, field]);
    }
  };
  sources(recipe.top.source, ['source']);
  for (const output of recipe.outputs) {
    if (output.path.length) sources(output.fields.source, [...output.path, 'source']);
  }
  return found;
}
