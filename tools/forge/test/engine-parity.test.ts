import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir, repoRoot } from './support/paths.js';
import { differences, engineAnswers, forgeAnswer, type Answer, type Job } from './support/parity.js';

/**
 * Every recipe of the table against rattler-build itself, on four platforms:
 * the fixtures (fixtures/recipes), one small recipe per feature of the recipe
 * v1 format (fixtures/format, listed in the README), and the wv-forge recipes.
 * The engine renders the whole table in one process, once.
 */
const PLATFORMS = ['linux-64', 'linux-aarch64', 'osx-arm64', 'win-64'] as const;

const folders = (dir: string) => readdirSync(dir).filter((name) => existsSync(join(dir, name, 'recipe.yaml'))).sort();
const fixtures = folders(join(fixturesDir, 'recipes'));
const format = folders(join(fixturesDir, 'format'));
// A wheel-only project (pkgs/pointops) has no recipe.
const packages = readdirSync(join(repoRoot, 'pkgs')).filter((name) => existsSync(join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml'))).sort();

interface Case extends Job {
  readonly id: string;
}

const cases: Case[] = [
  ...fixtures.map((name) => ({ id: `fixture ${name}`, dir: join(fixturesDir, 'recipes', name) })),
  ...format.map((name) => ({ id: `format ${name}`, dir: join(fixturesDir, 'format', name) })),
].flatMap(({ id, dir }) => {
  // A case's own variant config, else the table's shared one.
  const own = join(dir, 'variant_config.yaml');
  const variants = existsSync(own) ? own : join(fixturesDir, 'format', 'variant_config.yaml');
  return PLATFORMS.map((platform) => ({ id, recipe: join(dir, 'recipe.yaml'), variants, platform }));
});
for (const name of packages) {
  for (const platform of PLATFORMS) cases.push({ id: `pkgs/${name}`, recipe: join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml'), variants: join(repoRoot, 'variants.yaml'), platform });
}

/**
 * Recipes the engine renders and forge refuses on purpose, each with its reason
 * (the README's "refused by design"): forge cannot predict them the same on every
 * machine, and a refusal with a line beats a package that differs from the build.
 */
const REFUSED_BY_DESIGN: Readonly<Record<string, RegExp>> = {
  'format env-get': /:\d+: `env` reads the environment of the machine that renders/,
  'format env-exists': /:\d+: `env` reads the environment of the machine that renders/,
  'format platform-helpers': /:\d+: build\.string reads the platform variable `unix`, which rattler-build evaluates for the machine it runs on/,
  'format name-uppercase': /:\d+: package names are lower case: write `name-upper` \(rattler-build keeps `Name-Upper` in one place and lowercases it in another\)/,
  'format pin-skipped-variant': /:\d+: `psv-py` pins `psv-lib` exactly, which build\.skip skips for cuda_version=12\.6: rattler-build would pin another variant's build/,
};

const forgeAnswers = new Map<number, Answer>();
const forgeOf = (index: number) => forgeAnswers.get(index) ?? forgeAnswers.set(index, forgeAnswer(cases[index]!)).get(index)!;

let engine: Answer[] = [];
beforeAll(async () => {
  engine = await engineAnswers(cases);
});

describe('the variant engine agrees with rattler-build on every platform', () => {
  it('covers the fixtures, the format table and the ten wv-forge recipes', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(12);
    expect(format.length).toBeGreaterThanOrEqual(30);
    expect(packages).toHaveLength(10);
  });

  it.each(cases.map((c, index) => [c.id, c.platform, index] as const))('%s on %s: same packages, build strings, subdirs and skips', (id, _, index) => {
    const job = cases[index]!;
    const truth = engine[index]!;
    const forge = forgeOf(index);
    const oneLine = new RegExp(`^${job.recipe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: [^\\n]+$`);
    if ('error' in truth) {
      // The engine refuses it: so does forge, in one line naming the recipe and the line.
      expect(forge, `the engine refuses: ${truth.error}`).toEqual({ error: expect.stringMatching(oneLine) });
      return;
    }
    if (id in REFUSED_BY_DESIGN && 'error' in forge) {
      expect(forge).toEqual({ error: expect.stringMatching(oneLine) });
      expect(forge).toEqual({ error: expect.stringMatching(REFUSED_BY_DESIGN[id]!) });
      return;
    }
    expect(differences(truth, forge)).toEqual([]);
  });

  it("the README's coverage table names every case of the format table, and only cases that exist", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Coverage of the recipe v1 format'), readme.indexOf('**Agreement:'));
    const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Feature') && !line.startsWith('| ---'));
    const named = new Set(rows.flatMap((row) => [...row.split('|')[2]!.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!)));
    expect(format.filter((name) => !named.has(name))).toEqual([]);
    expect([...named].filter((name) => !format.includes(name) && !fixtures.includes(name))).toEqual([]);
  });

  it('reports how many recipe × platform pairs agree', () => {
    const outcomes = cases.map((job, index) => ({ id: job.id, agrees: differences(engine[index]!, forgeOf(index)).length === 0 }));
    const agreeing = outcomes.filter((o) => o.agrees).length;
    const refused = outcomes.filter((o) => !o.agrees && o.id in REFUSED_BY_DESIGN).length;
    const bothRefuse = engine.filter((answer) => 'error' in answer).length;
    console.info(`engine parity: ${agreeing} of ${cases.length} recipe × platform pairs agree (${bothRefuse} of them refused by both); ${refused} refused by forge by design`);
    expect(agreeing + refused).toBe(cases.length);
    // The README states these figures: they must be this run's.
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toContain(`**Agreement: ${agreeing} of ${cases.length} recipe × platform pairs agree with the engine** (${bothRefuse} of them are`);
    // The truth is not vacuous: most rendered pairs build something (a few skip every variant on purpose).
    const building = engine.filter((answer) => !('error' in answer) && answer.kept.length > 0).length;
    expect(building).toBeGreaterThan((cases.length - bothRefuse) * 0.8);
  });
});
