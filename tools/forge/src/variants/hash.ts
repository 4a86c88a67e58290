import { createHash } from 'node:crypto';
import { shortVersion } from '../recipe/jinja.js';
import { sortedKeys, type Variant } from './keys.js';

export type NoArch = 'python' | 'generic' | null;

export interface HashInfo {
  /** First 7 hex digits of the sha1 of the hash input. */
  readonly hash: string;
  /** `py312`, `np126py312`, or `py` for noarch python. */
  readonly prefix: string;
}

/**
 * The hash input exactly as rattler-build writes it: the variant as JSON with
 * keys sorted, formatted like Python's json.dumps (", " and ": ").
 */
export function hashInput(variant: Variant): string {
  return `{${sortedKeys(variant).map((key) => `${JSON.stringify(key)}: ${JSON.stringify(variant[key])}`).join(', ')}}`;
}

const PREFIXES: ReadonlyArray<readonly [prefix: string, keys: readonly string[], length: number]> = [
  ['np', ['numpy'], 2],
  ['py', ['python'], 2],
  ['pl', ['perl'], 3],
  ['lua', ['lua'], 2],
  ['r', ['r', 'r_base'], 2],
];

export function hashInfo(variant: Variant, noarch: NoArch): HashInfo {
  const hash = createHash('sha1').update(hashInput(variant)).digest('hex').slice(0, 7);
  if (noarch === 'python') return { hash, prefix: 'py' };
  let prefix = '';
  for (const [name, keys, length] of PREFIXES) {
    const key = keys.find((k) => variant[k] !== undefined);
    if (key) prefix += `${name}${shortVersion(String(variant[key]!), length)}`;
  }
  return { hash, prefix };
}

/** The default build string: `{prefix}h{hash}_{number}`. */
export function defaultBuildString(info: HashInfo, buildNumber: number): string {
  return `${info.prefix}h${info.hash}_${buildNumber}`;
}
