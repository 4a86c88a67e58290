import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { enginePython, repoRoot } from './paths.js';
import { TempWorkspace } from './workspace.js';

let pipIndex: string | undefined;

/**
 * A PEP 503 index folder with the one build requirement the example needs
 * (setuptools >= 70.1), made once per test file: pip fetches the wheel the way
 * this machine's pip is configured to (its cache, its index), and wheelout's
 * publish step writes the index, so builds under test never touch a network.
 */
export function localPipIndex(scratch: string): string {
  if (pipIndex) return pipIndex;
  const downloads = join(scratch, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const download = spawnSync(enginePython(), ['-m', 'pip', 'download', '--quiet', '--only-binary=:all:', '--no-deps', '--dest', downloads, 'setuptools>=70.1'], { encoding: 'utf8' });
  if (download.status !== 0) {
    // Say what the test needs, not a bare "Command failed": pip's cache or its index (PyPI unless configured).
    const reason = `${download.stderr ?? ''}${download.error?.message ?? ''}`.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${download.status}`;
    throw new Error(`the wheel tests need setuptools>=70.1 from pip's index (PyPI unless PIP_INDEX_URL or pip.conf says otherwise) or pip's cache; \`pip download setuptools>=70.1\` failed: ${reason}`);
  }
  const index = join(scratch, 'pip-index');
  const wheels = readdirSync(downloads).filter((f) => f.endsWith('.whl')).map((f) => join(downloads, f));
  execFileSync(enginePython(), [join(repoRoot, 'tools/forge/python/forge_wheel.py'), 'publish', index, ...wheels], { stdio: 'ignore' });
  pipIndex = index;
  return index;
}

/** A copy of examples/wheels whose venv and host builds install from the local index. */
export function wheelWorkspace(index: string): TempWorkspace {
  const ws = new TempWorkspace();
  for (const entry of ['pkgs', 'variants.yaml', 'nx.json']) cpSync(join(repoRoot, 'examples/wheels', entry), join(ws.root, entry), { recursive: true });
  const nx = JSON.parse(readFileSync(join(ws.root, 'nx.json'), 'utf8')) as { plugins: Array<{ options: Record<string, unknown> }> };
  nx.plugins[0]!.options.pipIndex = index;
  writeFileSync(join(ws.root, 'nx.json'), JSON.stringify(nx, null, 2));
  return ws;
}

/** Every file under a folder, relative, sorted (for layout assertions). */
export function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(join(dir, entry.name), rel) : [rel];
  }).sort();
}

/** The manifest of a wheel task, if it has one. */
export function wheelManifest(ws: TempWorkspace, project: string, id: string): { key: string; builtAt: string; files: Array<{ file: string }>; channel?: string } | undefined {
  const file = join(ws.root, 'wheelhouse', project, id, 'manifest.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { key: string; builtAt: string; files: Array<{ file: string }>; channel?: string }) : undefined;
}

/** Serves a folder over http on 127.0.0.1 (a wheel index as a web server would), recording the paths asked for. */
export async function serveFolder(dir: string): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(path);
    const file = join(dir, path);
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}
