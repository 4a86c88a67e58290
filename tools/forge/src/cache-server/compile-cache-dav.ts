import { createReadStream, existsSync, linkSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Where sccache's WebDAV backend points: `FORGE_COMPILE_CACHE_URL=http://host:port/sccache/`. */
export const COMPILE_CACHE_PREFIX = '/sccache/';

/**
 * The part of WebDAV that sccache's backend (Apache OpenDAL's webdav service)
 * uses, over `<dir>/.sccache/`: GET and HEAD read an entry, PUT writes one,
 * MKCOL and PROPFIND answer its folder handling (folders are implicit here).
 * The access rule is the build cache's: `access` is what the caller's token
 * allows, and only a read-write token (main's CI) may write; sccache takes
 * a refused write of its `.sccache_check` probe as a read-only cache and
 * goes on reading.
 *
 * Entries are content-addressed (sccache's key is a hash of the compiler,
 * its arguments and the preprocessed input), so an entry is never replaced:
 * a PUT of an existing path succeeds without touching it (sccache re-writes
 * its probe on every start, and a refusal would turn CI read-only). A new
 * entry is written to a private file and hard-linked into place, so readers
 * never see half an object and concurrent writers cannot interleave.
 */
export async function handleCompileCache(dir: string, access: 'read' | 'write', req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = entryPath(new URL(req.url ?? '/', 'http://cache').pathname);
  if (path === undefined) return void res.writeHead(400).end('not a compile cache path');
  const root = join(dir, '.sccache');
  const file = join(root, path);
  switch (req.method) {
    case 'GET':
    case 'HEAD': {
      if (!isFile(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
      if (req.method === 'HEAD') return void res.end();
      await pipeline(createReadStream(file), res);
      return;
    }
    case 'PROPFIND': {
      // OpenDAL asks before it makes a folder; every folder exists here.
      const stat = isFile(file) ? statSync(file) : undefined;
      if (stat === undefined && path !== '' && !path.endsWith('/')) return void res.writeHead(404).end();
      const href = `${COMPILE_CACHE_PREFIX}${path}`;
      // The properties OpenDAL reads (it wants a modification time for folders too).
      const modified = `<D:getlastmodified>${(stat?.mtime ?? new Date(0)).toUTCString()}</D:getlastmodified>`;
      const prop = stat === undefined
        ? `<D:resourcetype><D:collection/></D:resourcetype>${modified}`
        : `<D:resourcetype/>${modified}<D:getcontentlength>${stat.size}</D:getcontentlength><D:getcontenttype>application/octet-stream</D:getcontenttype><D:getetag>"${stat.size}-${stat.mtimeMs}"</D:getetag>`;
      res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
      return void res.end(`<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>${href}</D:href><D:propstat><D:prop>${prop}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n`);
    }
    case 'MKCOL':
      if (access !== 'write') return void res.writeHead(403).end('this token may only read');
      return void res.writeHead(201).end();
    case 'PUT': {
      if (access !== 'write') return void res.writeHead(403).end('this token may only read');
      if (path === '' || path.endsWith('/')) return void res.writeHead(400).end('not an entry path');
      if (isFile(file)) {
        req.resume();
        return void res.writeHead(201).end();
      }
      await store(root, file, req);
      return void res.writeHead(201).end();
    }
    default:
      return void res.writeHead(405, { allow: 'GET, HEAD, PUT, MKCOL, PROPFIND' }).end();
  }
}

/**
 * The entry path below the prefix, or undefined for anything that could leave
 * the cache folder: segments of letters, digits, `.`, `_` and `-`, none of
 * them `.` or `..`, none empty but a trailing one (a folder).
 */
function entryPath(pathname: string): string | undefined {
  if (!pathname.startsWith(COMPILE_CACHE_PREFIX)) return undefined;
  // OpenDAL joins its root to the endpoint with a slash of its own: `/sccache//a/b`.
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname.slice(COMPILE_CACHE_PREFIX.length));
  } catch {
    return undefined; // a malformed escape (`%E0%A4%A`) names nothing
  }
  const rest = decoded.replace(/\/{2,}/g, '/').replace(/^\//, '');
  const segments = rest.split('/');
  const inner = rest.endsWith('/') ? segments.slice(0, -1) : segments;
  if (rest !== '' && inner.some((s) => !/^[A-Za-z0-9._-]{1,200}$/.test(s) || s === '.' || s === '..')) return undefined;
  return rest;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

async function store(root: string, file: string, req: IncomingMessage): Promise<void> {
  const incoming = join(root, '.incoming', `${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}`);
  mkdirSync(dirname(incoming), { recursive: true });
  mkdirSync(dirname(file), { recursive: true });
  const handle = await open(incoming, 'wx');
  try {
    await pipeline(req, handle.createWriteStream());
    const expected = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(expected) && statSync(incoming).size !== expected) throw new Error('upload ended early');
    try {
      linkSync(incoming, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !existsSync(file)) throw error; // another writer won: same content
    }
  } finally {
    await handle.close().catch(() => undefined);
    rmSync(incoming, { force: true });
  }
}
