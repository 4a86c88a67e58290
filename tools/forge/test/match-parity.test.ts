import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engineRender, forgeRender, shape, type Rendered } from './support/parity.js';

/**
 * Every form of `match(value, spec)` against rattler-build's own renderer. Each row
 * is rendered by both, in a `skip` entry (where the engine takes an entry it cannot
 * evaluate as false) and in a build string template (where it fails the render).
 */
interface Row {
  readonly spec: string;
  /** The values of `python`, as written in the variant config. */
  readonly values?: string;
}

const rows: Row[] = [
  { spec: '3.13' }, // bare version: the engine rejects it, so it never matches
  { spec: '3.13.0' },
  { spec: '==3.13' },
  { spec: '==3.13.0' },
  { spec: '=3.13' },
  { spec: '3.13.*' },
  { spec: '3.13*' },
  { spec: '3.*' },
  { spec: '*' },
  { spec: '>=3.13' },
  { spec: '>3.12' },
  { spec: '<3.13' },
  { spec: '<=3.12' },
  { spec: '>= 3.13' },
  { spec: ' >=3.13 ' },
  { spec: '>=3.12,<3.13' },
  { spec: '>=3.12, <3.14' },
  { spec: '!=3.13' },
  { spec: '!=3.13.*' },
  { spec: '~=3.12' },
  { spec: '~=3.12.0' },
  { spec: '3.12.*|3.13.*' },
  { spec: '==3.12|>=3.13' },
  { spec: '3.12|3.13' },
  { spec: '>=3.12,<3.13|==3.13' },
  { spec: '(>=3.12,<3.13)|==3.14' },
  { spec: '3.13 *' }, // a build string part: not a version spec
  { spec: '==3.13 *_cp313' },
  { spec: '' },
  { spec: 'bogus!!' },
  { spec: '>=3.13', values: '["3.12.*", "3.13.*"]' }, // values with a trailing .* are cut to the version
  { spec: '==3.13', values: '["3.12 *_cpython", "3.13 *_cp313"]' }, // and with a build string, to the part before the space
  { spec: '>=3.13', values: '["3.12.1", "3.13.0"]' },
  { spec: '>=13', values: '[12, 13]' }, // unquoted numbers
  { spec: '==3.10', values: '[3.9, 3.10]' }, // YAML floats: 3.10 is read as 3.1
];

const dir = mkdtempSync(join(tmpdir(), 'forge-match-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

type Outcome = Rendered[] | { error: string };

/** Renders one recipe with both renderers; a failed render is its error message. */
async function both(recipe: string, variants: string): Promise<{ engine: Outcome; forge: Outcome }> {
  const folder = join(dir, String(count++));
  mkdirSync(folder);
  const recipeFile = join(folder, 'recipe.yaml');
  const variantsFile = join(folder, 'variants.yaml');
  writeFileSync(recipeFile, recipe);
  writeFileSync(variantsFile, variants);
  const engine = await engineRender(recipeFile, variantsFile).catch((error: { stderr?: string }) => ({ error: String(error.stderr) }));
  let forge: Outcome;
  try {
    forge = forgeRender(recipeFile, variantsFile);
  } catch (error) {
    forge = { error: (error as Error).message };
  }
  return { engine, forge };
}

const quoted = (spec: string) => JSON.stringify(spec);
const describeRow = ({ spec, values }: Row) => `match(python, ${quoted(spec)})${values ? ` with python: ${values}` : ''}`;

describe('match() in forge agrees with rattler-build', () => {
  it.each(rows.map((row) => [describeRow(row), row] as const))('in build.skip: %s', async (_, row) => {
    const recipe = `package: {name: m, version: "1"}\nbuild:\n  skip:\n    - match(python, ${quoted(row.spec)})\nrequirements:\n  host: [python]\n`;
    const { engine, forge } = await both(recipe, `python: ${row.values ?? '["3.12", "3.13"]'}\n`);
    expect(forge).toEqual(expect.any(Array));
    expect(engine).toEqual(expect.any(Array));
    expect(shape(forge as Rendered[])).toEqual(shape(engine as Rendered[]));
  });

  it.each(rows.map((row) => [describeRow(row), row] as const))('in a build string: %s', async (_, row) => {
    const recipe = `package: {name: m, version: "1"}\nbuild:\n  string: \${{ "in" if match(python, ${quoted(row.spec)}) else "out" }}_\${{ hash }}\nrequirements:\n  host: [python]\n`;
    const { engine, forge } = await both(recipe, `python: ${row.values ?? '["3.12", "3.13"]'}\n`);
    if (Array.isArray(engine)) {
      expect(forge).toEqual(expect.any(Array));
      expect(shape(forge as Rendered[])).toEqual(shape(engine));
    } else {
      // Both fail, for the same reason.
      const reason = /Bad syntax for `spec`|Failed to deserialize `version`/.exec(engine.error)?.[0];
      expect(reason, engine.error).toBeDefined();
      expect(forge).toEqual({ error: expect.stringContaining(reason!) });
    }
  });

  // Wrong calls: a skip entry the engine cannot evaluate counts as false, a template fails (forge says why in its own words).
  it.each(['match(python)', 'match(python, 3.13)', 'match(python, ">=3.12", 1)'])('misused: %s', async (call) => {
    const skip = await both(`package: {name: m, version: "1"}\nbuild:\n  skip:\n    - ${call}\nrequirements:\n  host: [python]\n`, 'python: ["3.12", "3.13"]\n');
    expect(skip.engine).toEqual(expect.any(Array));
    expect(shape(skip.forge as Rendered[])).toEqual(shape(skip.engine as Rendered[]));
    const template = await both(`package: {name: m, version: "1"}\nbuild:\n  string: \${{ "in" if ${call} else "out" }}\nrequirements:\n  host: [python]\n`, 'python: ["3.12"]\n');
    expect(template.engine).toEqual({ error: expect.stringMatching(/missing argument|not a string|too many arguments/) });
    expect(template.forge).toEqual({ error: expect.stringMatching(/^build\.string: cannot evaluate .*: match\(\)('s spec must be a string| takes a value and a version spec)/) });
  });

  it('a key read only by a skip entry the engine cannot evaluate is still a variant key', async () => {
    const recipe = 'package: {name: m, version: "1"}\nbuild:\n  skip:\n    - match(cuda_version, "12.6")\nrequirements:\n  host: [python]\n';
    const { engine, forge } = await both(recipe, 'python: ["3.12"]\ncuda_version: ["12.6", "12.8"]\n');
    expect(engine).toEqual(expect.any(Array));
    expect(shape(forge as Rendered[])).toEqual(shape(engine as Rendered[]));
    expect((engine as Rendered[]).map((r) => [r.variant.cuda_version, r.skipped])).toEqual([
      ['12.6', false],
      ['12.8', false],
    ]);
  });
});
