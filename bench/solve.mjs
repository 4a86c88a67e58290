// How long `forge solve` takes on the demo workspace against a large channel served on
// 127.0.0.1 (index records only: solving needs no package files): the first run with an
// empty rattler cache, then runs that find the index in the cache (the server answers
// 304 to a revalidation, as conda channels do). The floor is starting the solver's
// Python and importing py-rattler, measured in the same run.
//
// Usage: node bench/solve.mjs [--packages 20000] [--runs 3]
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const packages = arg('packages', 20000);
const runs = arg('runs', 3);

const scratch = mkdtempSync(join(tmpdir(), 'forge-bench-solve-'));
const record = (name, version, build, subdir, depends = []) => ({ name, version, build, build_number: 0, depends, subdir, ...(subdir === 'noarch' ? { noarch: 'generic' } : {}) });
const index = { 'linux-64': {}, noarch: {} };
for (const v of ['3.12.0', '3.13.0']) index['linux-64'][`python-${v}-0.conda`] = record('python', v, '0', 'linux-64');
for (const v of ['12.6', '12.8', '12.9']) index.noarch[`cuda-version-${v}-0.conda`] = record('cuda-version', v, '0', 'noarch');
// Filler: what makes a real channel's index large.
for (let i = 0; i < packages; i++) {
  const subdir = i % 2 ? 'noarch' : 'linux-64';
  index[subdir][`filler-${i % 2000}-1.${i}-0.conda`] = record(`filler-${i % 2000}`, `1.${i}`, '0', subdir, [`python >=3.${i % 14}`]);
}
const bodies = Object.fromEntries(Object.entries(index).map(([subdir, records]) => [subdir, JSON.stringify({ info: { subdir }, packages: {}, 'packages.conda': records, repodata_version: 1 })]));
const etags = Object.fromEntries(Object.entries(bodies).map(([subdir, body]) => [subdir, `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`]));

const server = createServer((req, res) => {
  const [, subdir, name] = (req.url ?? '').split('/');
  if (name !== 'repodata.json' || !bodies[subdir]) return void res.writeHead(404).end();
  if (req.headers['if-none-match'] === etags[subdir]) return void res.writeHead(304, { etag: etags[subdir] }).end();
  res.writeHead(200, { 'content-type': 'application/json', etag: etags[subdir], 'cache-control': 'public, max-age=0' }).end(bodies[subdir]);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}`;

const ws = join(scratch, 'ws');
mkdirSync(ws);
for (const entry of ['pkgs', 'variants.yaml']) cpSync(join(repo, 'examples/demo', entry), join(ws, entry), { recursive: true });
symlinkSync(join(repo, 'node_modules'), join(ws, 'node_modules'), 'dir');
writeFileSync(join(ws, 'nx.json'), JSON.stringify({ plugins: [{ plugin: '@wv-forge/forge/plugin', options: { channels: [url], artifactChannels: [] } }] }));
const cache = join(scratch, 'rattler-cache');

// Async, so this process keeps serving the channel while the child solves.
const timed = (command, args, env = {}) =>
  new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { cwd: ws, env: { ...process.env, RATTLER_CACHE_DIR: cache, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - start) / 1e9) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${out}`))));
  });

try {
  const python = join(repo, '.venv/bin/python');
  execFileSync(python, ['-c', 'import rattler']);
  const floors = [];
  for (let i = 0; i < 3; i++) floors.push(await timed(python, ['-c', 'import rattler']));
  const floor = Math.min(...floors);
  const forge = join(repo, 'tools/forge/dist/cli/main.js');
  const cold = await timed(process.execPath, [forge, 'solve']);
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push(await timed(process.execPath, [forge, 'solve']));
  const best = Math.min(...warm);
  console.log(`channel: ${packages + 5} records on 127.0.0.1; demo workspace: 14 variant tasks`);
  console.log(`floor (python + import rattler): ${floor.toFixed(2)} s`);
  console.log(`forge solve, empty cache: ${cold.toFixed(2)} s (${(cold / floor).toFixed(1)}x floor)`);
  console.log(`forge solve, cached index: ${best.toFixed(2)} s best of ${runs} (${(best / floor).toFixed(1)}x floor, ${(cold / best).toFixed(1)}x faster than cold)`);
} finally {
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}
