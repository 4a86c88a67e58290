import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { ForgeError } from '../errors.js';

export const PLUGIN_NAME = '@wv-forge/forge/plugin';

/** Set to 1 to build without solving first (the solve tasks pass at once). */
export const SKIP_SOLVE_ENV = 'FORGE_SKIP_SOLVE';

/** wv-forge's settings: the options of its plugin entry in nx.json, the one place they live. */
export interface ForgeOptions {
  /** Variant config, relative to the workspace root. */
  readonly variantConfig: string;
  /** Platform the variant packages are built for. */
  readonly targetPlatform: string;
  /** Recipes live at `<recipesDir>/<name>/recipe/recipe.yaml`. */
  readonly recipesDir: string;
  /** Local outputs: one conda channel per variant task, with its manifest. */
  readonly outputDir: string;
  /** Channels builds resolve dependencies from, after the outputs of upstream tasks. */
  readonly channels: readonly string[];
  /**
   * Channels whose index is searched for an already published artifact before
   * building. Not all of `channels`: conda-forge's index is hundreds of MB and
   * never holds our packages.
   */
  readonly artifactChannels: readonly string[];
  /** Where `upload` publishes: a prefix.dev channel URL or a file:// folder. */
  readonly uploadChannel: string;
  /** Engine command (else RATTLER_BUILD, rattler-build on PATH, the embedded front). */
  readonly engine: string | undefined;
  /** Extra arguments for every engine build. */
  readonly engineArgs: readonly string[];
  /** Each build task waits for its `solve-<variant>` task, so an unsatisfiable requirement stops it before the engine runs. */
  readonly solveBeforeBuild: boolean;
  /** Local wheel outputs: one folder per wheel task, seed 003's `py<VER>/cuda<VER>/<platform>/` inside. */
  readonly wheelsDir: string;
  /**
   * Where `upload-wheels` publishes and builds look for published wheels: a
   * folder or an http(s) URL, holding one PEP 503 index per CUDA version
   * (`cu130/`, `cpu/`) and the wheel variants (`variants/`).
   */
  readonly wheelIndex: string | undefined;
  /** The index `venv` and `docker` environments install build requirements from (PEP 503 URL or folder). */
  readonly pipIndex: string;
  /**
   * `docker` wheel environment: base images that replace or add to the
   * built-in map (engine/docker.ts DEFAULT_DOCKER_IMAGES), keyed `py3.11`,
   * `cuda12.8` or `py3.11-cuda12.8`; a local tag or any registry image.
   */
  readonly dockerImages: Readonly<Record<string, string>>;
}

export const DEFAULT_OPTIONS: ForgeOptions = {
  variantConfig: 'variants.yaml',
  targetPlatform: 'linux-64',
  recipesDir: 'pkgs',
  outputDir: 'output',
  channels: ['https://prefix.dev/wv-forge', 'conda-forge', 'nvidia'],
  artifactChannels: ['https://prefix.dev/wv-forge'],
  uploadChannel: 'https://prefix.dev/wv-forge',
  engine: undefined,
  engineArgs: [],
  solveBeforeBuild: true,
  wheelsDir: 'wheelhouse',
  wheelIndex: undefined,
  pipIndex: 'https://pypi.org/simple',
  dockerImages: {},
};

const LISTS = new Set(['channels', 'artifactChannels', 'engineArgs']);
/** Folders and files Nx must see as part of the workspace (inputs, outputs, projects). */
const INSIDE = new Set(['variantConfig', 'recipesDir', 'outputDir', 'wheelsDir']);
const BOOLEANS = new Set(['solveBeforeBuild']);
const IMAGE_KEY = /^(py\d+\.\d+|cuda\d+\.\d+|py\d+\.\d+-cuda\d+\.\d+)$/;
const KNOWN = new Set(Object.keys(DEFAULT_OPTIONS));

export function normalizeOptions(raw: unknown, file = 'nx.json'): ForgeOptions {
  if (raw === undefined || raw === null) return DEFAULT_OPTIONS;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ForgeError(`the options of ${PLUGIN_NAME} must be an object`, { file });
  const options = { ...DEFAULT_OPTIONS } as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    if (!KNOWN.has(key)) throw new ForgeError(`unknown option \`${key}\` for ${PLUGIN_NAME} (known: ${[...KNOWN].join(', ')})`, { file });
    if (key === 'dockerImages') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ForgeError('option `dockerImages` must be an object of image names, keyed `py3.11`, `cuda12.8` or `py3.11-cuda12.8`', { file });
      for (const [imageKey, image] of Object.entries(value)) {
        if (!IMAGE_KEY.test(imageKey)) throw new ForgeError(`option \`dockerImages\`: key \`${imageKey}\` must be py<MAJOR.MINOR>, cuda<MAJOR.MINOR> or py<MAJOR.MINOR>-cuda<MAJOR.MINOR>`, { file });
        if (typeof image !== 'string' || image.trim() === '') throw new ForgeError(`option \`dockerImages\`: \`${imageKey}\` must be a non-empty image name`, { file });
      }
    } else if (BOOLEANS.has(key)) {
      if (typeof value !== 'boolean') throw new ForgeError(`option \`${key}\` must be true or false`, { file });
    } else if (LISTS.has(key)) {
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
        throw new ForgeError(`option \`${key}\` must be a list of non-empty strings`, { file });
      }
    } else if (typeof value !== 'string' || value === '') {
      throw new ForgeError(`option \`${key}\` must be a non-empty string`, { file });
    } else if (INSIDE.has(key) && (isAbsolute(value) || value.split(/[\\/]/).includes('..'))) {
      throw new ForgeError(`option \`${key}\` must be a path inside the workspace, relative to its root, got \`${value}\``, { file });
    }
    options[key] = value;
  }
  return options as unknown as ForgeOptions;
}

/** Reads the plugin's options from `<root>/nx.json`; defaults when the plugin has none. */
export function readForgeOptions(root: string): ForgeOptions {
  const file = 'nx.json';
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_OPTIONS;
    throw new ForgeError(`cannot read nx.json: ${(error as Error).message}`, { file });
  }
  // Read as Nx reads it (jsonc-parser, the parser Nx uses): comments and trailing commas are allowed.
  const errors: ParseError[] = [];
  const nxJson = parse(text, errors, { allowTrailingComma: true }) as { plugins?: unknown } | undefined;
  const syntax = errors[0];
  if (syntax) throw new ForgeError(`JSON syntax error: ${printParseErrorCode(syntax.error)}`, { file, line: text.slice(0, syntax.offset).split('\n').length });
  if (typeof nxJson !== 'object' || nxJson === null || Array.isArray(nxJson)) throw new ForgeError('nx.json must be a JSON object', { file });
  if (nxJson.plugins !== undefined && !Array.isArray(nxJson.plugins)) throw new ForgeError('`plugins` must be a list', { file });
  const entry = (nxJson.plugins ?? []).find(
    (plugin) => plugin === PLUGIN_NAME || (typeof plugin === 'object' && plugin !== null && (plugin as { plugin?: unknown }).plugin === PLUGIN_NAME),
  );
  return normalizeOptions(typeof entry === 'object' && entry !== null ? (entry as { options?: unknown }).options : undefined, file);
}
