#!/usr/bin/env node
// Puts one wheel project's git source into the source cache from a local bare mirror,
// leaving out folders the build does not read, so the cache stays small enough to carry
// to a GPU machine without network (the device takes 64 MiB in all, Node included).
//
// Usage: node examples/gpu/seed-source.mjs <project> --mirror <bare git dir> [--exclude a,b,...]
//   e.g. node examples/gpu/seed-source.mjs pytorch3d \
//          --mirror /work/.mirror/facebookresearch+pytorch3d/repo --exclude tests,docs,.github,website
//
// `npx forge fetch` is the normal way in (plain git, so `url.<mirror>.insteadOf` works);
// this is for a mirror that cannot serve the whole commit (a snapshot whose largest
// files are absent: git refuses to pack a commit with missing blobs) and for trimming.
// The tag is resolved and recorded exactly as `forge fetch` does (SourceCache.resolveTag
// through an insteadOf rule); the tree goes where SourceCache.tree looks for it, by rename,
// and its .forge-source.json names what was left out.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const fail = (message) => {
  process.stderr.write(`seed-source: ${message}\n`);
  process.exit(1);
};
let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { mirror: { type: 'string' }, exclude: { type: 'string', default: '' }, help: { type: 'boolean' } } });
} catch (error) {
  fail(error.message);
}
const { values, positionals } = parsed;
if (values.help || positionals.length !== 1 || !values.mirror) {
  process.stdout.write('usage: node examples/gpu/seed-source.mjs <project> --mirror <bare git dir> [--exclude a,b,...]\n');
  process.exit(values.help ? 0 : 2);
}
const [project] = positionals;
const wheelFile = join(repo, 'pkgs', project, 'wheel/wheel.yaml');
if (!existsSync(wheelFile)) fail(`no wheel project ${project} (looked for ${wheelFile})`);
const mirror = values.mirror;
if (!existsSync(mirror)) fail(`mirror ${mirror} does not exist`);

const { parseWheelSpec } = await import(pathToFileURL(join(repo, 'tools/forge/dist/recipe/wheel-spec.js')).href);
const { SourceCache } = await import(pathToFileURL(join(repo, 'tools/forge/dist/store/source-cache.js')).href);
const spec = parseWheelSpec(`pkgs/${project}/wheel/wheel.yaml`, readFileSync(wheelFile, 'utf8'));
if (spec.source.kind !== 'git') fail(`${project} has no git source`);
const { url, tag, rev } = spec.source;

// The same rule a user would put in ~/.gitconfig, for this process only.
const count = Number(process.env.GIT_CONFIG_COUNT ?? 0);
Object.assign(process.env, {
  GIT_CONFIG_COUNT: String(count + 1),
  [`GIT_CONFIG_KEY_${count}`]: `url.file://${mirror}.insteadOf`,
  [`GIT_CONFIG_VALUE_${count}`]: url,
});
const cache = SourceCache.forWorkspace(repo);
let commit;
try {
  commit = rev ?? (await cache.resolveTag(url, tag));
} catch (error) {
  fail(error.message);
}
const tree = cache.treeDir(url, commit);
const excluded = values.exclude.split(',').map((p) => p.trim().replace(/\/+$/, '')).filter(Boolean);
if (existsSync(tree)) {
  process.stdout.write(`${project}: ${commit} already in ${tree}\n`);
} else {
  const git = (...args) => execFileSync('git', ['--git-dir', mirror, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const top = git('ls-tree', '--name-only', commit).split('\n').filter(Boolean);
  for (const path of excluded) if (!top.includes(path)) fail(`--exclude ${path}: ${commit} has no top-level ${path}`);
  const staging = `${tree}.${process.pid}.tmp`;
  mkdirSync(staging, { recursive: true });
  let failure;
  try {
    const keep = top.filter((path) => !excluded.includes(path));
    git('archive', '--format=tar', '-o', `${staging}.tar`, commit, '--', ...keep);
    execFileSync('tar', ['-xf', `${staging}.tar`, '-C', staging]);
    writeFileSync(join(staging, '.forge-source.json'), `${JSON.stringify({ url, commit, mirror, excluded }, null, 2)}\n`);
    renameSync(staging, tree);
  } catch (error) {
    failure = `cannot export ${commit} from ${mirror}: ${String(error.stderr || error.message).trim().split('\n').pop()}`;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(`${staging}.tar`, { force: true });
  }
  if (failure) fail(failure);
  process.stdout.write(`${project}: ${commit} into ${tree}${excluded.length ? ` (left out: ${excluded.join(', ')})` : ''}\n`);
}
const size = execFileSync('du', ['-sk', tree], { encoding: 'utf8' }).split('\t')[0];
process.stdout.write(`${project}: ${(Number(size) / 1024).toFixed(1)} MiB on disk\n`);
