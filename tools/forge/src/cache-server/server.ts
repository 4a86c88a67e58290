import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface CacheServerOptions {
  /** Where blobs live: one file per task hash. */
  readonly dir: string;
  /** Tokens that may read and write (CI). */
  readonly readWriteTokens: readonly string[];
  /** Tokens that may only read (developers). */
  readonly readOnlyTokens: readonly string[];
}

/**
 * Nx's self-hosted remote cache protocol (the OpenAPI spec Nx publishes):
 * `GET /v1/cache/{hash}` answers the task's output archive or 404;
 * `PUT /v1/cache/{hash}` stores it. Bearer tokens decide who may do what: 401
 * for an unknown token, 403 for a read-only one writing. An existing hash is
 * never replaced (409), so a poisoned upload cannot overwrite a good entry;
 * blobs are written to a temporary file and renamed, so an interrupted upload
 * leaves nothing behind.
 */
export function createCacheServer(options: CacheServerOptions): Server {
  mkdirSync(join(options.dir, '.incoming'), { recursive: true });
  return createServer((req, res) => {
    handle(options, req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500).end(error.message);
    });
  });
}

async function handle(options: CacheServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const match = /^\/v1\/cache\/([A-Za-z0-9_-]{1,128})$/.exec(new URL(req.url ?? '/', 'http://cache').pathname);
  if (!match) return void res.writeHead(404).end('not found');
  const hash = match[1]!;
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const canWrite = token !== undefined && options.readWriteTokens.includes(token);
  const canRead = canWrite || (token !== undefined && options.readOnlyTokens.includes(token));
  if (!canRead) return void res.writeHead(401).end('missing or unknown token');
  const blob = join(options.dir, hash);

  if (req.method === 'GET') {
    if (!existsSync(blob)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(blob).size });
    await pipeline(createReadStream(blob), res);
    return;
  }
  if (req.method !== 'PUT') return void res.writeHead(405, { allow: 'GET, PUT' }).end();
  if (!canWrite) return void res.writeHead(403).end('this token may only read');
  if (existsSync(blob)) {
    req.resume();
    return void res.writeHead(409).end('this hash is already stored; entries are never replaced');
  }
  const incoming = join(options.dir, '.incoming', `${hash}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}`);
  const expected = Number(req.headers['content-length'] ?? NaN);
  try {
    await pipeline(req, createWriteStream(incoming, { flags: 'wx' }));
    if (Number.isFinite(expected) && statSync(incoming).size !== expected) throw new Error('upload ended early');
    if (existsSync(blob)) return void res.writeHead(409).end('this hash is already stored; entries are never replaced');
    renameSync(incoming, blob);
    res.writeHead(202).end();
  } finally {
    rmSync(incoming, { force: true });
  }
}
