import { ForgeError } from '../errors.js';
import { readYamlFile, type YamlFile } from '../recipe/yaml-file.js';
import { normalizeKey, type VariantValue } from './keys.js';

/**
 * A loaded variants.yaml: each key with its list of values, and the groups
 * of keys that vary together (`zip_keys`).
 */
export interface VariantConfig {
  readonly file: string;
  readonly values: ReadonlyMap<string, readonly VariantValue[]>;
  readonly zipKeys: ReadonlyArray<readonly string[]>;
}

export function loadVariantConfig(path: string): VariantConfig {
  return parseVariantConfig(readYamlFile(path));
}

/**
 * Validates as rattler-build does, but with a message naming the file and line
 * instead of the engine's panic on mismatched zip_keys (seed 002, lesson 4).
 */
export function parseVariantConfig(yaml: YamlFile): VariantConfig {
  const file = yaml.path;
  const root = yaml.value ?? {};
  if (typeof root !== 'object' || Array.isArray(root)) {
    throw new ForgeError('a variant config must be a mapping of keys to lists of values', { file, line: 1 });
  }
  const values = new Map<string, VariantValue[]>();
  let zipKeys: string[][] = [];
  for (const [key, raw] of Object.entries(root as Record<string, unknown>)) {
    const line = yaml.lineOf([key]);
    if (key === 'zip_keys') {
      zipKeys = parseZipKeys(raw, file, line);
      continue;
    }
    if (key === 'pin_run_as_build' || key === 'extend_keys') continue;
    if (!Array.isArray(raw)) {
      throw new ForgeError(`\`${key}\` must be a list of values, got ${describe(raw)}`, { file, line });
    }
    const list = raw.map((value, index): VariantValue => {
      if (typeof value === 'object' && value !== null && 'if' in value) {
        // rattler-build evaluates these against the target platform; forge's matrix is one platform's, written out.
        throw new ForgeError(`\`${key}\` value ${index + 1} is a selector (\`if:\`), which wv-forge does not evaluate in a variant config: list the values for ${'`targetPlatform`'} plainly`, { file, line: yaml.lineOf([key, index]) });
      }
      if (typeof value === 'object') {
        throw new ForgeError(`\`${key}\` value ${index + 1} must be a string, number or boolean, got ${describe(value)}`, { file, line: yaml.lineOf([key, index]) });
      }
      const source = yaml.sourceOf([key, index]);
      if (typeof value === 'number') return source !== undefined && /^[-+]?\d+$/.test(source) ? value : (source ?? String(value));
      return value;
    });
    if (list.length === 0) throw new ForgeError(`\`${key}\` has no values`, { file, line });
    values.set(normalizeKey(key), list);
  }
  for (const [index, group] of zipKeys.entries()) {
    // The engine ignores a key no list defines: a typo would silently multiply the matrix.
    const missing = group.find((key) => !values.has(key));
    if (missing) {
      const nested = Array.isArray((root as Record<string, unknown[]>).zip_keys?.[0]);
      throw new ForgeError(`zip_keys [${group.join(', ')}] names \`${missing}\`, which this file does not define (keys: ${[...values.keys()].join(', ')})`, {
        file,
        line: yaml.lineOf(nested ? ['zip_keys', index] : ['zip_keys']),
      });
    }
    const lengths = group.map((key) => [key, values.get(key)!.length] as const);
    const first = lengths[0];
    const odd = lengths.find(([, length]) => length !== first?.[1]);
    if (first && odd) {
      throw new ForgeError(
        `zip_keys [${group.join(', ')}] must have lists of the same length: \`${first[0]}\` has ${first[1]}, \`${odd[0]}\` has ${odd[1]}`,
        { file, line: yaml.lineOf(['zip_keys']) },
      );
    }
  }
  return { file, values, zipKeys };
}

function parseZipKeys(raw: unknown, file: string, line: number | undefined): string[][] {
  if (!Array.isArray(raw)) throw new ForgeError('`zip_keys` must be a list of lists of keys', { file, line });
  const groups = raw.every((item) => typeof item === 'string') ? [raw as string[]] : raw;
  return groups.map((group: unknown) => {
    if (!Array.isArray(group) || group.length < 2 || !group.every((key) => typeof key === 'string')) {
      throw new ForgeError('each `zip_keys` entry must be a list of at least two keys', { file, line });
    }
    return group.map(normalizeKey);
  });
}

function describe(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} \`${String(value)}\``;
}

/** The config with the platform keys every render carries, as rattler-build adds them. */
export function withPlatform(config: VariantConfig, targetPlatform: string, buildPlatform = targetPlatform): VariantConfig {
  const values = new Map(config.values);
  // The platform asked for wins over a target_platform in the file, as in rattler-build (which warns).
  values.set('target_platform', [targetPlatform]);
  if (!values.has('build_platform')) values.set('build_platform', [buildPlatform]);
  return { ...config, values };
}

/**
 * Every combination of the used keys, zipped groups varying together, in
 * rattler-build's order (sorted by the combination's rendering).
 */
export function combinations(config: VariantConfig, used: ReadonlySet<string>): Record<string, VariantValue>[] {
  type Axis = Array<Array<[string, VariantValue]>>;
  const axes: Axis[] = [];
  const zipped = new Set(config.zipKeys.flat());
  for (const group of config.zipKeys) {
    const keys = group.filter((key) => used.has(key) && config.values.has(key));
    if (keys.length === 0) continue;
    const length = config.values.get(keys[0]!)!.length;
    axes.push(Array.from({ length }, (_, i) => keys.map((key) => [key, config.values.get(key)![i]!] as [string, VariantValue])));
  }
  for (const key of used) {
    if (zipped.has(key)) continue;
    const values = config.values.get(key);
    if (values) axes.push(values.map((value) => [[key, value]]));
  }
  let result: Array<Record<string, VariantValue>> = [{}];
  for (const axis of axes) {
    result = result.flatMap((partial) => axis.map((entries) => ({ ...partial, ...Object.fromEntries(entries) })));
  }
  if (axes.length === 0) return [];
  return result.sort((a, b) => compare(orderKey(a), orderKey(b)));
}

function orderKey(combination: Record<string, VariantValue>): string {
  return Object.keys(combination)
    .sort()
    .map((key) => `${key}\u0000${combination[key]}`)
    .join('\u0001');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
