import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REPAIR_EXCLUDES, labelWheel, localVersionWheel, pytorchLocalVersion, repairWheel, writeVariantsJson } from '../src/engine/wheel-tool.js';
import { indexDir, indexUrl, publishWheels } from '../src/store/wheel-index.js';
import { CUDA_ARCH_LISTS, defaultCudaArchList, torchIncompatibility } from '../src/variants/torch-cuda.js';
import { enginePython, fixturesDir, repoRoot } from './support/paths.js';
import { PYTORCH_CUDA_ARCHES, realArches } from './support/pytorch-matrix.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-wheel-outputs-'));
const dist = join(scratch, 'dist');
let python: string;
let extWheel: string;
let pureWheel: string;

/** The machine's Python (the tools venv's) builds the fixtures with pypa build, no isolation: offline. */
beforeAll(() => {
  python = enginePython();
  for (const project of ['tiny-ext', 'tiny-pure']) {
    cpSync(join(fixturesDir, 'wheel-outputs', project), join(scratch, project), { recursive: true });
    execFileSync(python, ['-m', 'build', '--no-isolation', '--wheel', '--outdir', dist, join(scratch, project)], { stdio: 'pipe' });
  }
  const built = readdirSync(dist);
  extWheel = join(dist, built.find((name) => name.startsWith('tiny_ext-'))!);
  pureWheel = join(dist, built.find((name) => name.startsWith('tiny_pure-'))!);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function zipEntry(wheel: string, suffix: string): string {
  const script = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.read(next(n for n in z.namelist() if n.endswith(sys.argv[2]))).decode(), end="")';
  return execFileSync(python, ['-c', script, wheel, suffix], { encoding: 'utf8' });
}

/** Every file of a folder with its bytes' hash: a snapshot to compare an index before and after. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return files;
}

/** Links of a PEP 503 page: file name -> sha256 fragment. */
function links(page: string): Record<string, string> {
  return Object.fromEntries([...readFileSync(page, 'utf8').matchAll(/<a href="([^"#]+)#sha256=([0-9a-f]{64})"/g)].map((m) => [decodeURIComponent(m[1]!), m[2]!]));
}

/** pip and uv with no configuration or environment of this machine: only the index under test. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(PIP|UV)_/.test(key)));
  return { ...env, PIP_CONFIG_FILE: '/dev/null' };
}

/** variantlib's variant hash: sha256 over the sorted properties, one per line, first 8 hex digits. */
function variantHash(properties: readonly string[]): string {
  return createHash('sha256').update([...properties].sort().map((p) => `${p}\n`).join('')).digest('hex').slice(0, 8);
}

const XY = ['x :: y :: z', 'x :: y :: w'];
const PROPS = ['nvidia :: cuda :: 12.8', 'torch :: version :: 2.11'];
const DECLARED = ['nvidia :: cuda :: 12.8', 'nvidia :: cuda :: 13.0', 'torch :: version :: 2.11'];

describe('labelling a wheel as a wheel variant (variantlib make-variant)', () => {
  it('names it by the variant hash and writes dist-info/variant.json, listed in RECORD', async () => {
    const out = join(scratch, 'variants');
    const labelled = await labelWheel(repoRoot, { wheel: extWheel, outDir: out, properties: PROPS, declare: DECLARED });
    const hash = variantHash(PROPS);
    expect(labelled.label).toBe(hash);
    expect(basename(labelled.wheel)).toBe(`${basename(extWheel, '.whl')}-${hash}.whl`);
    const variantJson = JSON.parse(zipEntry(labelled.wheel, '.dist-info/variant.json'));
    expect(variantJson.variants).toEqual({ [hash]: { nvidia: { cuda: ['12.8'] }, torch: { version: ['2.11'] } } });
    expect(variantJson.providers.nvidia).toEqual({ 'static-properties': { cuda: ['12.8', '13.0'] } });
    expect(variantJson['default-priorities']).toEqual({ namespace: ['nvidia', 'torch'] });
    expect(zipEntry(labelled.wheel, '.dist-info/RECORD')).toMatch(/\.dist-info\/variant\.json,sha256=[\w-]+,\d+/);
  });

  it('takes a readable label, and variants-json indexes every variant of the release', async () => {
    const out = join(scratch, 'variants');
    const labelled = await labelWheel(repoRoot, { wheel: extWheel, outDir: out, properties: ['nvidia :: cuda :: 13.0', 'torch :: version :: 2.11'], declare: DECLARED, label: 'cu130_torch2.11' });
    expect(basename(labelled.wheel)).toBe(`${basename(extWheel, '.whl')}-cu130_torch2.11.whl`);
    const written = await writeVariantsJson(repoRoot, out);
    expect(written.files.map((f) => basename(f))).toEqual(['tiny_ext-0.1.0-variants.json']);
    const index = JSON.parse(readFileSync(written.files[0]!, 'utf8'));
    expect(Object.keys(index.variants).sort()).toEqual(['cu130_torch2.11', variantHash(PROPS)].sort());
    expect(index.variants['cu130_torch2.11']).toEqual({ nvidia: { cuda: ['13.0'] }, torch: { version: ['2.11'] } });
  });

  it('refuses a malformed property or an undeclared value in one line naming the wheel', async () => {
    const out = join(scratch, 'bad-labels');
    mkdirSync(out);
    await expect(labelWheel(repoRoot, { wheel: extWheel, outDir: out, properties: ['nvidia :: CUDA :: 12.8'] })).rejects.toThrow(/^.*tiny_ext-0\.1\.0-.*\.whl: Invalid format: `nvidia :: CUDA :: 12\.8`[^\n]*$/);
    await expect(labelWheel(repoRoot, { wheel: extWheel, outDir: out, properties: ['nvidia :: cuda :: 12.6'], declare: DECLARED })).rejects.toThrow(/nvidia :: cuda :: 12\.6 is not among the declared values/);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('a PEP 503 index of local-version wheels', () => {
  let index: string;
  let localWheel: string;
  beforeAll(async () => {
    index = join(scratch, 'index-cu130');
    const made = await localVersionWheel(repoRoot, { wheel: extWheel, outDir: join(scratch, 'local'), local: pytorchLocalVersion('13.0', '2.11.0') });
    localWheel = made.wheel;
    expect(made.version).toBe('0.1.0+cu130torch2.11.0');
  });

  it('takes an index as a folder or file:// URL, and refuses a server URL', () => {
    expect(indexDir('wheels/cu130', '/ws')).toBe('/ws/wheels/cu130');
    expect(indexDir(indexUrl(index), '/ws')).toBe(index);
    expect(() => indexDir('https://pypi.example/simple', '/ws')).toThrow(/only folders .* uv publish or twine/);
  });

  it('makes a consistent local-version wheel: file name, METADATA, dist-info and RECORD agree', () => {
    expect(basename(localWheel)).toBe(basename(extWheel).replace('tiny_ext-0.1.0-', 'tiny_ext-0.1.0+cu130torch2.11.0-'));
    expect(zipEntry(localWheel, '.dist-info/METADATA')).toMatch(/^Version: 0\.1\.0\+cu130torch2\.11\.0$/m);
    const record = zipEntry(localWheel, '.dist-info/RECORD');
    expect(record).toContain('tiny_ext-0.1.0+cu130torch2.11.0.dist-info/METADATA,sha256=');
    expect(record).not.toContain('tiny_ext-0.1.0.dist-info');
  });

  it('publishes, and both pip and uv install from it and import the extension', async () => {
    // A variant wheel beside the plain one: installers without variant support must skip it.
    const pureVariant = (await labelWheel(repoRoot, { wheel: pureWheel, outDir: join(scratch, 'pure-variant'), properties: ['x :: y :: z'], declare: XY })).wheel;
    const result = await publishWheels(repoRoot, index, [localWheel, pureWheel, pureVariant]);
    expect(result.files.map((f) => [f.project, f.action])).toEqual([
      ['tiny-ext', 'published'],
      ['tiny-pure', 'published'],
      ['tiny-pure', 'published'],
    ]);
    expect(result.variantsJson).toEqual(['tiny-pure/tiny_pure-0.1.0-variants.json']);
    const page = links(join(index, 'tiny-ext', 'index.html'));
    expect(page).toEqual({ [basename(localWheel)]: createHash('sha256').update(readFileSync(localWheel)).digest('hex') });
    expect(readFileSync(join(index, 'index.html'), 'utf8')).toMatch(/href="tiny-ext\/".*\n.*href="tiny-pure\/"/);

    const target = join(scratch, 'pip-target');
    execFileSync(python, ['-m', 'pip', 'install', '--no-cache-dir', '--index-url', indexUrl(index), '--target', target, 'tiny-ext==0.1.0+cu130torch2.11.0'], { env: cleanEnv(), stdio: 'pipe' });
    expect(execFileSync(python, ['-c', 'import tiny_ext; print(tiny_ext.add(2, 40))'], { env: { ...cleanEnv(), PYTHONPATH: target }, encoding: 'utf8' }).trim()).toBe('42');

    const uv = join(repoRoot, '.venv/bin/uv');
    const venv = join(scratch, 'uv-venv');
    execFileSync(uv, ['venv', '--no-config', '--offline', '-q', '-p', python, venv], { env: cleanEnv(), stdio: 'pipe' });
    execFileSync(uv, ['pip', 'install', '--no-config', '--offline', '--no-cache', '--python', join(venv, 'bin/python'), '--index-url', indexUrl(index), 'tiny-ext', 'tiny-pure'], { env: cleanEnv(), stdio: 'pipe' });
    const check = 'import tiny_ext, tiny_pure, importlib.metadata as m; print(tiny_ext.add(1, 2), m.version("tiny-ext"), (m.distribution("tiny-pure")._path / "variant.json").exists())';
    expect(execFileSync(join(venv, 'bin/python'), ['-c', check], { encoding: 'utf8' }).trim()).toBe('3 0.1.0+cu130torch2.11.0 False');
  });

  it('says "present" for the same bytes again, and refuses other bytes under a published name, changing nothing', async () => {
    const again = await publishWheels(repoRoot, index, [localWheel]);
    expect(again.files).toEqual([expect.objectContaining({ file: basename(localWheel), action: 'present' })]);

    const before = snapshot(index);
    const impostor = join(scratch, 'impostor', basename(localWheel));
    mkdirSync(join(scratch, 'impostor'));
    cpSync(extWheel, impostor); // same name, other bytes: what a rebuild without a version bump gives
    const newcomer = (await labelWheel(repoRoot, { wheel: pureWheel, outDir: join(scratch, 'impostor'), properties: ['x :: y :: w'], declare: XY })).wheel;
    await expect(publishWheels(repoRoot, index, [newcomer, impostor])).rejects.toThrow(
      new RegExp(`impostor/${basename(localWheel).replace(/[.+]/g, '\\$&')}: .*already has ${basename(localWheel).replace(/[.+]/g, '\\$&')} with different contents`),
    );
    expect(snapshot(index)).toEqual(before);
  });

  it('stays consistent when two publishes run at once', async () => {
    const shared = join(scratch, 'concurrent');
    const first = await labelWheel(repoRoot, { wheel: extWheel, outDir: shared, properties: ['nvidia :: cuda :: 12.8'], declare: ['nvidia :: cuda :: 12.8', 'nvidia :: cuda :: 13.0'] });
    const second = await labelWheel(repoRoot, { wheel: extWheel, outDir: shared, properties: ['nvidia :: cuda :: 13.0'], declare: ['nvidia :: cuda :: 12.8', 'nvidia :: cuda :: 13.0'] });
    // A temp file left by a publish that was killed is cleared by the next one.
    writeFileSync(join(index, 'tiny-ext', `.${basename(first.wheel)}.99999.tmp`), 'half a wheel');
    mkdirSync(join(index, 'tiny-ext', '.variants-killed'));
    const [a, b] = await Promise.all([publishWheels(repoRoot, index, [first.wheel, localWheel]), publishWheels(repoRoot, index, [second.wheel, localWheel])]);
    expect([...a.files, ...b.files].filter((f) => f.file === basename(localWheel)).map((f) => f.action)).toEqual(['present', 'present']);

    const folder = join(index, 'tiny-ext');
    const files = readdirSync(folder).filter((name) => !name.startsWith('.') && name !== 'index.html');
    expect(files.sort()).toEqual([basename(localWheel), basename(first.wheel), basename(second.wheel), 'tiny_ext-0.1.0-variants.json'].sort());
    const page = links(join(folder, 'index.html'));
    expect(Object.keys(page).sort()).toEqual(files.sort());
    for (const [file, sha] of Object.entries(page)) expect(sha).toBe(createHash('sha256').update(readFileSync(join(folder, file))).digest('hex'));
    expect(Object.keys(JSON.parse(readFileSync(join(folder, 'tiny_ext-0.1.0-variants.json'), 'utf8')).variants).sort()).toEqual([first.label, second.label].sort());
    expect(readdirSync(folder).filter((name) => name.endsWith('.tmp') || name.startsWith('.variants-'))).toEqual([]);
  });

  it('refuses a variant wheel whose providers differ from the release already there, changing nothing', async () => {
    const odd = await labelWheel(repoRoot, { wheel: extWheel, outDir: join(scratch, 'odd'), properties: ['nvidia :: cuda :: 12.6'] });
    const before = snapshot(index);
    await expect(publishWheels(repoRoot, index, [odd.wheel])).rejects.toThrow(/tiny-ext: variantlib generate-index-json: .*Inconsistency in providers\.nvidia/);
    expect(snapshot(index)).toEqual(before);
  });
});

describe('auditwheel repair', () => {
  it('keeps a wheel with no ELF file and says why', async () => {
    const result = await repairWheel(repoRoot, { wheel: pureWheel, outDir: join(scratch, 'repaired') });
    expect(result).toEqual({ repaired: false, wheel: pureWheel, reason: expect.stringMatching(/does not look like a platform wheel, no ELF/) });
  });

  it('repairs the C extension to a manylinux tag with the CUDA/torch excludes', async () => {
    const result = await repairWheel(repoRoot, { wheel: extWheel, outDir: join(scratch, 'repaired'), excludes: ['libfoo.so*'] });
    if (process.platform !== 'linux') {
      // auditwheel only handles Linux ELF wheels; elsewhere it must say so, not fail silently.
      expect(result).toMatchObject({ repaired: false, reason: expect.any(String) });
      return;
    }
    expect(result.repaired).toBe(true);
    if (!result.repaired) return;
    const [, , pythonTag, abiTag] = basename(extWheel).split('-');
    expect(basename(result.wheel)).toMatch(new RegExp(`^tiny_ext-0\\.1\\.0-${pythonTag}-${abiTag}-.*manylinux_2_\\d+_${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.*\\.whl$`));
    expect(result.excludes).toEqual([...DEFAULT_REPAIR_EXCLUDES, 'libfoo.so*']);
    expect(existsSync(result.wheel)).toBe(true);
  });
});

describe('the torch × CUDA tables', () => {
  it("gives each CUDA of the matrix the architectures PyTorch's own builds use, with PTX of the newest", () => {
    expect(Object.keys(CUDA_ARCH_LISTS).sort()).toEqual(Object.keys(PYTORCH_CUDA_ARCHES).sort());
    for (const [cuda, arches] of Object.entries(PYTORCH_CUDA_ARCHES)) {
      const torch = cuda === '13.0' ? '2.11.0+cu130' : '2.8.0';
      const list = defaultCudaArchList(torch, cuda);
      expect(realArches(list), `CUDA ${cuda}`).toEqual(arches);
      expect(list.endsWith(`${arches.at(-1)}+PTX`), `CUDA ${cuda}: ${list}`).toBe(true);
    }
  });

  it('reports pairs torch does not support instead of attempting them', () => {
    expect(() => defaultCudaArchList('2.8.0', '13.0')).toThrow('torch 2.8 supports CUDA 11.8 to 12.9, not 13.0');
    expect(torchIncompatibility({ torch: '2.8.0', python: '3.14' })).toBe('torch 2.8 supports Python 3.9, 3.10, 3.11, 3.12, 3.13, not 3.14');
    expect(torchIncompatibility({ torch: '2.7.1', cuda: '12.8' })).toMatch(/torch 2\.7 is not in the torch compatibility table/);
    expect(torchIncompatibility({ torch: '2.11.0', cuda: '12.9', python: '3.12' })).toBeUndefined();
  });
});
