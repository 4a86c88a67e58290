import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './support/paths.js';

/** The README's first command line: the first line of its first bash block that is not a comment. */
function firstReadmeCommand(): string {
  const block = /```bash\n([\s\S]*?)```/.exec(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  const line = block?.[1]?.split('\n').find((l) => l.trim() && !l.trim().startsWith('#'));
  if (!line) throw new Error('README.md has no bash block with a command');
  return line.trim();
}

/** Where npm's config may point that a newcomer's shell would share: the cache, the user config, the registry. */
const KEPT_NPM_CONFIG = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_registry']);

/**
 * The environment of a newcomer's shell. When the tests run under `npm test`, npm
 * exports its whole state (npm_config_local_prefix names this checkout!), which
 * would point the clone's npm back here; all of it goes but the cache and config.
 */
function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if ((/^npm_/i.test(name) && !KEPT_NPM_CONFIG.has(name.toLowerCase())) || name === 'INIT_CWD') continue;
    env[name] = value;
  }
  // npm also puts this checkout's node_modules/.bin on PATH, where npx would find a `forge` the clone lacks.
  const path = (env.PATH ?? '').split(delimiter).filter((dir) => !/node_modules[\\/]\.bin|node-gyp-bin/.test(dir));
  return { ...env, PATH: path.join(delimiter), NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
}

describe('a fresh clone, as a newcomer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-clone-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs the README's install and then `npx forge --help`, leaving the tree clean", () => {
    // The committed HEAD, as `git clone` gives it: nothing built, nothing ignored carried over.
    execFileSync('git', ['clone', '--quiet', '--no-hardlinks', repoRoot, dir]);
    const run = (command: string, args: string[]) => spawnSync(command, args, { cwd: dir, encoding: 'utf8', env: shellEnv() });

    // The install step of the README's first command, as written; the engine setup and the
    // build after it are covered by the other tests and need the network.
    const install = firstReadmeCommand().split('&&')[0]!.trim();
    expect(install).toBe('npm ci');
    // From npm's cache where it can: the packages are the same, only the download is spared.
    const installed = run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund']);
    // Packages missing from npm's cache come from the registry: say so when it cannot be reached.
    const unreachable = /\b(ENOTFOUND|ECONNREFUSED|ECONNRESET|EAI_AGAIN|ETIMEDOUT|ENETUNREACH)\b/.exec(installed.stderr)?.[1];
    const needs = () => `this test needs the npm registry (${run('npm', ['config', 'get', 'registry']).stdout.trim()}), or npm's cache holding every package of package-lock.json; npm ci could not reach it (${unreachable}):\n${installed.stderr}`;
    expect(installed.status, unreachable ? needs() : installed.stderr).toBe(0);

    // --no-install: without the workspace's link npx would offer the registry's unrelated `forge`.
    const help = run('npx', ['--no-install', 'forge', '--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: forge /);
    expect(help.stdout).toContain('variants');

    expect(run('git', ['status', '--porcelain']).stdout).toBe('');
  });
});
