#!/usr/bin/env node
// Remote cache benchmark: the demo built once in a "CI" clone with the read-write token, then
// `nx run-many -t build` timed in a fresh "developer" clone (other path, empty outputs and local
// cache) with the read-only token (all remote hits), and again there (all local hits).
// Usage: node bench/remote-cache.mjs [--runs 3]

import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const scratch = mkdtempSync(join(tmpdir(), 'forge-remote-bench-'));
const { createCacheServer } = await import(join(repo, 'tools/forge/dist/cache-server/server.js'));
const server = createCacheServer({ dir: join(scratch, 'blobs'), readWriteTokens: ['rw'], readOnlyTokens: ['ro'] });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const bootstrap = join(scratch, 'bootstrap');
await buildBootstrapChannel(join(repo, 'examples/demo/bootstrap'), bootstrap, repo);

function clone() {
  const root = mkdtempSync(join(scratch, 'clone-'));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
  for (const entry of ['pkgs', 'variants.yaml', 'nx.json']) cpSync(join(repo, 'examples/demo', entry), join(root, entry), { recursive: true });
  cpSync(bootstrap, join(root, '.bootstrap'), { recursive: true });
  return root;
}
// Nx's remote cache runs in its own native code, so the server must not share this event loop
// with a blocking child: time the runs from a child process that is awaited asynchronously.
async function build(root, token) {
  const { spawn } = await import('node:child_process');
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [join(repo, 'node_modules/nx/dist/bin/nx.js'), 'run-many', '-t', 'build', '--parallel=2'], {
    cwd: root,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', NX_SELF_HOSTED_REMOTE_CACHE_SERVER: url, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token },
    stdio: 'ignore',
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`nx run-many failed in ${root}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const ci = clone();
const ciTime = await build(ci, 'rw');
const remote = [];
const local = [];
for (let i = 0; i < Number(values.runs); i++) {
  const dev = clone();
  remote.push(await build(dev, 'ro'));
  local.push(await build(dev, 'ro'));
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Counted, not assumed: each variant build leaves output/<project>/<variant>/manifest.json.
const outputs = join(ci, 'output');
const variants = readdirSync(outputs)
  .filter((p) => !p.startsWith('.'))
  .flatMap((p) => readdirSync(join(outputs, p)).filter((id) => existsSync(join(outputs, p, id, 'manifest.json')))).length;
console.log(`demo: ${variants} variant builds, each with its solve task (+ the aggregates); CI clone built everything in ${ciTime.toFixed(1)} s`);
console.log(`fresh clone, all from the remote cache: ${median(remote).toFixed(2)} s (median of ${remote.length})`);
console.log(`same clone again, all from the local cache: ${median(local).toFixed(2)} s`);
server.close();
rmSync(scratch, { recursive: true, force: true });
