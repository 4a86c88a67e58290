import { simpleSolve } from '@conda-org/rattler';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOwner } from '../src/process-owner.js';
import { prunePublishRuns } from '../src/store/publish-records.js';
import { demoWorkspace, manifests, sharedBootstrap } from './support/demo.js';
import { startPrefixServer } from './support/prefix-server.js';
import { filesUnder } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-publish-test-'));
let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBootstrap(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TOKEN = 'rw-token-for-tests';
const FILES = 14;

/** Every file of a channel folder -> its sha256. */
function channelBytes(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((file) => [file, createHash('sha256').update(readFileSync(join(dir, file))).digest('hex')]));
}

function setUploadChannel(ws: TempWorkspace, channel: string): void {
  ws.write('nx.json', readFileSync(join(ws.root, 'nx.json'), 'utf8').replace('"uploadChannel": "./.published"', `"uploadChannel": "${channel}"`));
}


describe('publishing the demo to a prefix.dev-compatible server on 127.0.0.1', () => {
  let ws: TempWorkspace;
  let server: Awaited<ReturnType<typeof startPrefixServer>>;
  beforeAll(async () => {
    const served = mkdtempSync(join(scratch, 'prefix-'));
    // The stand-ins for conda-forge's python and cuda-version, served beside wv-forge for the solve.
    cpSync(bootstrap, join(served, 'bootstrap'), { recursive: true });
    server = await startPrefixServer(served, TOKEN);
    ws = demoWorkspace(bootstrap);
    setUploadChannel(ws, `${server.url}/wv-forge`);
  });
  afterAll(() => {
    server.server.close();
    ws.dispose();
  });

  it('stops before building when PREFIX_API_KEY is missing, with one line saying what to set', async () => {
    const result = await ws.nxAsyncWithEnv({ PREFIX_API_KEY: '' }, 'run-many', '-t', 'upload', '--output-style=stream');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('needs PREFIX_API_KEY: export PREFIX_API_KEY=');
    expect(manifests(ws).size).toBe(0);
    expect(server.uploads).toHaveLength(0);
  });

  it('uploads every variant once, upstream packages before their dependents', async () => {
    const result = await ws.nxAsyncWithEnv({ PREFIX_API_KEY: TOKEN }, 'run-many', '-t', 'upload', '--parallel=2', '--output-style=stream');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const uploaded = server.uploads.filter((u) => u.status === 200).map((u) => u.file);
    expect(uploaded).toHaveLength(FILES);
    expect(new Set(uploaded).size).toBe(FILES);
    const last = (prefix: string) => Math.max(...uploaded.map((f, i) => (f.startsWith(prefix) ? i : -1)));
    const first = (prefix: string) => uploaded.findIndex((f) => f.startsWith(prefix));
    expect(last('demo-core-')).toBeLessThan(first('demo-cuda-'));
    expect(last('demo-cuda-')).toBeLessThan(first('demo-ext-'));
    expect(last('demo-ext-')).toBeLessThan(first('demo-app-'));
    expect(server.uploads.every((u) => u.channel === 'wv-forge')).toBe(true);
  });

  it("lets a real solver pick the python 3.12 / CUDA 12.6 variants, as the user's pixi.toml expects", async () => {
    const solved = await simpleSolve(['python 3.12.*', 'cuda-version 12.6.*', 'demo-app'], [`${server.url}/wv-forge`, `${server.url}/bootstrap`], ['linux-64', 'noarch'], []);
    const picked = Object.fromEntries(solved.map((p) => [p.packageName, `${p.version} ${p.build}`]));
    const variants = JSON.parse(ws.forge('variants', '--json').stdout) as Array<{ name: string; variants: Array<{ id: string; buildString: string }> }>;
    const build = (name: string, id: string) => variants.find((p) => p.name === name)!.variants.find((v) => v.id === id)!.buildString;
    expect(picked['demo-ext']).toBe(`0.3.0 ${build('demo-ext', 'py3.12-cuda12.6')}`);
    expect(picked['demo-cuda']).toBe(`2.1.0 ${build('demo-cuda', 'py3.12-cuda12.6')}`);
    expect(picked['demo-core']).toMatch(/^1\.0\.0 /);
    expect(picked.python).toMatch(/^3\.12\.0 /);
    expect(picked['cuda-version']).toMatch(/^12\.6 /);
  });

  it('uploads nothing the second time', async () => {
    const before = server.uploads.length;
    const result = await ws.nxAsyncWithEnv({ PREFIX_API_KEY: TOKEN }, 'run-many', '-t', 'upload', '--parallel=2', '--output-style=stream');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(server.uploads.slice(before)).toEqual([]);
    // Each of the files found on the channel, not some of them skipped by another path.
    expect(new Set([...result.stdout.matchAll(/: (\S+\.conda) is already on /g)].map((m) => m[1])).size).toBe(FILES);
  });

  it('refuses a changed recipe with the same build number, then publishes once it is bumped', async () => {
    ws.edit('pkgs/demo-core/recipe/src/core.txt', () => 'demo core 1.0.0, changed\n');
    const refused = await ws.nxAsyncWithEnv({ PREFIX_API_KEY: TOKEN }, 'run', 'demo-core:upload', '--output-style=stream');
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toMatch(/demo-core:noarch: .*already has noarch\/demo-core-1\.0\.0-h4616a5c_0\.conda, built from a different recipe \(changed: src\/core\.txt\); bump build\.number/);
    const before = server.uploads.filter((u) => u.status === 200).length;
    ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('number: 0', 'number: 1'));
    const bumped = await ws.nxAsyncWithEnv({ PREFIX_API_KEY: TOKEN }, 'run', 'demo-core:upload', '--output-style=stream');
    expect(bumped.code, bumped.stdout + bumped.stderr).toBe(0);
    expect(server.uploads.filter((u) => u.status === 200).slice(before).map((u) => u.file)).toEqual(['demo-core-1.0.0-h4616a5c_1.conda']);
  });
});

describe('forge publish to a channel folder (file://)', () => {
  it('lists what it would do with --dry-run, touching nothing', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const result = ws.forge('publish', '--dry-run', 'demo-ext');
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.split('\n').filter((l) => l.includes('.conda'));
      // demo-ext and what it needs: demo-cuda, demo-core; not demo-app.
      expect(lines).toHaveLength(13);
      expect(lines.every((l) => l.endsWith('upload after building'))).toBe(true);
      expect(lines.some((l) => l.includes('demo-app'))).toBe(false);
      const json = ws.forge('publish', '--dry-run', '--json', 'demo-ext');
      expect(json.code, json.stderr).toBe(0);
      const listed = JSON.parse(json.stdout) as { channel: string; files: Array<{ task: string; file: string; action: string; would: string }> };
      expect(listed.channel).toBe(`file://${join(ws.root, '.published')}`);
      expect(listed.files.map((f) => `${f.task} ${f.file} ${f.action}`)).toEqual(lines.map((l) => l.split(/ +/).slice(0, 2).join(' ') + ' upload'));
      expect(listed.files.every((f) => f.would === 'upload after building')).toBe(true);
      expect(manifests(ws).size).toBe(0);
      expect(existsSync(join(ws.root, '.published'))).toBe(false);
    } finally {
      ws.dispose();
    }
  });

  it('builds, copies and indexes every variant once, writes a summary, and uploads nothing the second time', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const first = ws.forge('publish');
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const index = (subdir: string) => JSON.parse(readFileSync(join(ws.root, '.published', subdir, 'repodata.json'), 'utf8')) as { 'packages.conda': Record<string, { sha256: string }> };
      expect(Object.keys(index('linux-64')['packages.conda'])).toHaveLength(12);
      expect(Object.keys(index('noarch')['packages.conda'])).toHaveLength(2);
      const summary = () => JSON.parse(readFileSync(join(ws.root, 'output', 'publish-summary.json'), 'utf8')) as { rows: Array<{ build: string; upload: string; bytes: number }> };
      expect(summary().rows).toHaveLength(FILES);
      expect(summary().rows.every((r) => r.build === 'built' && r.upload === 'uploaded' && r.bytes > 0)).toBe(true);
      expect(readFileSync(join(ws.root, 'output', 'publish-summary.md'), 'utf8')).toContain('| demo-cuda | py3.12-cuda12.6 |');

      const channel = channelBytes(join(ws.root, '.published'));
      const second = ws.forge('publish');
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(summary().rows).toHaveLength(FILES);
      expect(summary().rows.every((r) => r.build === 'cached' && r.upload === 'on-channel')).toBe(true);
      // Nothing copied or re-indexed: every file of the channel, repodata included, is byte for byte the same.
      expect(channelBytes(join(ws.root, '.published'))).toEqual(channel);
      expect(existsSync(join(ws.root, '.published', 'noarch', 'demo-app-0.1.0-pyh4616a5c_0.conda'))).toBe(true);

      // An edit without a build.number bump: the dry run shows the refusal and fails as the publish would.
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('summary: Demo base package', 'summary: The demo base package'));
      const dry = ws.forge('publish', '--dry-run');
      expect(dry.code, dry.stdout + dry.stderr).toBe(1);
      expect(dry.stdout).toMatch(/demo-core:noarch +noarch\/demo-core-1\.0\.0-h4616a5c_0\.conda +refuse: already there from another recipe \(recipe\.yaml\); bump build\.number/);
      expect(dry.stdout).toContain('\n1 file(s) would be refused: bump build.number in their recipes\n');
      const dryJson = ws.forge('publish', '--dry-run', '--json');
      expect(dryJson.code).toBe(1);
      expect((JSON.parse(dryJson.stdout) as { files: Array<{ task: string; action: string }> }).files.filter((f) => f.action === 'refuse').map((f) => f.task)).toEqual(['demo-core:noarch']);
      expect(channelBytes(join(ws.root, '.published'))).toEqual(channel);
    } finally {
      ws.dispose();
    }
  });

  it('says in the summary which file failed and why, and keeps what was uploaded before the failure', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // A folder channel where demo-cuda's files cannot go (a file where linux-64/ should be); noarch still can.
      ws.write('.published/linux-64', 'not a folder');
      const result = ws.forge('publish', 'demo-cuda');
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const rows = (JSON.parse(readFileSync(join(ws.root, 'output', 'publish-summary.json'), 'utf8')) as { rows: Array<{ package: string; file: string; upload: string; note?: string }> }).rows;
      expect(rows.filter((r) => r.package === 'demo-core').map((r) => r.upload)).toEqual(['uploaded']);
      const cuda = rows.filter((r) => r.package === 'demo-cuda');
      expect(cuda).toHaveLength(6);
      // The first file tried failed, with the reason; the rest were not tried.
      expect(cuda.filter((r) => r.upload === 'failed')).toEqual([expect.objectContaining({ note: expect.stringMatching(/^\.published\/linux-64: cannot mkdir: /) })]);
      expect(cuda.filter((r) => r.upload === 'not-run')).toHaveLength(5);
      expect(readFileSync(join(ws.root, 'output', 'publish-summary.md'), 'utf8')).toMatch(/\| demo-cuda \| [^|]+ \| `linux-64\/demo-cuda-[^`]+` \| built \| failed \(/);
    } finally {
      ws.dispose();
    }
  });

  it('two publishes at once each keep their own summary, whole, and each tells what it did itself', async () => {
    const ws = demoWorkspace(bootstrap);
    try {
      // Built first: the two runs race on the upload and the summary, not on the build.
      const built = ws.nx('run', 'demo-core:build');
      expect(built.code, built.stdout + built.stderr).toBe(0);
      const runs = await Promise.all([ws.forgeAsync('publish', 'demo-core'), ws.forgeAsync('publish', 'demo-core')]);
      type Summary = { run: string; rows: Array<{ package: string; upload: string }> };
      const own = runs.map((run) => {
        expect(run.code, run.stdout + run.stderr).toBe(0);
        const file = /\(this run's own: (\S+) and \.md\)/.exec(run.stdout)?.[1];
        expect(file, run.stdout).toBeDefined();
        return { json: readFileSync(join(ws.root, file!), 'utf8'), md: readFileSync(join(ws.root, file!.replace(/\.json$/, '.md')), 'utf8') };
      });
      const [first, second] = own.map((summary) => JSON.parse(summary.json) as Summary);
      expect(first!.run).not.toBe(second!.run);
      // The one file was copied in by one run and found there by the other: each summary says what its own run did.
      expect([...first!.rows, ...second!.rows].map((r) => `${r.package} ${r.upload}`).sort()).toEqual(['demo-core on-channel', 'demo-core uploaded']);
      // The workspace's latest summary is one run's, whole (.json and .md of the same run).
      const latest = { json: readFileSync(join(ws.root, 'output', 'publish-summary.json'), 'utf8'), md: readFileSync(join(ws.root, 'output', 'publish-summary.md'), 'utf8') };
      expect(own).toContainEqual(latest);
      // No temporary file left beside them.
      expect(filesUnder(join(ws.root, 'output', '.publish')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      ws.dispose();
    }
  });

  it('never replaces a file put in the folder after the index was read (a concurrent publish); checks it like any file on the channel; removes what a killed publisher left', () => {
    const ws = demoWorkspace(bootstrap);
    try {
      expect(ws.forge('publish', 'demo-core').code).toBe(0);
      const file = join(ws.root, '.published', 'noarch', 'demo-core-1.0.0-h4616a5c_0.conda');
      const published = readFileSync(file);
      // What another publish leaves between renaming its file in and re-indexing (or when killed there):
      // the file, not yet in repodata.json.
      const repodata = join(ws.root, '.published', 'noarch', 'repodata.json');
      const listed = () => Object.keys((JSON.parse(readFileSync(repodata, 'utf8')) as { 'packages.conda': object })['packages.conda']);
      writeFileSync(repodata, readFileSync(repodata, 'utf8').replace(/"packages\.conda": \{[^]*?\n \},/, '"packages.conda": {},'));
      expect(listed()).toEqual([]);
      // And what a publisher killed mid-copy or mid-index leaves (only lock holders write them): removed.
      writeFileSync(join(ws.root, '.published', 'noarch', '.demo-core-1.0.0-h4616a5c_0.conda.99999'), 'half a copy');
      writeFileSync(join(ws.root, '.published', 'noarch', '.repodata.json.99998'), '{"info":');
      ws.edit('pkgs/demo-core/recipe/recipe.yaml', (t) => t.replace('summary: Demo base package', 'summary: The demo base package'));
      const second = ws.forge('publish', 'demo-core');
      expect(second.code, second.stdout + second.stderr).toBe(1);
      expect(second.stdout + second.stderr).toContain('already has noarch/demo-core-1.0.0-h4616a5c_0.conda, built from a different recipe (changed: recipe.yaml); bump build.number');
      expect(readFileSync(file).equals(published)).toBe(true);
      expect(listed()).toEqual(['demo-core-1.0.0-h4616a5c_0.conda']);
      expect(filesUnder(join(ws.root, '.published', 'noarch')).sort()).toEqual(['demo-core-1.0.0-h4616a5c_0.conda', 'repodata.json']);
    } finally {
      ws.dispose();
    }
  });
});

describe('the folders of publish runs', () => {
  it('keeps live runs and the newest finished ones; removes killed runs, older ones and the records of the layout before runs', () => {
    const output = mkdtempSync(join(scratch, 'runs-'));
    // No process has a pid above Linux's largest pid_max (2^22).
    const dead = { host: hostname(), pid: 2 ** 22 + 1, start: '1' };
    const run = (name: string, owner: object, finished: boolean) => {
      mkdirSync(join(output, '.publish', name), { recursive: true });
      writeFileSync(join(output, '.publish', name, 'owner.json'), JSON.stringify(owner));
      if (finished) writeFileSync(join(output, '.publish', name, 'summary.json'), '{"rows": []}');
    };
    const finished = Array.from({ length: 12 }, (_, i) => `2026-01-01T00-00-${String(i).padStart(2, '0')}-000Z-1`);
    for (const name of finished) run(name, dead, true);
    run('2026-01-01T00-00-05-500Z-2', dead, false);
    run('2026-01-01T00-00-06-500Z-3', currentOwner(), false);
    run('2026-01-01T00-01-00-000Z-4', currentOwner(), false);
    writeFileSync(join(output, '.publish', 'demo-core.json'), '[]');
    prunePublishRuns(output, '2026-01-01T00-01-00-000Z-4');
    expect(readdirSync(join(output, '.publish')).sort()).toEqual([...finished.slice(2), '2026-01-01T00-00-06-500Z-3', '2026-01-01T00-01-00-000Z-4'].sort());
  });
});
