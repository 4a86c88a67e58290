import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineKeptOutputs } from './support/engine.js';
import { TempWorkspace } from './support/workspace.js';

describe('forge lint', () => {
  it('names file:line for each broken convention and exits 1', () => {
    const bad = new TempWorkspace({
      'variants.yaml': 'python: ["3.12"]\ncuda_version: ["12.6"]\n',
      'pkgs/bad/recipe/recipe.yaml': [
        'package: {name: bad, version: "1"}',
        'source:',
        '  git: https://example.invalid/bad.git',
        'requirements:',
        '  host:',
        '    - python 3.12.*',
        '    - cuda-version >=12.6',
        '    - cuda-cudart-dev',
        '  run:',
        "    - ${{ pin_compatible('cuda-version', lower_bound='x.x', upper_bound='x') }}",
        '',
      ].join('\n'),
    });
    try {
      const result = bad.forge('lint');
      expect(result.code).toBe(1);
      const lines = result.stdout.split('\n').filter((l) => l.startsWith('pkgs/'));
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^pkgs\/bad\/recipe\/recipe\.yaml:6: `python 3\.12\.\*` pins a variant key in host/),
          expect.stringMatching(/^pkgs\/bad\/recipe\/recipe\.yaml:7: `cuda-version >=12\.6` pins a variant key in host/),
          expect.stringMatching(/^pkgs\/bad\/recipe\/recipe\.yaml:\d+: a CUDA package needs `build\.variant\.use_keys/),
          expect.stringMatching(/^pkgs\/bad\/recipe\/recipe\.yaml:4: `ignore_run_exports\.from_package` must list the -dev packages \(cuda-cudart-dev\)/),
          expect.stringMatching(/\[maintainers\]$/),
          expect.stringMatching(/\[license-file\]$/),
          expect.stringMatching(/^pkgs\/bad\/recipe\/recipe\.yaml:2: a `git` source needs a `tag` or a `rev`/),
        ]),
      );
    } finally {
      bad.dispose();
    }
  });

  it('warns about skip entries the engine ignores: match() with a bare version (with the fix), an undefined name', () => {
    const ws = new TempWorkspace({
      'variants.yaml': 'python: ["3.12", "3.13"]\n',
      'pkgs/m/recipe/recipe.yaml': [
        'package: {name: m, version: "1"}',
        'source: {url: https://example.invalid/m.tgz, sha256: "0000000000000000000000000000000000000000000000000000000000000000"}',
        'build:',
        '  skip:',
        '    - match(python, "3.13")',
        '    - match(python, ">=3.12,<3.13")',
        "    - match(python, '3.12|3.13.*')",
        '    - pyhton == "3.13"',
        'requirements:',
        '  host: [python]',
        'about: {license_file: LICENSE}',
        'extra: {recipe-maintainers: [someone]}',
        '',
      ].join('\n'),
    });
    try {
      const result = ws.forge('lint');
      expect(result.code).toBe(1);
      expect(result.stdout.split('\n').filter((l) => l.startsWith('pkgs/'))).toEqual([
        'pkgs/m/recipe/recipe.yaml:5: `match(python, "3.13")`: rattler-build does not read a bare version as a match; write `==3.13` (exactly) or `3.13.*` (any release of it); as written, rattler-build ignores this skip entry and builds those variants [match-spec]',
        "pkgs/m/recipe/recipe.yaml:7: `match(python, '3.12|3.13.*')`: rattler-build does not read a bare version as a match; write `==3.12|3.13.*` (exactly) or `3.12.*|3.13.*` (any release of it); as written, rattler-build ignores this skip entry and builds those variants [match-spec]",
        'pkgs/m/recipe/recipe.yaml:8: this skip entry cannot be evaluated (undefined variable `pyhton` in `${{ pyhton == "3.13" }}`); rattler-build ignores it and builds those variants [skip-ignored]',
      ]);
      // What forge predicts is what the engine does: only the valid entry skips (3.12), the ignored ones skip nothing.
      const [m] = JSON.parse(ws.forge('variants', '--json').stdout) as Array<{ variants: Array<{ id: string; buildString: string; values: Record<string, string> }> }>;
      const engine = engineKeptOutputs(join(ws.root, 'pkgs/m/recipe/recipe.yaml'), join(ws.root, 'variants.yaml'));
      expect(engine.map((o) => o.variant.python)).toEqual(['3.13']);
      expect(m!.variants.map((v) => [v.values.python, v.buildString])).toEqual(engine.map((o) => [o.variant.python, o.buildString]));
    } finally {
      ws.dispose();
    }
  });
});
