import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * Serves the artifacts of a wv-forge outputs folder as one conda channel on
 * 127.0.0.1: `<subdir>/repodata.json` merges the per-task indexes the engine
 * wrote, `<subdir>/<file>` streams the package.
 */
export async function serveOutputsAsChannel(outputDir: string): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const folders = readdirSync(outputDir)
    .filter((p) => !p.startsWith('.'))
    .flatMap((project) => readdirSync(join(outputDir, project)).map((id) => join(outputDir, project, id)));
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const [, subdir, name] = (req.url ?? '').split('/');
    if (!subdir || !name) return void res.writeHead(404).end();
    if (name === 'repodata.json') {
      const merged = { info: { subdir }, packages: {}, 'packages.conda': {} as Record<string, unknown>, repodata_version: 1 };
      for (const folder of folders) {
        const index = join(folder, subdir, 'repodata.json');
        if (existsSync(index)) Object.assign(merged['packages.conda'], (JSON.parse(readFileSync(index, 'utf8')) as { 'packages.conda'?: object })['packages.conda']);
      }
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(merged));
    }
    const file = folders.map((f) => join(f, subdir, name)).find((f) => existsSync(f));
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

/** Serves a channel folder as it is on 127.0.0.1 (404 for what is not there). */
export async function serveFolder(dir: string): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname));
    if ((req.url ?? '').includes('..') || !existsSync(path) || !statSync(path).isFile()) return void res.writeHead(404).end();
    res.writeHead(200);
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}
