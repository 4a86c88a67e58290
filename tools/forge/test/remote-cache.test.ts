import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheServer } from '../src/cache-server/server.js';
import { demoWorkspace, manifests, sharedBootstrap } from './support/demo.js';

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
