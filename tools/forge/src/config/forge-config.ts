import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ForgeError } from '../errors.js';

export const PLUGIN_NAME = '@wv-forge/forge/plugin';

/** wv-forge's settings: the options of its plugin entry in nx.json, the one place they live. */
export interface ForgeOptions {
  /** Variant config, relative to the workspace root. */
  readonly variantConfig: string;
  /** Platform the CUDA variants are built for. */
  readonly targetPlatform: string;
  /** Glob-free folder pattern of recipes: `<recipesDir>/<name>/recipe/recipe.yaml`. */
  readonly recipesDir: string;
}

export const DEFAULT_OPTIONS: ForgeOptions = {
  variantConfig: 'variants.yaml',
  targetPlatform: 'linux-64',
  recipesDir: 'pkgs',
};

const KNOWN = new Set(Object.keys(DEFAULT_OPTIONS));

export function normalizeOptions(raw: unknown, file = 'nx.json'): ForgeOptions {
  if (raw === undefined || raw === null) return DEFAULT_OPTIONS;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ForgeError(`the options of ${PLUGIN_NAME} must be an object`, { file });
  const options = { ...DEFAULT_OPTIONS } as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    if (!KNOWN.has(key)) throw new ForgeError(`unknown option \`${key}\` for ${PLUGIN_NAME} (known: ${[...KNOWN].join(', ')})`, { file });
    if (typeof value !== 'string' || value === '') throw new ForgeError(`option \`${key}\` must be a non-empty string`, { file });
    options[key] = value;
  }
  return options as unknown as ForgeOptions;
}

/** Reads the plugin's options from `<root>/nx.json`; defaults when the plugin has none. */
export function readForgeOptions(root: string): ForgeOptions {
  const file = join(root, 'nx.json');
  let nxJson: { plugins?: unknown[] };
  try {
    nxJson = JSON.parse(readFileSync(file, 'utf8')) as { plugins?: unknown[] };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_OPTIONS;
    throw new ForgeError(`cannot read nx.json: ${(error as Error).message}`, { file });
  }
  const entry = (nxJson.plugins ?? []).find(
    (plugin) => plugin === PLUGIN_NAME || (typeof plugin === 'object' && plugin !== null && (plugin as { plugin?: unknown }).plugin === PLUGIN_NAME),
  );
  return normalizeOptions(typeof entry === 'object' && entry !== null ? (entry as { options?: unknown }).options : undefined, file);
}
