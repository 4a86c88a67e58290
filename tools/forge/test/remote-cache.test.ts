import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheServer } from '../src/cache-server/server.js';
import { demoWorkspace, manifests, rebuilt, sharedBootstrap } from './support/demo.js';
import { repoRoot } from './support/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-cache-test-'));
const RW = 'ci-read-write';
const RO = 'dev-read-only';
let url: string;
let blobs: string;
let close: () => void;

beforeAll(async () => {
  blobs = mkdtempSync(join(scratch, 'blobs-'));
  const server = createCacheServer({ dir: blobs, readWriteTokens: [RW], readOnlyTokens: [RO] });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => {
  close();
  rmSync(scratch, { recursive: true, force: true });
});

async function call(method: string, hash: string, token: string | undefined, body?: Buffer): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/v1/cache/${hash}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(body ? { body } : {}) });
  return { status: response.status, body: await response.text() };
}

const stored = () => readdirSync(blobs).filter((name) => !name.startsWith('.'));

describe('the remote cache server', () => {
  it('stores with the read-write token and serves it back', async () => {
    expect((await call('PUT', 'aaa111', RW, Buffer.from('first'))).status).toBe(202);
    expect(await call('GET', 'aaa111', RO)).toEqual({ status: 200, body: 'first' });
    expect((await call('GET', 'missing', RO)).status).toBe(404);
  });

  it('refuses writes with the read-only token and any access with a wrong or missing token', async () => {
    expect((await call('PUT', 'bbb222', RO, Buffer.from('x'))).status).toBe(403);
    expect((await call('PUT', 'bbb222', 'wrong', Buffer.from('x'))).status).toBe(401);
    expect((await call('GET', 'aaa111', 'wrong')).status).toBe(401);
    expect((await call('GET', 'aaa111', undefined)).status).toBe(401);
    expect(stored()).not.toContain('bbb222');
  });

  it('never replaces a stored hash', async () => {
    expect((await call('PUT', 'aaa111', RW, Buffer.from('poisoned'))).status).toBe(409);
    expect((await call('GET', 'aaa111', RW)).body).toBe('first');
  });

  it('leaves no partial blob behind when an upload is interrupted', async () => {
    const { port } = new URL(url);
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/v1/cache/ccc333', headers: { authorization: `Bearer ${RW}`, 'content-length': 1000 } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(100));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    // The server notices the cut connection asynchronously: wait (bounded) until it has cleaned up.
    for (let i = 0; i < 100 && readdirSync(join(blobs, '.incoming')).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stored()).not.toContain('ccc333');
    expect(readdirSync(join(blobs, '.incoming'))).toEqual([]);
    expect((await call('GET', 'ccc333', RO)).status).toBe(404);
  });
});

describe('malformed requests', () => {
  it('get a client error with a body saying why, and the server keeps serving', async () => {
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(url).port), '127.0.0.1', () => socket.end(`${head}\r\nHost: x\r\nAuthorization: Bearer ${RW}\r\nConnection: close\r\n\r\n`));
        let answer = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk)).on('end', () => resolve(answer)).on('error', reject);
      });
    // A target no URL parser takes (Node's HTTP parser passes it on): 500 before.
    expect(await raw('GET http://[::1 HTTP/1.1')).toMatch(/^HTTP\/1\.1 400 [^]*not a valid request path/);
    expect(await raw('DELETE /v1/cache/aaa111 HTTP/1.1')).toMatch(/^HTTP\/1\.1 405 [^]*DELETE is not allowed here: GET or PUT/);
    expect(await call('GET', 'aaa111', RO)).toEqual({ status: 200, body: 'first' });
  });
});

describe("the content-key store's blobs", () => {
  it('are stored only under their own SHA-256: another body is refused with 400 and leaves nothing behind', async () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const blob = async (name: string, body: string) => {
      const response = await fetch(`${url}/v1/forge/blobs/${name}`, { method: 'PUT', headers: { authorization: `Bearer ${RW}` }, body });
      return { status: response.status, body: await response.text() };
    };
    // Entries are never replaced, so a wrong body stored once would stay under that name for good.
    expect(await blob(sha('good'), 'poisoned')).toEqual({ status: 400, body: `the body's SHA-256 is not ${sha('good')}; a blob is stored under its own SHA-256` });
    expect(readdirSync(join(blobs, 'forge', 'blobs'))).toEqual([]);
    expect(readdirSync(join(blobs, '.incoming'))).toEqual([]);
    expect((await blob(sha('good'), 'good')).status).toBe(202);
    expect(readFileSync(join(blobs, 'forge', 'blobs', sha('good')), 'utf8')).toBe('good');
  });
});

describe('a server started on a folder where another was killed mid-upload', () => {
  it("removes the killed upload's private file, and keeps one still being written", async () => {
    const dir = mkdtempSync(join(scratch, 'killed-'));
    const killed = await startServerProcess(dir);
    const { port } = new URL(killed.url);
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/v1/cache/cut', headers: { authorization: `Bearer ${RW}`, 'content-length': 1000 } });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(100));
    await until(() => readdirSync(join(dir, '.incoming')).length === 1);
    killed.process.kill('SIGKILL');
    await new Promise((resolve) => killed.process.once('exit', resolve));
    req.destroy();
    const [abandoned] = readdirSync(join(dir, '.incoming'));
    // Older than any request a server lets run (Node's requestTimeout, 300 s): no live upload's file.
    const old = new Date(Date.now() - 301_000);
    utimesSync(join(dir, '.incoming', abandoned!), old, old);
    writeFileSync(join(dir, '.incoming', 'live.123.456.abc'), 'being received by another server');
    createCacheServer({ dir, readWriteTokens: [RW], readOnlyTokens: [] });
    expect(readdirSync(join(dir, '.incoming'))).toEqual(['live.123.456.abc']);
    expect(readdirSync(dir).filter((name) => !name.startsWith('.'))).toEqual(['forge']);
  });

  it('sweeps by its own request limit: a server letting uploads run an hour keeps a 301 s old one, and 0 (no limit) sweeps nothing', () => {
    const dir = mkdtempSync(join(scratch, 'limit-'));
    createCacheServer({ dir, readWriteTokens: [RW], readOnlyTokens: [] });
    const file = join(dir, '.incoming', 'slow.1.2.abc');
    writeFileSync(file, 'a multi-GB package on a slow link');
    const old = new Date(Date.now() - 301_000);
    utimesSync(file, old, old);
    expect(createCacheServer({ dir, readWriteTokens: [RW], readOnlyTokens: [], requestTimeoutMs: 3_600_000 }).requestTimeout).toBe(3_600_000);
    expect(readdirSync(join(dir, '.incoming'))).toEqual(['slow.1.2.abc']);
    createCacheServer({ dir, readWriteTokens: [RW], readOnlyTokens: [], requestTimeoutMs: 0 });
    expect(readdirSync(join(dir, '.incoming'))).toEqual(['slow.1.2.abc']);
    createCacheServer({ dir, readWriteTokens: [RW], readOnlyTokens: [], requestTimeoutMs: 300_000 });
    expect(readdirSync(join(dir, '.incoming'))).toEqual([]);
  });
});

/** `forge-cache-server` as its own process on a free port. */
async function startServerProcess(dir: string, env: NodeJS.ProcessEnv = {}): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(process.execPath, [join(repoRoot, 'tools/forge/dist/cache-server/main.js'), '--dir', dir, '--port', '0'], {
    env: { ...process.env, FORGE_CACHE_RW_TOKENS: RW, FORGE_CACHE_RO_TOKENS: RO, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const found = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (found) resolve(found[1]!);
    });
    child.on('exit', (code) => reject(new Error(`the cache server exited (${code}): ${out}`)));
  });
  return { url, process: child };
}

async function put(base: string, hash: string, body: Buffer | ReadableStream<Uint8Array>): Promise<number> {
  const streamed = body instanceof ReadableStream;
  const response = await fetch(`${base}/v1/cache/${hash}`, { method: 'PUT', headers: { authorization: `Bearer ${RW}` }, body, ...(streamed ? { duplex: 'half' } : {}) } as RequestInit);
  await response.arrayBuffer();
  return response.status;
}

describe('several server processes on one folder', () => {
  it('store exactly one of many concurrent uploads of a hash, intact, and refuse the rest', async () => {
    const dir = mkdtempSync(join(scratch, 'shared-'));
    const servers = await Promise.all(Array.from({ length: 6 }, () => startServerProcess(dir)));
    try {
      // Each round sends every body but keeps the uploads open, then ends them all at
      // once, so the servers finish receiving together and race for the final name.
      // A check-then-rename store lost about one round in twenty-five here.
      for (let round = 0; round < 80; round++) {
        const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(64 << 10, i + 1));
        const ends: Array<() => void> = [];
        const statuses = bodies.map((body, i) =>
          put(
            servers[i % servers.length]!.url,
            `hash${round}`,
            new ReadableStream<Uint8Array>({
              start(controller) {
                controller.enqueue(new Uint8Array(body));
                ends.push(() => controller.close());
              },
            }),
          ),
        );
        await until(() => readdirSync(join(dir, '.incoming')).length === bodies.length);
        for (const end of ends) end();
        const answered = await Promise.all(statuses);
        expect(answered.filter((s) => s === 202), `round ${round}: ${answered.join(' ')}`).toHaveLength(1);
        expect(answered.filter((s) => s === 409)).toHaveLength(bodies.length - 1);
        expect(readFileSync(join(dir, `hash${round}`)).equals(bodies[answered.indexOf(202)]!), `round ${round}`).toBe(true);
      }
      expect(readdirSync(join(dir, '.incoming'))).toEqual([]);
    } finally {
      for (const server of servers) server.process.kill();
    }
  });
});

/** Polls (bounded) until the condition holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

describe('a maximum blob size', () => {
  it('answers 413 to a larger upload, with or without a declared length, and leaves nothing behind', async () => {
    const dir = mkdtempSync(join(scratch, 'limited-'));
    const server = await startServerProcess(dir, { FORGE_CACHE_MAX_BLOB_SIZE: '1K' });
    try {
      expect(await put(server.url, 'declared', Buffer.alloc(1025))).toBe(413);
      const chunked = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(new Uint8Array(512));
          controller.close();
        },
      });
      expect(await put(server.url, 'chunked', chunked)).toBe(413);
      // Nothing but the content-key store's (empty) folders.
      expect(readdirSync(dir).filter((name) => !name.startsWith('.'))).toEqual(['forge']);
      expect(['keys', 'blobs'].flatMap((kind) => readdirSync(join(dir, 'forge', kind)))).toEqual([]);
      expect(readdirSync(join(dir, '.incoming'))).toEqual([]);
      expect(await put(server.url, 'fits', Buffer.alloc(1024, 7))).toBe(202);
      expect(readFileSync(join(dir, 'fits')).equals(Buffer.alloc(1024, 7))).toBe(true);
    } finally {
      server.process.kill();
    }
  });

  it('is refused at start when it is not a size', async () => {
    await expect(startServerProcess(mkdtempSync(join(scratch, 'bad-')), { FORGE_CACHE_MAX_BLOB_SIZE: 'lots' })).rejects.toThrow(/exited \(2\): forge-cache-server: error: --max-blob-size \/ FORGE_CACHE_MAX_BLOB_SIZE: `lots` is not a size/);
  });
});

describe("the server's start", () => {
  const start = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'tools/forge/dist/cache-server/main.js'), ...args], { env: { ...process.env, FORGE_CACHE_RW_TOKENS: RW }, encoding: 'utf8', timeout: 20_000 });
  it('refuses a bad port, a port in use and a --dir it cannot create in one line, exit 2 (a stack trace before)', () => {
    const dir = mkdtempSync(join(scratch, 'start-'));
    writeFileSync(join(dir, 'a-file'), '');
    const cases: Array<[string[], RegExp]> = [
      [['--dir', dir, '--port', '99999'], /^forge-cache-server: error: --port \/ FORGE_CACHE_PORT: `99999` is not a port \(0 to 65535; 0 picks a free one\)\n$/],
      [['--dir', dir, '--port', 'abc'], /^forge-cache-server: error: --port \/ FORGE_CACHE_PORT: `abc` is not a port/],
      [['--dir', dir, '--port', new URL(url).port], /^forge-cache-server: error: cannot listen on 127\.0\.0\.1:\d+: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+\n$/],
      [['--dir', join(dir, 'a-file', 'cache'), '--port', '0'], /^forge-cache-server: error: --dir: .*a-file\/cache\/\.incoming: cannot mkdir: not a directory \(ENOTDIR\)\n$/],
      [['--dir', dir, '--port', '0', '--request-timeout', '5m'], /^forge-cache-server: error: --request-timeout \/ FORGE_CACHE_REQUEST_TIMEOUT: `5m` is not a number of seconds \(0 for no limit\)\n$/],
    ];
    for (const [args, message] of cases) {
      const result = start(...args);
      expect({ args, status: result.status, stderr: result.stderr }).toEqual({ args, status: 2, stderr: expect.stringMatching(message) });
    }
  });
});

describe('a second clone with the read-only token', () => {
  it('gets every variant task and its solve from the remote cache and runs no engine', async () => {
    const bootstrap = await sharedBootstrap(scratch);
    const ci = demoWorkspace(bootstrap);
    const dev = demoWorkspace(bootstrap);
    try {
      const env = (token: string) => ({ NX_SELF_HOSTED_REMOTE_CACHE_SERVER: url, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token });
      const first = await ci.nxAsyncWithEnv(env(RW), 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(manifests(ci).size).toBe(14);

      const second = await dev.nxAsyncWithEnv(env(RO), 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(second.code, second.stdout + second.stderr).toBe(0);
      // Nx replays the cached terminal output, so the engine's lines show up; the manifests tell that nothing was rebuilt.
      // 14 build tasks and the 14 solve tasks they wait for.
      expect(second.stdout.match(/\[remote cache\]/g)).toHaveLength(28);
      // The outputs came back: every manifest as the CI clone wrote it.
      const built = manifests(ci);
      expect(manifests(dev).size).toBe(14);
      for (const [task, manifest] of manifests(dev)) {
        expect(manifest.key, task).toBe(built.get(task)!.key);
        expect(manifest.builtAt, task).toBe(built.get(task)!.builtAt);
      }
      expect(readFileSync(join(dev.root, 'output/demo-core/noarch/content-key'), 'utf8')).toBe(readFileSync(join(ci.root, 'output/demo-core/noarch/content-key'), 'utf8'));
    } finally {
      ci.dispose();
      dev.dispose();
    }
  });
});

describe('the content-key store on the same server', () => {
  it('restores a variant whose content key is unchanged after Nx hash changed, checked against its manifest; a read-only token cannot store', async () => {
    const bootstrap = await sharedBootstrap(scratch);
    const ci = demoWorkspace(bootstrap);
    const dev = demoWorkspace(bootstrap);
    const again = demoWorkspace(bootstrap);
    const keys = () => readdirSync(join(blobs, 'forge/keys')).sort();
    try {
      const env = (token: string) => ({ NX_SELF_HOSTED_REMOTE_CACHE_SERVER: url, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token });
      const first = await ci.nxAsyncWithEnv(env(RW), 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(first.stdout.match(/: stored in the shared store/g)).toHaveLength(14);
      expect(keys()).toEqual([...manifests(ci).values()].map((m) => `conda-${m.key}`).sort());
      const stored = keys();

      // A grown matrix: Nx hashes every task of the CUDA packages anew, their content keys stay.
      const grow = (ws: typeof dev) => ws.edit('variants.yaml', (text) => text.replace('  - "12.9"', '  - "12.9"\n  - "13.0"'));
      grow(dev);
      const second = await dev.nxAsyncWithEnv(env(RO), 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(second.code, second.stdout + second.stderr).toBe(0);
      const fromCi = manifests(ci);
      const newVariants = ['demo-cuda:py3.12-cuda13.0', 'demo-cuda:py3.13-cuda13.0', 'demo-ext:py3.12-cuda13.0', 'demo-ext:py3.13-cuda13.0'];
      const built = rebuilt(fromCi, manifests(dev));
      expect(built.filter((t) => !newVariants.includes(t))).toEqual(built.includes('demo-app:noarch') ? ['demo-app:noarch'] : []);
      expect(newVariants.every((t) => built.includes(t))).toBe(true);
      const restored = [...second.stdout.matchAll(/(\S+): restored from the shared store/g)].map((m) => m[1]);
      expect(restored.length).toBeGreaterThanOrEqual(12);
      // The read-only token's uploads were refused, and nothing was added.
      expect(second.stdout).toContain('refused the upload (this token may only read)');
      expect(second.stdout).not.toContain(': stored in the shared store');
      expect(keys()).toEqual(stored);

      // A damaged blob is never used: that variant builds again.
      const cudaKey = fromCi.get('demo-cuda:py3.12-cuda12.6')!;
      const record = JSON.parse(readFileSync(join(blobs, 'forge/keys', `conda-${cudaKey.key}`), 'utf8')) as { files: Array<{ file: string; sha256: string }> };
      const pkg = record.files.find((f) => f.file.endsWith('.conda'))!;
      writeFileSync(join(blobs, 'forge/blobs', pkg.sha256), 'poisoned');
      grow(again);
      const third = await again.nxAsyncWithEnv(env(RO), 'run-many', '-t', 'build', '--parallel=2', '--output-style=stream');
      expect(third.code, third.stdout + third.stderr).toBe(0);
      expect(third.stdout).toMatch(/demo-cuda:py3\.12-cuda12\.6: not restored from the shared store \(.*does not match its SHA-256/);
      expect(rebuilt(fromCi, manifests(again))).toContain('demo-cuda:py3.12-cuda12.6');
      expect(manifests(again).get('demo-cuda:py3.12-cuda12.6')!.key).toBe(cudaKey.key);
    } finally {
      ci.dispose();
      dev.dispose();
      again.dispose();
    }
  });
});
