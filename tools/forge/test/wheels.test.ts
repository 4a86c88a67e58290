import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePython, repoRoot } from './support/paths.js';
import { filesUnder, localPipIndex, serveFolder, wheelManifest, wheelWorkspace } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-wheels-test-'));
const uv = join(repoRoot, '.venv/bin/uv');
const hostShort = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
const other = hostShort === '3.12' ? '3.11' : '3.12';
const id = `py${hostShort}`;

/** The wheel platform tag of this machine's python3 (bdist_wheel's rule: sysconfig's platform, - and . as _). */
const hostPlatformTag = execFileSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))'], { encoding: 'utf8' }).trim();

/**
 * A variant wheel's name parsed with variantlib's PEP 825 pattern, and its
 * dist-info variant.json: the labels it lists and the hash variantlib computes
 * for the properties of the wheel's label.
 */
const VARIANT_NAME_CHECK = [
  'import json, os, sys, zipfile',
  'from variantlib.constants import VALIDATION_WHEEL_NAME_REGEX',
  'from variantlib.models.variant import VariantDescription, VariantProperty',
  'name = VALIDATION_WHEEL_NAME_REGEX.fullmatch(os.path.basename(sys.argv[1]))',
  'z = zipfile.ZipFile(sys.argv[1])',
  'variants = json.loads(z.read([n for n in z.namelist() if n.endswith(".dist-info/variant.json")][0]))["variants"]',
  'label = name.group("variant_label")',
  'props = [VariantProperty(namespace=ns, feature=f, value=v) for ns, feats in variants.get(label, {}).items() for f, vals in feats.items() for v in vals]',
  'print(json.dumps({"label": label, "pyver": name.group("pyver"), "abi": name.group("abi"), "labels": sorted(variants), "digest": VariantDescription(properties=props).hexdigest if props else "", "properties": [p.to_str() for p in props]}))',
].join('\n');

/** Runs python code with the tools venv's interpreter (it has zipfile and nothing else is needed). */
function py(code: string, ...args: string[]): string {
  return execFileSync(enginePython(), ['-c', code, ...args], { encoding: 'utf8' });
}

/** Imports a module from a folder of installed wheels with the host's python3. */
function runInstalled(dir: string, code: string): string {
  return execFileSync('python3', ['-c', code], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: dir } }).trim();
}

// Before the suite below, which removes the scratch folder (and the pip index there) when it ends.
describe('a value added to the matrix after a release was published', { timeout: 400_000 }, () => {
  it('refuses the upload of the new variant before writing anything, and says to bump build_number', () => {
    const ws = wheelWorkspace(localPipIndex(scratch));
    try {
      // A key of demo-wheel's own beside python, so one host Python builds two variants (its dependent would
      // have to take the key too: left out).
      rmSync(join(ws.root, 'pkgs/demo-wheel-app'), { recursive: true });
      ws.write('variants.yaml', `python:\n  - "${hostShort}"\nflavor:\n  - a\n`);
      ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (text) => text.replace('keys: [python]', 'keys: [python, flavor]').replace('  properties:\n', '  properties:\n    - "forge_demo :: flavor :: ${{ flavor }}"\n'));
      const first = ws.nx('run', 'demo-wheel:upload-wheels', '--output-style=stream');
      expect(first.code, first.stdout).toBe(0);
      const index = join(ws.root, '.wheel-index');
      const before = filesUnder(index).filter((f) => !f.startsWith('.forge/') && !f.endsWith('.lock'));

      // The built variant keeps its key (and its label's declared values); the new one declares both flavors.
      ws.write('variants.yaml', `python:\n  - "${hostShort}"\nflavor:\n  - a\n  - b\n`);
      const second = ws.nx('run', 'demo-wheel:upload-wheels', '--output-style=stream');
      expect(second.code, second.stdout + second.stderr).not.toBe(0);
      expect(second.stdout).toMatch(/Inconsistency in providers\.forge_demo.*bump build_number in pkgs\/demo-wheel\/wheel\/wheel\.yaml to build and publish every variant again/);
      expect(filesUnder(index).filter((f) => !f.startsWith('.forge/') && !f.endsWith('.lock'))).toEqual(before);
    } finally {
      ws.dispose();
    }
  });
});

// One workspace, built once, reused by every test in order: the builds are the slow part.
// Each test runs several real builds: with the whole suite on 2 cores one can take minutes.
describe('wheel projects: examples/wheels on the host and in a venv', { timeout: 400_000 }, () => {
  let ws: TempWorkspace;
  beforeAll(() => {
    ws = wheelWorkspace(localPipIndex(scratch));
    // Both Pythons of the example's matrix, whatever this machine has.
    ws.write('variants.yaml', `python:\n  - "${hostShort}"\n  - "${other}"\n`);
  });
  afterAll(() => {
    ws.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('makes each wheel project an Nx project with a wheel-<id> task per variant, inferred dependencies and listings', () => {
    const shown = JSON.parse(ws.nx('show', 'project', 'demo-wheel-app', '--json').stdout) as { tags: string[]; targets: Record<string, { dependsOn?: unknown[] }> };
    expect(shown.tags).toContain('wheel');
    expect(Object.keys(shown.targets).sort()).toEqual(['upload-wheels', 'wheel', `wheel-py${hostShort}`, `wheel-py${other}`].sort());
    expect(shown.targets[`wheel-${id}`]!.dependsOn).toEqual([{ projects: ['demo-wheel'], target: `wheel-${id}` }]);
    ws.nx('graph', '--file=graph.json');
    const graph = JSON.parse(readFileSync(join(ws.root, 'graph.json'), 'utf8')) as { graph: { dependencies: Record<string, Array<{ target: string }>> } };
    expect(graph.graph.dependencies['demo-wheel-app']!.map((d) => d.target)).toEqual(['demo-wheel']);
    const variants = JSON.parse(ws.forge('variants', '--json').stdout) as Array<{ kind: string; project: string; variants: Array<{ id: string }> }>;
    expect(variants.map((v) => [v.kind, v.project, v.variants.map((x) => x.id).sort()])).toEqual([
      ['wheel', 'demo-wheel', [`py${hostShort}`, `py${other}`].sort()],
      ['wheel', 'demo-wheel-app', [`py${hostShort}`, `py${other}`].sort()],
    ]);
  });

  it('builds, tests, labels and places the variant the host matches, and skips the other with the reason', () => {
    const run = ws.nx('run-many', '-t', 'wheel', '--output-style=stream');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`demo-wheel:py${other}: skipped: needs Python ${other}, this machine has ${hostShort}`);
    expect(run.stdout).toMatch(/demo-wheel-app:py[\d.]+: skipped: upstream demo-wheel:py[\d.]+ has no wheel here/);
    expect(run.stdout).toContain('[demo-wheel-app:' + id + ' test] import demo_wheel_app: ok');
    const tag = `cp${hostShort.replace('.', '')}`;
    const files = filesUnder(join(ws.root, 'wheelhouse/demo-wheel', id));
    const folder = `py${hostShort.replace('.', '')}/cpu/${hostPlatformTag}/`;
    const labelled = files.find((f) => f.startsWith(folder) && f.endsWith('.whl'))!;
    expect(labelled).toMatch(new RegExp(`^py\\d+/cpu/${hostPlatformTag}/demo_wheel-0\\.1\\.0-${tag}-${tag}-[^-]+-[0-9a-f]{8}\\.whl$`));
    expect(files).toContain(`${folder}demo_wheel-0.1.0-variants.json`);
    // The name read as PEP 825 reads it (variantlib's own pattern), its label the hash variantlib gives the wheel's variant.json.
    const parsed = JSON.parse(py(VARIANT_NAME_CHECK, join(ws.root, 'wheelhouse/demo-wheel', id, labelled))) as { label: string; pyver: string; abi: string; labels: string[]; digest: string; properties: string[] };
    expect(parsed).toMatchObject({ pyver: tag, abi: tag, labels: [parsed.label], digest: parsed.label });
    expect(parsed.properties).toContain(`forge_demo :: abi :: ${tag}`);
    expect(files.some((f) => /^index\/cpu\/demo-wheel\/demo_wheel-0\.1\.0-.*\.whl$/.test(f))).toBe(true);
    expect(existsSync(join(ws.root, 'wheelhouse/demo-wheel', `py${other}`))).toBe(false);
    expect(filesUnder(join(ws.root, 'wheelhouse/.staging'))).toEqual([]);
  });

  it('skips what the wheelhouse has (content key) and what Nx cached; an edit rebuilds the project and its dependents', () => {
    const before = wheelManifest(ws, 'demo-wheel-app', id)!;
    const again = ws.nx('run-many', '-t', 'wheel', '--skip-nx-cache', '--output-style=stream');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`demo-wheel:${id}: cached in wheelhouse/demo-wheel/${id}`);
    expect(wheelManifest(ws, 'demo-wheel-app', id)!.builtAt).toBe(before.builtAt);
    // A local source that is a git clone: git's files are not copied into the build, so they change no key.
    ws.write('pkgs/demo-wheel/src/.git/HEAD', 'ref: refs/heads/main\n');
    const withGit = JSON.parse(ws.forge('plan', '--json').stdout) as Array<{ target: string; status: string }>;
    expect(withGit.find((p) => p.target === `demo-wheel:wheel-${id}`)!.status).toBe('cached');
    rmSync(join(ws.root, 'pkgs/demo-wheel/src/.git'), { recursive: true });
    const nxCached = ws.nx('run-many', '-t', 'wheel');
    expect(nxCached.stdout).toMatch(/Nx read the output from the cache instead of running the command for [1-9]/);

    ws.edit('pkgs/demo-wheel/src/demo_wheel.c', (text) => `/* an edit */\n${text}`);
    const affected = ws.nx('show', 'projects', '--affected', '--files=pkgs/demo-wheel/src/demo_wheel.c', '--json');
    expect((JSON.parse(affected.stdout) as string[]).sort()).toEqual(['demo-wheel', 'demo-wheel-app']);
    const plan = JSON.parse(ws.forge('plan', '--json').stdout) as Array<{ kind: string; target: string; status: string; reason: string }>;
    const byTarget = new Map(plan.map((p) => [p.target, p]));
    expect(byTarget.get(`demo-wheel:wheel-${id}`)).toMatchObject({ kind: 'wheel', status: 'build' });
    expect(byTarget.get(`demo-wheel:wheel-${id}`)!.reason).toContain('file changed: ../src/demo_wheel.c');
    expect(byTarget.get(`demo-wheel-app:wheel-${id}`)!.reason).toContain(`upstream changed: demo-wheel/${id}`);
    expect(byTarget.get(`demo-wheel:wheel-py${other}`)).toMatchObject({ status: 'skipped' });
    const matrix = JSON.parse(ws.forge('matrix', '--json').stdout) as { count: number; 'wave0-0': { include: Array<{ task: string; kind: string }> }; 'wave1-0': { include: Array<{ task: string }> } };
    expect(matrix.count).toBe(2);
    expect(matrix['wave0-0'].include).toEqual([expect.objectContaining({ kind: 'wheel', task: `demo-wheel:wheel-${id}` })]);
    expect(matrix['wave1-0'].include.map((j) => j.task)).toEqual([`demo-wheel-app:wheel-${id}`]);
    const rebuilt = ws.nx('run-many', '-t', 'wheel', '--output-style=stream');
    expect(rebuilt.code).toBe(0);
    expect(wheelManifest(ws, 'demo-wheel-app', id)!.builtAt).not.toBe(before.builtAt);
  });

  it('publishes to the wheel index (a per-CUDA PEP 503 index and the variant wheels), never twice, and installs from it', () => {
    // A build whose wheel changed since is an error of the upload alone (its wheel task would restore it), not
    // "not built here" with the upload green and the variant missing from the index.
    const built = join(ws.root, 'wheelhouse/demo-wheel', id, wheelManifest(ws, 'demo-wheel', id)!.files.find((f) => f.file.endsWith('.whl'))!.file);
    const good = readFileSync(built);
    writeFileSync(built, Buffer.concat([good, Buffer.from('damage')]));
    const alone = ws.nx('run', 'demo-wheel:upload-wheels', '--exclude-task-dependencies', '--skip-nx-cache', '--output-style=stream');
    expect(alone.code).not.toBe(0);
    expect(alone.stdout).toContain(`error: demo-wheel:${id}: files of the build in wheelhouse/demo-wheel/${id} were removed or changed since it was built (${relative(join(ws.root, 'wheelhouse/demo-wheel', id), built)}); run its wheel task first`);
    expect(existsSync(join(ws.root, '.wheel-index'))).toBe(false);
    writeFileSync(built, good);
    const upload = ws.nx('run-many', '-t', 'upload-wheels', '--output-style=stream');
    expect(upload.code, upload.stdout).toBe(0);
    const index = join(ws.root, '.wheel-index');
    const published = filesUnder(index);
    expect(published).toContain('cpu/index.html');
    expect(published.some((f) => /^cpu\/demo-wheel-app\/demo_wheel_app-0\.1\.0-.*\.whl$/.test(f))).toBe(true);
    expect(published.some((f) => /^variants\/demo-wheel\/demo_wheel-0\.1\.0-.*-[0-9a-f]{8}\.whl$/.test(f))).toBe(true);
    expect(published).toContain('variants/demo-wheel/demo_wheel-0.1.0-variants.json');
    expect(published).toContain(`.forge/demo-wheel/${id}.json`);
    const target = join(scratch, 'installed');
    execFileSync(uv, ['pip', 'install', '--quiet', '--python', 'python3', '--target', target, '--index-url', `file://${join(index, 'cpu')}`, 'demo-wheel-app', 'demo-wheel'], { env: { ...process.env, UV_NO_CONFIG: '1' } });
    expect(runInstalled(target, 'import demo_wheel, demo_wheel_app; print(demo_wheel.add(2, 3), demo_wheel_app.answer())')).toBe('5 42');

    const twice = ws.nx('run-many', '-t', 'upload-wheels', '--skip-nx-cache', '--output-style=stream');
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`demo-wheel:${id}: already in ${index}`);
    expect(filesUnder(index)).toEqual(published);
  });

  it('takes a published variant from the index instead of building it, and refuses one whose inputs changed under the same version', () => {
    rmSync(join(ws.root, 'wheelhouse/demo-wheel', id), { recursive: true });
    // A published file damaged since its upload is refused, not copied in as this key's wheel.
    const publishedWheel = join(ws.root, '.wheel-index/cpu/demo-wheel', filesUnder(join(ws.root, '.wheel-index/cpu/demo-wheel')).find((f) => f.endsWith('.whl'))!);
    const good = readFileSync(publishedWheel);
    writeFileSync(publishedWheel, Buffer.concat([good, Buffer.from('damage')]));
    const damaged = ws.nx('run', `demo-wheel:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
    expect(damaged.code).not.toBe(0);
    expect(damaged.stdout).toMatch(new RegExp(`demo-wheel:${id}: error: ${join(ws.root, '.wheel-index/cpu/demo-wheel/demo_wheel-0\\.1\\.0-')}\\S+\\.whl is not the file that was published \\(sha256 [0-9a-f]{12}, its upload recorded [0-9a-f]{12}\\): the wheel index is damaged`));
    expect(wheelManifest(ws, 'demo-wheel', id)).toBeUndefined();
    writeFileSync(publishedWheel, good);
    const fromIndex = ws.nx('run', `demo-wheel:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
    expect(fromIndex.code).toBe(0);
    expect(fromIndex.stdout).toContain(`demo-wheel:${id}: already published in ${join(ws.root, '.wheel-index')}, not building`);
    expect(wheelManifest(ws, 'demo-wheel', id)!.files.some((f) => f.file.endsWith('.whl'))).toBe(true);

    ws.edit('pkgs/demo-wheel/src/demo_wheel.c', (text) => `/* a second edit */\n${text}`);
    const stale = ws.nx('run', `demo-wheel:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
    expect(stale.code).not.toBe(0);
    expect(stale.stdout).toMatch(/already has demo-wheel 0\.1\.0 for this variant, built from other inputs \(file changed: \.\.\/src\/demo_wheel\.c\); bump build_number \(or version\) in pkgs\/demo-wheel\/wheel\/wheel\.yaml/);

    ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (text) => text.replace('version: 0.1.0\n', 'version: 0.1.0\nbuild_number: 1\n'));
    // The wheelhouse still holds the wheel of the old source: an upload alone must not pass it off as build 1.
    const alone = ws.nx('run', 'demo-wheel:upload-wheels', '--exclude-task-dependencies', '--skip-nx-cache', '--output-style=stream');
    expect(alone.code).not.toBe(0);
    expect(alone.stdout).toContain(`error: demo-wheel:${id}: the wheel in wheelhouse/demo-wheel/${id} is not built from its current inputs (file changed: wheel.yaml; file changed: ../src/demo_wheel.c); run its wheel task first`);
    const bumped = ws.nx('run-many', '-t', 'upload-wheels', '-p', 'demo-wheel', '--output-style=stream');
    expect(bumped.code, bumped.stdout).toBe(0);
    expect(filesUnder(join(ws.root, '.wheel-index/cpu/demo-wheel')).some((f) => /^demo_wheel-0\.1\.0-1-cp\d+-/.test(f))).toBe(true);
  });

  it('looks published variants up in a wheel index served over http too', async () => {
    const served = await serveFolder(join(ws.root, '.wheel-index'));
    ws.edit('nx.json', (text) => text.replace('"./.wheel-index"', `"${served.url}"`));
    try {
      rmSync(join(ws.root, 'wheelhouse/demo-wheel', id), { recursive: true });
      const fromServer = await ws.nxAsync('run', `demo-wheel:wheel-${id}`, '--skip-nx-cache', '--output-style=stream');
      expect(fromServer.code, fromServer.stdout).toBe(0);
      expect(fromServer.stdout).toContain(`demo-wheel:${id}: already published in ${served.url}, not building`);
      expect(served.requests).toContain(`/.forge/demo-wheel/${id}.json`);
      expect(wheelManifest(ws, 'demo-wheel', id)!.files.filter((f) => f.file.endsWith('.whl'))).toHaveLength(2);
    } finally {
      served.server.close();
      ws.edit('nx.json', (text) => text.replace(`"${served.url}"`, '"./.wheel-index"'));
    }
  });

  it('builds the same variant in a fresh venv from the configured index (a new toolchain: a new build number to publish)', () => {
    const refused = ws.nxWithEnv({ FORGE_WHEEL_ENVIRONMENT: 'venv' }, 'run', `demo-wheel-app:wheel-${id}`, '--output-style=stream');
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toContain('built from other inputs (toolchain environment changed: host -> venv)');
    ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (text) => text.replace('build_number: 1', 'build_number: 2'));
    ws.edit('pkgs/demo-wheel-app/wheel/wheel.yaml', (text) => text.replace('version: 0.1.0\n', 'version: 0.1.0\nbuild_number: 1\n'));
    const venv = ws.nxWithEnv({ FORGE_WHEEL_ENVIRONMENT: 'venv' }, 'run', `demo-wheel-app:wheel-${id}`, '--output-style=stream');
    expect(venv.code, venv.stdout).toBe(0);
    expect(venv.stdout).toMatch(/installing setuptools>=70\.1 into a fresh venv from file:\/\//);
    expect(venv.stdout).toMatch(/installing the upstream wheels demo_wheel-0\.1\.0-2-cp\d+-cp\d+-[^ ]+\.whl\n/);
    expect(venv.stdout).toContain(`[demo-wheel-app:${id} test] import demo_wheel_app: ok`);
    const manifest = JSON.parse(readFileSync(join(ws.root, 'wheelhouse/demo-wheel-app', id, 'manifest.json'), 'utf8')) as { inputs: { toolchain: Record<string, string> } };
    expect(manifest.inputs.toolchain).toMatchObject({ environment: 'venv', python: expect.stringMatching(new RegExp(`^${hostShort.replace('.', '\\.')}\\.`)) });
  });
});
