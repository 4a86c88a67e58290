import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { differences, engineAnswers, forgeAnswer, type Answer, type Job } from './support/parity.js';

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

const quoted = (spec: string) => JSON.stringify(spec);
const describeRow = ({ spec, values }: Row) => `match(python, ${quoted(spec)})${values ? ` with python: ${values}` : ''}`;
const inSkip = (row: Row) => `package: {name: m, version: "1"}\nbuild:\n  skip:\n    - match(python, ${quoted(row.spec)})\nrequirements:\n  host: [python]\n`;
const inString = (row: Row) => `package: {name: m, version: "1"}\nbuild:\n  string: \${{ "in" if match(python, ${quoted(row.spec)}) else "out" }}_\${{ hash }}\nrequirements:\n  host: [python]\n`;
const misused = ['match(python)', 'match(python, 3.13)', 'match(python, ">=3.12", 1)'];
const KEY_ONLY_IN_SKIP = 'package: {name: m, version: "1"}\nbuild:\n  skip:\n    - match(cuda_version, "12.6")\nrequirements:\n  host: [python]\n';

/** Every recipe of this file, written once; the engine renders them all in one process. */
const dir = mkdtempSync(join(tmpdir(), 'forge-match-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const jobs: Job[] = [];
function job(recipe: string, variants: string): number {
  const folder = join(dir, String(jobs.length));
  mkdirSync(folder);
  writeFileSync(join(folder, 'recipe.yaml'), recipe);
  writeFileSync(join(folder, 'variants.yaml'), variants);
  jobs.push({ recipe: join(folder, 'recipe.yaml'), variants: join(folder, 'variants.yaml'), platform: 'linux-64' });
  return jobs.length - 1;
}
const values = (row: Row) => `python: ${row.values ?? '["3.12", "3.13"]'}\n`;
const skipJobs = rows.map((row) => job(inSkip(row), values(row)));
const stringJobs = rows.map((row) => job(inString(row), values(row)));
const misusedJobs = misused.map((call) => ({
  skip: job(`package: {name: m, version: "1"}\nbuild:\n  skip:\n    - ${call}\nrequirements:\n  host: [python]\n`, 'python: ["3.12", "3.13"]\n'),
  template: job(`package: {name: m, version: "1"}\nbuild:\n  string: \${{ "in" if ${call} else "out" }}\nrequirements:\n  host: [python]\n`, 'python: ["3.12"]\n'),
}));
const keyOnlyInSkip = job(KEY_ONLY_IN_SKIP, 'python: ["3.12"]\ncuda_version: ["12.6", "12.8"]\n');

let engine: Answer[] = [];
beforeAll(async () => {
  engine = await engineAnswers(jobs);
});

/** Both renders of one recipe: the engine's, and forge's (a refusal is its message). */
const both = (index: number) => ({ engine: engine[index]!, forge: forgeAnswer(jobs[index]!) });

describe('match() in forge agrees with rattler-build', () => {
  it.each(rows.map((row, i) => [describeRow(row), i] as const))('in build.skip: %s', (_, i) => {
    const { engine, forge } = both(skipJobs[i]!);
    expect(engine).not.toHaveProperty('error');
    expect(differences(engine, forge)).toEqual([]);
  });

  it.each(rows.map((row, i) => [describeRow(row), i] as const))('in a build string: %s', (_, i) => {
    const { engine, forge } = both(stringJobs[i]!);
    if (!('error' in engine)) {
      expect(differences(engine, forge)).toEqual([]);
    } else {
      // Both fail, for the same reason.
      const reason = /Bad syntax for `spec`|Failed to deserialize `version`/.exec(engine.error)?.[0];
      expect(reason, engine.error).toBeDefined();
      expect(forge).toEqual({ error: expect.stringContaining(reason!) });
    }
  });

  // Wrong calls: a skip entry the engine cannot evaluate counts as false, a template fails (forge says why in its own words).
  it.each(misused.map((call, i) => [call, i] as const))('misused: %s', (_, i) => {
    const skip = both(misusedJobs[i]!.skip);
    expect(skip.engine).not.toHaveProperty('error');
    expect(differences(skip.engine, skip.forge)).toEqual([]);
    const template = both(misusedJobs[i]!.template);
    expect(template.engine).toEqual({ error: expect.stringMatching(/missing argument|not a string|too many arguments/) });
    expect(template.forge).toEqual({ error: expect.stringMatching(/:\d+: build\.string: cannot evaluate .*: match\(\)('s spec must be a string| takes a value and a version spec)/) });
  });

  it('a key read only by a skip entry the engine cannot evaluate is still a variant key', () => {
    const { engine, forge } = both(keyOnlyInSkip);
    expect(differences(engine, forge)).toEqual([]);
    // Both cuda versions are built: the entry counts as false, and the key is in the hash.
    expect('error' in engine ? engine : engine.kept.map((p) => p.variant?.cuda_version)).toEqual(['12.6', '12.8']);
  });
});
