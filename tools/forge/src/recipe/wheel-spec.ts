import { posix } from 'node:path';
import { ForgeError } from '../errors.js';
import { normalizeKey } from '../variants/keys.js';
import { parseYamlText, type YamlFile } from './yaml-file.js';

/**
 * A wheel project file, `pkgs/<name>/wheel/wheel.yaml`: where the source comes
 * from, which variant keys it is built for, how it is built, labelled and
 * tested. Strings marked "template" may use `${{ key }}` with the variant's
 * values (the recipe v1 syntax, rendered by the same minijinja helper).
 */
export interface WheelSpec {
  /** Workspace-relative path of the file. */
  readonly file: string;
  readonly yaml: YamlFile;
  /** Distribution name of the wheel the build produces. */
  readonly name: string;
  /** The version the build must produce (checked after the build). */
  readonly version: string;
  /** Wheel build tag (PEP 427); bump it to republish a wheel whose inputs changed. */
  readonly buildNumber: number | undefined;
  readonly source: WheelSource;
  readonly variant: {
    /** variants.yaml keys this project is built for, normalized; zip_keys are honoured. */
    readonly keys: readonly string[];
    /**
     * This project's own values for some keys, instead of variants.yaml's (a
     * CUDA 13.0 x torch 2.11 wheel in a workspace whose recipes stop at 12.9).
     */
    readonly values: Readonly<Record<string, readonly string[]>>;
    /** `variant`: forge adds the provider defaults (CUDA_HOME, PATH, TORCH_CUDA_ARCH_LIST); `variant-name`: forge only labels. */
    readonly mode: 'variant' | 'variant-name';
    /** Wheel-variant properties, `namespace :: feature :: value` (templates). */
    readonly properties: readonly string[];
    /** TORCH_CUDA_ARCH_LIST instead of the default table's (template). */
    readonly cudaArchList: string | undefined;
  };
  readonly build: {
    readonly environment: WheelEnvironmentKind;
    /** pip requirement specs of the build environment (templates); names of wheel projects here are upstream wheels. */
    readonly requirements: readonly string[];
    /** Shell command run in the source folder instead of the pypa build (template); it must leave the wheel in $WHEEL_DIR. */
    readonly command: string | undefined;
    /** Extra environment variables (values are templates). */
    readonly env: Readonly<Record<string, string>>;
    /**
     * Environment for toolchain ranges: each entry's `then` (or `else`) applies
     * when its `if` selector, evaluated with the variant's values, holds;
     * applied in order after `env`, a later value replaces an earlier one.
     */
    readonly toolchainEnv: readonly ToolchainEnv[];
    /** Passed to the build frontend as `-C key=value` (values are templates). */
    readonly configSettings: ReadonlyArray<readonly [string, string]>;
    /** `docker`: image instead of the base-image map's (template). */
    readonly image: string | undefined;
    /** `docker`: run the container with `--gpus all`. */
    readonly gpus: boolean;
    /** Run auditwheel repair where the platform allows. */
    readonly repair: boolean;
    /** Library patterns auditwheel must not bundle, in addition to the default list. */
    readonly repairExclude: readonly string[];
  };
  readonly test: {
    readonly imports: readonly string[];
    /** Shell commands (templates), run with the test environment's python first on PATH. */
    readonly commands: readonly string[];
  };
}

/** One `build.toolchain_env` entry: `if: match(cuda_version, ">=13")`, `then: {NVCC_FLAGS: …}`, optional `else`. */
export interface ToolchainEnv {
  /** A bare selector expression, as a recipe's `if:` (no `${{ }}`). */
  readonly if: string;
  readonly then: Readonly<Record<string, string>>;
  readonly else: Readonly<Record<string, string>>;
}

export type WheelEnvironmentKind = 'host' | 'venv' | 'docker';
export const ENVIRONMENT_KINDS: readonly WheelEnvironmentKind[] = ['host', 'venv', 'docker'];

export type WheelSource =
  | {
      readonly kind: 'git';
      readonly url: string;
      /** A full commit, or a tag resolved to one (never a branch). */
      readonly rev: string | undefined;
      readonly tag: string | undefined;
      readonly subdirectory: string | undefined;
      /** Workspace-relative patch files, applied in order at the source root. */
      readonly patches: readonly string[];
    }
  | {
      readonly kind: 'path';
      /** Workspace-relative folder. */
      readonly path: string;
      readonly subdirectory: string | undefined;
      readonly patches: readonly string[];
    };


type Path = ReadonlyArray<string | number>;

/** Field checks that name the file and line, one error at a time, as the recipe parser does. */
class Fields {
  constructor(readonly yaml: YamlFile) {}

  fail(message: string, path: Path): never {
    throw new ForgeError(message, { file: this.yaml.path, line: this.yaml.lineOf(path) });
  }

  /** A mapping; with `known`, any other key is an error. */
  mapping(value: unknown, path: Path, known: readonly string[] | undefined): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(`${path.length ? `\`${dotted(path)}\`` : 'the file'} must be a mapping`, path);
    const map = value as Record<string, unknown>;
    for (const key of Object.keys(map)) {
      if (known && !known.includes(key)) this.fail(`unknown field \`${dotted([...path, key])}\` (known: ${known!.join(', ')})`, [...path, key]);
    }
    return map;
  }

  string(value: unknown, path: Path): string {
    if (typeof value === 'number' && this.yaml.sourceOf(path) !== undefined) return this.yaml.sourceOf(path)!;
    if (typeof value !== 'string' || value.trim() === '') this.fail(`\`${dotted(path)}\` must be a non-empty string`, path);
    return value;
  }

  optionalString(value: unknown, path: Path): string | undefined {
    return value === undefined ? undefined : this.string(value, path);
  }

  strings(value: unknown, path: Path): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(`\`${dotted(path)}\` must be a list of strings`, path);
    return value.map((item, index) => this.string(item, [...path, index]));
  }

  boolean(value: unknown, path: Path, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.fail(`\`${dotted(path)}\` must be true or false`, path);
    return value;
  }

  oneOf<T extends string>(value: unknown, path: Path, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) this.fail(`\`${dotted(path)}\` must be one of ${allowed.join(', ')}, got \`${typeof value === 'string' ? value : JSON.stringify(value)}\``, path);
    return value as T;
  }

  /** A relative path that stays inside its base folder once joined. */
  relative(value: unknown, path: Path, base: string, what: string, mayLeave = false): string {
    const text = this.string(value, path);
    if (posix.isAbsolute(text)) this.fail(`${what} \`${text}\` must be relative`, path);
    const joined = posix.normalize(posix.join(base, text));
    if (!mayLeave && (joined === '..' || joined.startsWith('../') || posix.relative(base, joined).startsWith('..'))) {
      this.fail(`${what} \`${text}\` leaves its folder`, path);
    }
    return joined;
  }
}

const dotted = (path: Path): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');

const TOP = ['name', 'version', 'build_number', 'source', 'variant', 'build', 'test'];
const SOURCE = ['git', 'rev', 'tag', 'path', 'subdirectory', 'patches'];
const VARIANT = ['keys', 'values', 'mode', 'properties', 'cuda_arch_list'];
const BUILD = ['environment', 'requirements', 'command', 'env', 'toolchain_env', 'config_settings', 'image', 'gpus', 'repair', 'repair_exclude'];
const TOOLCHAIN_ENV = ['if', 'then', 'else'];
const TEST = ['imports', 'commands'];

/** PEP 440's version pattern (packaging's VERSION_PATTERN), case-insensitive. */
const PEP440 = /^\s*v?(?:(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?)(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;
const PRE: Record<string, string> = { alpha: 'a', a: 'a', beta: 'b', b: 'b', c: 'rc', pre: 'rc', preview: 'rc', rc: 'rc' };

/** A version in PEP 440's normal form, as packaging's `str(Version(text))` writes it; undefined for no version. */
export function normalVersion(text: string): string | undefined {
  const m = PEP440.exec(text);
  if (!m) return undefined;
  const number = (digits: string | undefined) => (digits ?? '0').replace(/^0+(?=\d)/, '');
  const [, epoch, release, preL, preN, postN1, postL, postN2, devL, devN, local] = m;
  let out = epoch !== undefined && number(epoch) !== '0' ? `${number(epoch)}!` : '';
  out += release!.split('.').map(number).join('.');
  if (preL) out += `${PRE[preL.toLowerCase()]}${number(preN)}`;
  if (postN1 !== undefined || postL) out += `.post${number(postN1 ?? postN2)}`;
  if (devL) out += `.dev${number(devN)}`;
  if (local) out += `+${local.toLowerCase().split(/[-_.]/).map((part) => (/^\d+$/.test(part) ? number(part) : part)).join('.')}`;
  return out;
}

/** `name==1.0` -> `name`: the distribution a requirement names (PEP 508), normalized (PEP 503). */
export function requirementName(spec: string): string | undefined {
  const match = /^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)/.exec(spec);
  return match ? normalizeDistName(match[1]!) : undefined;
}

/** PEP 503 normalization: runs of `-`, `_`, `.` become `-`, lower case. */
export function normalizeDistName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Parses and validates a wheel project file. Workspace-relative `file`; patch
 * and path sources are resolved against its folder. Unknown fields and wrong
 * types are errors naming the file and line.
 */
export function parseWheelSpec(file: string, text: string): WheelSpec {
  const yaml = parseYamlText(file, text);
  const f = new Fields(yaml);
  const top = f.mapping(yaml.value ?? {}, [], TOP);
  const dir = posix.dirname(file);
  for (const required of ['name', 'version', 'source', 'variant']) {
    if (!(required in top)) f.fail(`missing field \`${required}\``, []);
  }
  const name = f.string(top.name, ['name']);
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name)) f.fail(`\`name\` \`${name}\` is not a valid distribution name`, ['name']);
  const version = f.string(top.version, ['version']);
  // The build names its wheel by the normal form, and the check after it compares names exactly.
  const normal = normalVersion(version);
  if (normal === undefined) f.fail(`\`version\` \`${version}\` is not a PEP 440 version`, ['version']);
  if (normal !== version) f.fail(`\`version\` \`${version}\` is \`${normal}\` in PEP 440's normal form, which the wheel's file name will have: write \`${normal}\``, ['version']);
  let buildNumber: number | undefined;
  if (top.build_number !== undefined) {
    if (typeof top.build_number !== 'number' || !Number.isInteger(top.build_number) || top.build_number < 0) f.fail('`build_number` must be a whole number >= 0', ['build_number']);
    buildNumber = top.build_number as number;
  }

  const source = f.mapping(top.source, ['source'], SOURCE);
  if (source.patches !== undefined && !Array.isArray(source.patches)) f.fail('`source.patches` must be a list of patch files', ['source', 'patches']);
  const patches = ((source.patches ?? []) as unknown[]).map((patch, i) => f.relative(patch, ['source', 'patches', i], dir, 'patch'));
  const subdirectory = source.subdirectory === undefined ? undefined : f.relative(source.subdirectory, ['source', 'subdirectory'], '.', 'subdirectory');
  let parsedSource: WheelSource;
  if ('git' in source === 'path' in source) f.fail('`source` needs exactly one of `git` (with `rev` or `tag`) or `path`', ['source']);
  if ('git' in source) {
    const url = f.string(source.git, ['source', 'git']);
    // git would read a leading `-` as an option (`--upload-pack=<command>` runs a command while listing tags).
    if (url.startsWith('-')) f.fail(`\`source.git\` must be a repository URL or path, got \`${url}\``, ['source', 'git']);
    const rev = f.optionalString(source.rev, ['source', 'rev']);
    const tag = f.optionalString(source.tag, ['source', 'tag']);
    if (!rev && !tag) f.fail('a git source needs `rev` (a full commit) or `tag`; a branch would not be reproducible', ['source', 'git']);
    if (rev && tag) f.fail('a git source takes `rev` or `tag`, not both (the tag would be ignored)', ['source', 'tag']);
    if (rev && !/^[0-9a-f]{40}$/.test(rev)) f.fail(`\`source.rev\` must be a full 40-character commit, got \`${rev}\` (use \`tag\` for a tag)`, ['source', 'rev']);
    parsedSource = { kind: 'git', url, rev, tag, subdirectory, patches };
  } else {
    if (source.rev !== undefined || source.tag !== undefined) f.fail('`rev` and `tag` belong to a git source', ['source', source.rev !== undefined ? 'rev' : 'tag']);
    const path = f.relative(source.path, ['source', 'path'], dir, 'source path', true);
    // As for a recipe's local source: Nx's inputs (fileset globs) cannot leave the workspace (Nx stopped every
    // task on the `..` of its input), and the workspace root holds node_modules, .nx and the wheelhouse.
    if (path === '..' || path.startsWith('../')) f.fail(`source path \`${String(source.path)}\` is outside the workspace: a variant's content key and Nx inputs cover only the workspace (move the sources into the workspace, or use a git source)`, ['source', 'path']);
    if (path === '.') f.fail(`source path \`${String(source.path)}\` is the workspace root: keep the package's sources in a folder of their own`, ['source', 'path']);
    parsedSource = { kind: 'path', path, subdirectory, patches };
  }

  const variant = f.mapping(top.variant, ['variant'], VARIANT);
  if (!Array.isArray(variant.keys)) f.fail('`variant.keys` must be a list of variants.yaml keys (for instance [python, cuda_version, torch])', ['variant', 'keys']);
  const keys = f.strings(variant.keys, ['variant', 'keys']).map(normalizeKey);
  const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
  if (duplicate) f.fail(`\`variant.keys\` names \`${duplicate}\` twice`, ['variant', 'keys']);
  const values: Record<string, string[]> = {};
  if (variant.values !== undefined) {
    for (const [key, list] of Object.entries(f.mapping(variant.values, ['variant', 'values'], undefined))) {
      if (!keys.includes(normalizeKey(key))) f.fail(`\`variant.values\` sets \`${key}\`, which is not in variant.keys`, ['variant', 'values', key]);
      if (!Array.isArray(list) || list.length === 0) f.fail(`\`variant.values.${key}\` must be a non-empty list of values`, ['variant', 'values', key]);
      values[normalizeKey(key)] = f.strings(list, ['variant', 'values', key]);
    }
  }
  const properties = f.strings(variant.properties, ['variant', 'properties']);
  properties.forEach((property, i) => {
    if (property.split('::').length !== 3) f.fail(`variant property \`${property}\` must be \`namespace :: feature :: value\``, ['variant', 'properties', i]);
  });

  const build = f.mapping(top.build ?? {}, ['build'], BUILD);
  const envStrings = envMapping(f, build.env, ['build', 'env']);
  const toolchainEnv = toolchainEnvEntries(f, build.toolchain_env);
  const configSettings: Array<readonly [string, string]> = [];
  if (build.config_settings !== undefined) {
    const settings = f.mapping(build.config_settings, ['build', 'config_settings'], undefined);
    for (const [key, value] of Object.entries(settings)) {
      const values = Array.isArray(value) ? f.strings(value, ['build', 'config_settings', key]) : [typeof value === 'number' || typeof value === 'boolean' ? String(value) : f.string(value, ['build', 'config_settings', key])];
      for (const item of values) configSettings.push([key, item] as const);
    }
  }

  const test = f.mapping(top.test ?? {}, ['test'], TEST);
  const imports = f.strings(test.imports, ['test', 'imports']);
  // Each becomes `python -c "import <module>"`: a module path, not code.
  imports.forEach((module, i) => {
    if (!/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(module)) f.fail(`\`test.imports\`: \`${module}\` is not a module name (commands go in test.commands)`, ['test', 'imports', i]);
  });
  return {
    file,
    yaml,
    name,
    version,
    buildNumber,
    source: parsedSource,
    variant: {
      keys,
      values,
      mode: f.oneOf(variant.mode, ['variant', 'mode'], ['variant', 'variant-name'] as const, 'variant'),
      properties,
      cudaArchList: f.optionalString(variant.cuda_arch_list, ['variant', 'cuda_arch_list']),
    },
    build: {
      environment: f.oneOf(build.environment, ['build', 'environment'], ENVIRONMENT_KINDS, 'host'),
      requirements: f.strings(build.requirements, ['build', 'requirements']),
      command: f.optionalString(build.command, ['build', 'command']),
      env: envStrings,
      toolchainEnv,
      configSettings,
      image: f.optionalString(build.image, ['build', 'image']),
      gpus: f.boolean(build.gpus, ['build', 'gpus'], false),
      repair: f.boolean(build.repair, ['build', 'repair'], true),
      repairExclude: f.strings(build.repair_exclude, ['build', 'repair_exclude']),
    },
    test: {
      imports,
      commands: f.strings(test.commands, ['test', 'commands']),
    },
  };
}

/** Environment variables: valid names, string values (numbers and booleans as written). */
function envMapping(f: Fields, value: unknown, path: Path): Record<string, string> {
  if (value === undefined) return {};
  const env = f.mapping(value, path, undefined);
  return Object.fromEntries(Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) f.fail(`\`${dotted(path)}\`: \`${k}\` is not a valid variable name`, [...path, k]);
    return [k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : f.string(v, [...path, k])];
  }));
}

/**
 * `build.toolchain_env`: a list of `if`/`then`/`else` entries. The selectors are
 * evaluated per variant when it is rendered (this module stays free of the Jinja
 * engine, which the Nx graph of wheel projects does not otherwise load); there a
 * name outside the variant's keys, such as `cuda`, is an error with its line.
 */
function toolchainEnvEntries(f: Fields, value: unknown): ToolchainEnv[] {
  if (value === undefined) return [];
  const path = ['build', 'toolchain_env'];
  if (!Array.isArray(value)) f.fail('`build.toolchain_env` must be a list of `if`/`then`/`else` entries', path);
  return value.map((item, i) => {
    const at = [...path, i];
    const entry = f.mapping(item, at, TOOLCHAIN_ENV);
    if (!('if' in entry) || !('then' in entry)) f.fail(`\`${dotted(at)}\` needs \`if\` (a selector such as match(cuda_version, ">=13")) and \`then\` (the variables it sets)`, at);
    const condition = f.string(entry.if, [...at, 'if']);
    if (condition.includes('${{')) f.fail(`\`${dotted([...at, 'if'])}\` is a bare expression, as a recipe's \`if:\` (write \`${condition.replace(/\$\{\{\s*|\s*\}\}/g, '')}\`)`, [...at, 'if']);
    return { if: condition, then: envMapping(f, entry.then, [...at, 'then']), else: envMapping(f, entry.else, [...at, 'else']) };
  });
}
