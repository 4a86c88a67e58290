import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EMBEDDED_FRONT } from '../../src/engine/engine.js';
import { enginePython } from './paths.js';

const run = promisify(execFile);

/**
 * Indexes a channel folder with rattler's own indexer (py-rattler's index_fs, what
 * `rattler-index` runs), as a real server would: the solver under test then reads
 * repodata that forge did not write. One at a time: parallel uploads would race on
 * the same repodata.json.
 */
let indexing: Promise<unknown> = Promise.resolve();
function indexChannel(channel: string): Promise<unknown> {
  // os._exit once the index is written: py-rattler 0.28's runtime often crashes the interpreter's
  // teardown (SIGSEGV or SIGABRT after index_fs returned; 9 runs in 12 here), which would read as a failed index.
  const script = 'import asyncio, os, sys\nfrom rattler.index import index_fs\nasyncio.run(index_fs(sys.argv[1], write_zst=False, write_shards=False))\nos._exit(0)';
  // rattler's indexer always indexes noarch and wants the folder there.
  mkdirSync(join(channel, 'noarch'), { recursive: true });
  const done = indexing.then(() => run(enginePython(), ['-c', script, channel]));
  indexing = done.catch(() => undefined);
  return done;
}

export interface Upload {
  readonly channel: string;
  readonly file: string;
  readonly status: number;
}

/**
 * A loopback stand-in for prefix.dev: `POST /api/v1/upload/<channel>` with a
 * bearer token and a multipart `file` part (as rattler's uploader sends it),
 * 401 for a wrong token, 409 for a file the channel already has; and the
 * channel served back at `/<channel>/<subdir>/repodata.json`.
 */
export async function startPrefixServer(dir: string, token: string): Promise<{ url: string; server: Server; uploads: Upload[] }> {
  const uploads: Upload[] = [];
  const server = createServer((req, res) => {
    void handle(req).then(
      ({ status, body }) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body),
      (error: Error) => res.writeHead(500).end(error.message),
    );
    async function handle(request: IncomingMessage): Promise<{ status: number; body: string }> {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const upload = /^\/api\/v1\/upload\/([^/]+)$/.exec(url.pathname);
      if (request.method === 'POST' && upload) {
        const channel = upload[1]!;
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        if (request.headers.authorization !== `Bearer ${token}`) {
          uploads.push({ channel, file: '', status: 401 });
          return { status: 401, body: 'unauthorized' };
        }
        const form = await new Request('http://127.0.0.1/', { method: 'POST', headers: { 'content-type': request.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) }).formData();
        const file = form.get('file');
        if (!(file instanceof File)) return { status: 400, body: 'no file part' };
        const bytes = Buffer.from(await file.arrayBuffer());
        const staging = join(dir, '.incoming', `${Date.now()}-${file.name}`);
        mkdirSync(join(dir, '.incoming'), { recursive: true });
        writeFileSync(staging, bytes);
        const info = JSON.parse((await run(enginePython(), [EMBEDDED_FRONT, 'inspect', staging])).stdout) as { index: { subdir: string } };
        const target = join(dir, channel, info.index.subdir, file.name);
        if (existsSync(target)) {
          uploads.push({ channel, file: file.name, status: 409 });
          return { status: 409, body: `${file.name} already exists` };
        }
        mkdirSync(join(dir, channel, info.index.subdir), { recursive: true });
        renameSync(staging, target);
        await indexChannel(join(dir, channel));
        uploads.push({ channel, file: file.name, status: 200 });
        return { status: 200, body: createHash('sha256').update(bytes).digest('hex') };
      }
      const path = join(dir, decodeURIComponent(url.pathname));
      if (request.method === 'GET' && !url.pathname.includes('..') && existsSync(path) && !path.endsWith('/')) {
        res.writeHead(200);
        createReadStream(path).pipe(res);
        return new Promise(() => undefined);
      }
      return { status: 404, body: 'not found' };
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, uploads };
}
