import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheServer } from '../src/cache-server/server.js';

// The compile cache's WebDAV routes on the real server, over 127.0.0.1: what a request may name.
const dir = mkdtempSync(join(tmpdir(), 'forge-dav-test-'));
let server: Server;
let base = '';
beforeAll(async () => {
  server = createCacheServer({ dir: join(dir, 'cache'), readWriteTokens: ['rw'], readOnlyTokens: ['ro'] });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  rmSync(dir, { recursive: true, force: true });
});

const send = (method: string, path: string, token: string, body?: string) => fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body }) });

describe("the compile cache's WebDAV routes", () => {
  it('stores an entry with a read-write token, serves it to a read-only one, and refuses the read-only write', async () => {
    expect((await send('PUT', '/sccache/a/b/object', 'rw', 'compiled')).status).toBe(201);
    const got = await send('GET', '/sccache/a/b/object', 'ro');
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('compiled');
    expect((await send('PUT', '/sccache/a/b/other', 'ro', 'x')).status).toBe(403);
    expect((await send('GET', '/sccache/a/b/other', 'ro')).status).toBe(404);
  });

  it('answers 400 for a path that could leave the cache folder or names nothing, and writes nothing for it', async () => {
    for (const path of ['/sccache/..%2F..%2Fescape', '/sccache/a/%2e%2e%2F..%2Fescape', '/sccache/%E0%A4%A', '/sccache/a%00b']) {
      expect((await send('PUT', path, 'rw', 'x')).status, path).toBe(400);
    }
    expect(existsSync(join(dir, 'escape'))).toBe(false);
    expect(readdirSync(join(dir, 'cache')).sort()).not.toContain('escape');
  });
});
