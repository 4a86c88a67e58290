import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { createReadStream, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { COMPILE_CACHE_PREFIX, handleCompileCache } from './compile-cache-dav.js';
import { ENTRY_FOLDERS, entryFile, type Entry } from './routes.js';

export interface CacheServerOptions {
  /** Where blobs live: one file per task hash (and forge's content-key store in `forge/`). */
  readonly dir: string;
  /** Tokens that may read and write (CI). */
  readonly readWriteTokens: readonly string[];
  /** Tokens that may only read (developers). */
  readonly readOnlyTokens: readonly string[];
  /** The largest blob a PUT may store, in bytes; larger ones get 413. Unlimited when unset. */
  readonly maxBlobBytes?: number;
  /**
   * How long one request may take, in milliseconds (Node's default, 5 minutes, when unset; 0: no limit).
   * A multi-GB CUDA package over a slow link needs longer; an abandoned upload's file is swept after it.
   */
  readonly requestTimeoutMs?: number;
}

/**
 * Nx's self-hosted remote cache protocol (the OpenAPI spec Nx publishes):
 * `GET /v1/cache/{hash}` answers the task's output archive or 404;
 * `PUT /v1/cache/{hash}` stores it. Bearer tokens decide who may do what: 401
 * for an unknown token, 403 for a read-only one writing.
 *
 * An existing hash is never replaced (409), so a poisoned upload cannot
 * overwrite a good entry, also with several server processes on one folder:
 * a blob is written to a private temporary file and then hard-linked to its
 * final name, which the file system refuses (EEXIST) when the name exists,
 * so of concurrent uploads exactly one wins, whatever process received it.
 * An interrupted or oversized upload leaves nothing behind; one a killed
 * server was receiving is removed when a server next starts on the folder.
 */
export function createCacheServer(options: CacheServerOptions): Server {
  for (const folder of ['.incoming', ...ENTRY_FOLDERS]) mkdirSync(join(options.dir, folder), { recursive: true });
  const tokens = { readWrite: options.readWriteTokens.map(digest), readOnly: options.readOnlyTokens.map(digest) };
  const server = createServer(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs }, (req, res) => {
    handle(options, tokens, req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500).end(error.message);
    });
  });
  sweepAbandoned(join(options.dir, '.incoming'), server.requestTimeout);
  return server;
}

/**
 * Removes the private files of uploads no server is receiving any more: a
 * server killed mid-upload cannot clean up after itself, and nothing else
 * would. Node ends a request that takes longer than `requestTimeout`, so a
 * file last written before that belongs to no live upload, whichever of the
 * servers sharing the folder received it.
 */
function sweepAbandoned(incoming: string, requestTimeout: number): void {
  if (!(requestTimeout > 0)) return;
  const before = Date.now() - requestTimeout;
  for (const name of readdirSync(incoming)) {
    const file = join(incoming, name);
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat && stat.mtimeMs < before) rmSync(file, { force: true });
  }
}

type TokenDigests = { readonly readWrite: readonly Buffer[]; readonly readOnly: readonly Buffer[] };

async function handle(options: CacheServerOptions, tokens: TokenDigests, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = URL.parse(req.url ?? '/', 'http://cache')?.pathname;
  // A request target no URL parser takes is the client's error, not the server's.
  if (pathname === undefined) return void res.writeHead(400).end('not a valid request path');
  const entry = entryFile(options.dir, pathname);
  const compileCache = pathname.startsWith(COMPILE_CACHE_PREFIX);
  if (!entry && !compileCache) return void res.writeHead(404).end('not found');
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const canWrite = token !== undefined && knownToken(token, tokens.readWrite);
  const canRead = canWrite || (token !== undefined && knownToken(token, tokens.readOnly));
  if (!canRead) return void res.writeHead(401).end('missing or unknown token');
  // sccache's WebDAV backend, under the same tokens (compile-cache-dav.ts).
  if (!entry) return handleCompileCache(options.dir, canWrite ? 'write' : 'read', req, res);
  const blob = entry.file;

  if (req.method === 'GET') {
    if (!existsSync(blob)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(blob).size });
    await pipeline(createReadStream(blob), res);
    return;
  }
  if (req.method !== 'PUT') return void res.writeHead(405, { allow: 'GET, PUT' }).end(`${req.method} is not allowed here: GET or PUT`);
  if (!canWrite) return void res.writeHead(403).end('this token may only read');
  // Only saves receiving the body; the link below is what guarantees it.
  if (existsSync(blob)) return void res.writeHead(409).end(ALREADY_STORED);
  const expected = Number(req.headers['content-length'] ?? NaN);
  const limit = options.maxBlobBytes;
  if (limit !== undefined && expected > limit) return void res.writeHead(413, { connection: 'close' }).end(tooLarge(limit));
  const outcome = await store(options.dir, entry, req, expected, limit);
  if (outcome === 'stored') res.writeHead(202).end();
  else if (outcome === 'exists') res.writeHead(409).end(ALREADY_STORED);
  else if (outcome === 'mismatch') res.writeHead(400).end(`the body's SHA-256 is not ${entry.name}; a blob is stored under its own SHA-256`);
  else res.writeHead(413, { connection: 'close' }).end(tooLarge(limit!));
}

/**
 * Receives a blob into a private file and links it to its final name; the
 * private file is gone before this returns, so an answer never precedes the
 * clean-up.
 */
async function store(dir: string, entry: Entry, req: IncomingMessage, expected: number, limit: number | undefined): Promise<'stored' | 'exists' | 'too-large' | 'mismatch'> {
  const incoming = join(dir, '.incoming', `${entry.name}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}`);
  const file = await open(incoming, 'wx');
  const hash = createHash('sha256');
  try {
    await pipeline(req, received(limit, hash), file.createWriteStream());
    if (Number.isFinite(expected) && statSync(incoming).size !== expected) throw new Error('upload ended early');
    if (entry.named === 'sha256' && hash.digest('hex') !== entry.name) return 'mismatch';
    linkSync(incoming, entry.file);
    return 'stored';
  } catch (error) {
    if (error instanceof BlobTooLarge) return 'too-large';
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw error;
  } finally {
    await file.close().catch(() => undefined);
    rmSync(incoming, { force: true });
  }
}

const ALREADY_STORED = 'this hash is already stored; entries are never replaced';
const tooLarge = (limit: number) => `blobs are limited to ${limit} bytes on this server`;

/** Compares digests, so the time taken says nothing about how much of a token matched, nor about its length. */
function knownToken(token: string, known: readonly Buffer[]): boolean {
  const candidate = digest(token);
  let found = false;
  for (const entry of known) found = timingSafeEqual(candidate, entry) || found;
  return found;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

class BlobTooLarge extends Error {
  constructor(readonly limit: number) {
    super(tooLarge(limit));
  }
}

/** Passes bytes through (into `hash` too) until there are more than `limit` (a chunked upload has no length to check first). */
function received(limit: number | undefined, hash: Hash): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      hash.update(chunk);
      if (limit !== undefined && seen > limit) done(new BlobTooLarge(limit));
      else done(null, chunk);
    },
  });
}
