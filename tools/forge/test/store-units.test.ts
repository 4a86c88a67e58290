import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeyInputs } from '../src/store/content-key.js';
import { MANIFEST, OutputStore, sha256File, type Manifest } from '../src/store/outputs.js';

/**
 * The skip decision of the output store, without a build: a variant is skipped
 * only when its manifest is forge's, names the same key, and every file it
 * lists is there with the recorded size and sha256. Anything else builds again.
 */
const scratch = mkdtempSync(join(tmpdir(), 'forge-store-units-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let count = 0;
const freshStore = () => new OutputStore(join(scratch, `store${count++}`));
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const INPUTS: KeyInputs = { files: { 'recipe.yaml': sha256('r') }, variant: { lib: { python: '3.12' } }, upstream: {}, engine: 'e 1' };
const PACKAGE = 'linux-64/lib-1.0-h0_0.conda';
const CONTENT = 'a package';

/** A finished build of lib/v1 under `key`, as the executor leaves it; `edit` changes the manifest written. */
function built(store: OutputStore, key = 'k1', edit: (manifest: Record<string, unknown>) => unknown = (m) => m): Manifest {
  const dir = store.taskDir('lib', 'v1');
  mkdirSync(join(dir, 'linux-64'), { recursive: true });
  writeFileSync(join(dir, PACKAGE), CONTENT);
  const manifest = { project: 'lib', id: 'v1', key, inputs: INPUTS, files: [{ file: PACKAGE, sha256: sha256(CONTENT), size: CONTENT.length }], builtAt: '2026-01-01T00:00:00Z', seconds: 1 };
  const written = edit(manifest);
  writeFileSync(join(dir, MANIFEST), typeof written === 'string' ? written : JSON.stringify(written));
  return manifest as Manifest;
}

describe('the output store', () => {
  it('skips a variant whose manifest has the key and intact files', () => {
    const store = freshStore();
    const manifest = built(store);
    expect(store.valid('lib', 'v1', 'k1')).toEqual(manifest);
  });

  it('builds again for another key, no manifest, or a listed file missing, resized or changed', () => {
    const store = freshStore();
    expect(store.valid('lib', 'v1', 'k1')).toBeUndefined();
    built(store);
    expect(store.valid('lib', 'v1', 'k2')).toBeUndefined();
    const file = join(store.taskDir('lib', 'v1'), PACKAGE);
    writeFileSync(file, 'a packagE');
    expect(store.valid('lib', 'v1', 'k1'), 'same size, other bytes').toBeUndefined();
    writeFileSync(file, `${CONTENT}!`);
    expect(store.valid('lib', 'v1', 'k1'), 'other size').toBeUndefined();
    rmSync(file);
    expect(store.valid('lib', 'v1', 'k1'), 'missing').toBeUndefined();
    writeFileSync(file, CONTENT);
    expect(store.valid('lib', 'v1', 'k1'), 'restored').toBeDefined();
  });

  it('says why a variant builds: never built, its inputs changed, or (same inputs) which files were removed or changed', () => {
    const store = freshStore();
    expect(store.buildReason('lib', 'v1', 'k1', INPUTS)).toBe('never built');
    built(store);
    expect(store.buildReason('lib', 'v1', 'k2', { ...INPUTS, files: { 'recipe.yaml': sha256('r2') } })).toBe('inputs changed: recipe file changed: recipe.yaml');
    // `forge plan` said "inputs changed: " with nothing after it when the output was damaged and the inputs were the same.
    rmSync(join(store.taskDir('lib', 'v1'), PACKAGE));
    expect(store.buildReason('lib', 'v1', 'k1', INPUTS)).toBe(`files of the last build removed or changed: ${PACKAGE}`);
  });

  it.each<[string, (m: Record<string, unknown>) => unknown]>([
    ['not JSON', () => '{"key": '],
    ['a list', (m) => [m]],
    ['no key', ({ key: _, ...m }) => m],
    ['a numeric key', (m) => ({ ...m, key: 1 })],
    ['no builtAt', ({ builtAt: _, ...m }) => m],
    ['files not a list', (m) => ({ ...m, files: {} })],
    ['no inputs', ({ inputs: _, ...m }) => m],
    ['inputs a list', (m) => ({ ...m, inputs: [] })],
    ['a file hash not a string', (m) => ({ ...m, inputs: { ...INPUTS, files: { 'recipe.yaml': 1 } } })],
    ['variant not a mapping', (m) => ({ ...m, inputs: { ...INPUTS, variant: 'x' } })],
    ['an output variant not a mapping', (m) => ({ ...m, inputs: { ...INPUTS, variant: { lib: { python: '3.12' }, other: 'x' } } })],
    ['upstream keys not strings', (m) => ({ ...m, inputs: { ...INPUTS, upstream: { a: 1 } } })],
    ['no engine', (m) => ({ ...m, inputs: { ...INPUTS, engine: undefined } })],
    ['a source not a string map', (m) => ({ ...m, inputs: { ...INPUTS, source: { git: 1 } } })],
    ['a toolchain not a string map', (m) => ({ ...m, inputs: { ...INPUTS, toolchain: 'x' } })],
    ['a file entry not a mapping', (m) => ({ ...m, files: [...(m.files as unknown[]), 'x'] })],
    ['a file outside the folder', (m) => ({ ...m, files: [{ file: '../escape', sha256: sha256(CONTENT), size: CONTENT.length }] })],
    ['a file entry without sha256', (m) => ({ ...m, files: [{ file: PACKAGE, size: CONTENT.length }] })],
    ['a file entry with a text size', (m) => ({ ...m, files: [{ file: PACKAGE, sha256: sha256(CONTENT), size: String(CONTENT.length) }] })],
  ])('counts a manifest with %s as none', (_name, edit) => {
    const store = freshStore();
    built(store, 'k1', edit);
    expect(store.readManifest('lib', 'v1')).toBeUndefined();
    expect(store.valid('lib', 'v1', 'k1')).toBeUndefined();
  });

  it('reads a wheel manifest (source and toolchain as string maps)', () => {
    const store = freshStore();
    const manifest = built(store, 'k1', (m) => ({ ...m, inputs: { ...INPUTS, source: { git: 'u', commit: 'c' }, toolchain: { python: '3.12' } } }));
    expect(store.valid('lib', 'v1', 'k1')?.inputs).toEqual({ ...manifest.inputs, source: { git: 'u', commit: 'c' }, toolchain: { python: '3.12' } });
  });

  it('lists the built variants of a project, sorted, leaving out folders without a manifest', () => {
    const store = freshStore();
    expect(store.builtIds('lib')).toEqual([]);
    for (const id of ['v2', 'v1', 'v3']) {
      mkdirSync(store.taskDir('lib', id), { recursive: true });
      if (id !== 'v3') writeFileSync(join(store.taskDir('lib', id), MANIFEST), '{}');
    }
    expect(store.builtIds('lib')).toEqual(['v1', 'v2']);
  });

  it('keeps a failure record per variant until it is cleared; a damaged one counts as none', () => {
    const store = freshStore();
    expect(store.failure('lib', 'v1')).toBeUndefined();
    store.recordFailure('lib', 'v1', 'k1', ['error: x']);
    const failure = store.failure('lib', 'v1');
    expect(failure).toMatchObject({ key: 'k1', tail: ['error: x'] });
    expect(Date.parse(failure!.at)).not.toBeNaN();
    expect(store.failure('lib', 'v2')).toBeUndefined();
    expect(readdirSync(join(store.dir, '.failed', 'lib'))).toEqual(['v1.json']);
    store.clearFailure('lib', 'v1');
    expect(store.failure('lib', 'v1')).toBeUndefined();
    store.clearFailure('lib', 'v1');
    store.clearFailure('never', 'v1');
    for (const bad of [{ key: 'k', at: 'now', tail: ['ok', 1] }, { key: 'k', at: 'now', tail: 'x' }, { key: 'k', tail: [] }, { at: 'now', tail: [] }, []]) {
      writeFileSync(join(store.dir, '.failed', 'lib', 'v1.json'), JSON.stringify(bad));
      expect(store.failure('lib', 'v1'), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('publishes a staged build in place of the old one and leaves no staging folder', () => {
    const store = freshStore();
    built(store, 'old');
    const staged = store.stagingDir('lib', 'v1');
    expect(existsSync(staged)).toBe(true);
    writeFileSync(join(staged, MANIFEST), 'new');
    store.publish(staged, 'lib', 'v1');
    expect(readdirSync(store.taskDir('lib', 'v1'))).toEqual([MANIFEST]);
    expect(existsSync(join(store.dir, '.staging'))).toBe(true);
    expect(readdirSync(join(store.dir, '.staging'))).toEqual([]);
    expect(readdirSync(join(store.dir, 'lib'))).toEqual(['v1']);
  });

  it('publishes a first build and discards an abandoned attempt', () => {
    const store = freshStore();
    const first = store.stagingDir('lib', 'v1');
    const second = store.stagingDir('lib', 'v1');
    expect(first).not.toBe(second);
    writeFileSync(join(first, MANIFEST), 'first');
    store.publish(first, 'lib', 'v1');
    expect(readdirSync(join(store.dir, '.staging'))).toEqual(['lib-v1']);
    store.discard(second);
    expect(existsSync(second)).toBe(false);
    expect(readdirSync(join(store.dir, '.staging'))).toEqual([]);
    expect(sha256File(join(store.taskDir('lib', 'v1'), MANIFEST))).toBe(sha256('first'));
  });

  it('sweeps the staging folders and locks a dead build left, not those of a build holding its lock', async () => {
    const store = freshStore();
    const dead = store.stagingDir('lib', 'v1');
    writeFileSync(join(dead, 'work'), 'x');
    mkdirSync(join(store.dir, '.locks'), { recursive: true });
    writeFileSync(join(store.dir, '.locks', 'lib-v1.lock'), JSON.stringify({ host: hostname(), pid: spawnSync('true').pid, start: '' }));
    let during: string[] = [];
    await store.lock('app', 'v1', async () => {
      const live = store.stagingDir('app', 'v1');
      store.sweep();
      during = readdirSync(join(store.dir, '.staging'));
      store.discard(live);
    });
    expect(during).toEqual(['app-v1']);
    expect(readdirSync(join(store.dir, '.locks'))).toEqual([]);
    store.sweep();
    expect(readdirSync(join(store.dir, '.staging'))).toEqual([]);
  });

  it('sweeps an empty store without creating anything, and a dead lock with no staging folder', () => {
    const store = freshStore();
    store.sweep();
    expect(existsSync(store.dir)).toBe(false);
    mkdirSync(join(store.dir, '.locks'), { recursive: true });
    const dead = JSON.stringify({ host: hostname(), pid: spawnSync('true').pid, start: '' });
    writeFileSync(join(store.dir, '.locks', 'lib-v1.lock'), dead);
    store.sweep();
    expect(readdirSync(join(store.dir, '.locks'))).toEqual([]);
  });

  it('sweeps a staging folder a dead build left before any lock folder existed', () => {
    const store = freshStore();
    mkdirSync(join(store.dir, '.staging', 'lib-v1', '1-0'), { recursive: true });
    writeFileSync(join(store.dir, '.staging', 'lib-v1', '1-0', 'work'), 'x');
    store.sweep();
    expect(readdirSync(join(store.dir, '.staging'))).toEqual([]);
  });
});
