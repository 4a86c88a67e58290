import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ForgeError } from '../errors.js';
import { writeFileAtomic } from '../json-file.js';
import { OutputStore } from './outputs.js';

const run = promisify(execFile);

/** Environment variable naming the source cache folder (default `<workspace>/.forge/sources`). */
export const SOURCE_CACHE_ENV = 'FORGE_SOURCE_CACHE';

/**
 * Git sources, fetched once and kept by (url, commit): `trees/<url hash>-<commit>/`
 * holds the checked-out files (no .git), so the folder can be carried to a
 * machine without network; `refs.json` records what each tag resolved to, so a
 * tag is resolved once and the content key names the commit, never the tag.
 * Fetching is plain `git`, so git's own configuration applies: point it at a
 * mirror with `url.<mirror>.insteadOf` (or GIT_CONFIG_COUNT/KEY/VALUE).
 */
export class SourceCache {
  private readonly locks: OutputStore;

  constructor(readonly dir: string) {
    this.locks = new OutputStore(dir);
  }

  static forWorkspace(root: string): SourceCache {
    return new SourceCache(process.env[SOURCE_CACHE_ENV] ?? join(root, '.forge', 'sources'));
  }

  /** The tree folder of (url, commit), whether or not it is there yet. */
  treeDir(url: string, commit: string): string {
    return join(this.dir, 'trees', `${urlHash(url)}-${commit}`);
  }

  /** The commit a tag resolved to when it was first fetched, if it was. */
  recordedTag(url: string, tag: string): string | undefined {
    return this.refs()[`${url}#${tag}`];
  }

  /** A tag -> its commit: from refs.json, else asked of the remote (and recorded). */
  async resolveTag(url: string, tag: string): Promise<string> {
    const recorded = this.recordedTag(url, tag);
    if (recorded) return recorded;
    const { stdout } = await git(['ls-remote', '--', url, `refs/tags/${tag}`, `refs/tags/${tag}^{}`], `cannot list the tags of ${url}`);
    const lines = stdout.trim().split('\n').filter(Boolean).map((line) => line.split('\t') as [string, string]);
    // An annotated tag's `^{}` line is the commit; a lightweight tag's only line is.
    const commit = (lines.find(([, ref]) => ref.endsWith('^{}')) ?? lines[0])?.[0];
    if (!commit) throw new ForgeError(`tag \`${tag}\` does not exist in ${url}`);
    await this.locks.lock('sources', 'refs', async () => {
      const refs = this.refs();
      refs[`${url}#${tag}`] = commit;
      writeFileAtomic(join(this.dir, 'refs.json'), `${JSON.stringify(refs, null, 2)}\n`);
    });
    return commit;
  }

  /** The files of (url, commit), fetched if this cache does not have them yet. */
  async tree(url: string, commit: string, log: (line: string) => void = () => {}): Promise<string> {
    const tree = this.treeDir(url, commit);
    if (existsSync(tree)) return tree;
    return this.locks.lock('sources', urlHash(url), async () => {
      if (existsSync(tree)) return tree;
      const repo = join(this.dir, 'repos', `${urlHash(url)}.git`);
      if (!existsSync(repo)) {
        mkdirSync(repo, { recursive: true });
        await git(['init', '--bare', '--quiet', repo], 'cannot create the source cache');
      }
      if (!(await hasCommit(repo, commit))) {
        log(`fetching ${url} at ${commit.slice(0, 12)}`);
        // Most servers hand out a single commit; where one does not, fetch everything.
        const shallow = await git(['-C', repo, 'fetch', '--quiet', '--depth', '1', '--no-tags', '--', url, commit], '').catch(() => undefined);
        if (!shallow) await git(['-C', repo, 'fetch', '--quiet', '--no-tags', '--', url, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], `cannot fetch ${url}`);
        if (!(await hasCommit(repo, commit))) throw new ForgeError(`commit ${commit} does not exist in ${url}`);
      }
      const staging = `${tree}.${process.pid}.tmp`;
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      const archive = `${staging}.tar`;
      try {
        await git(['-C', repo, 'archive', '--format=tar', '-o', archive, commit], `cannot export ${commit} of ${url}`);
        await run('tar', ['-xf', archive, '-C', staging]);
        writeFileSync(join(staging, '.forge-source.json'), `${JSON.stringify({ url, commit }, null, 2)}\n`);
        renameSync(staging, tree);
      } finally {
        rmSync(archive, { force: true });
        rmSync(staging, { recursive: true, force: true });
      }
      return tree;
    });
  }

  private refs(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'refs.json'), 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }
}

function urlHash(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

async function hasCommit(repo: string, commit: string): Promise<boolean> {
  try {
    await run('git', ['-C', repo, 'cat-file', '-e', `${commit}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/** git without prompts (a missing repository must fail, not ask for a password); a failure is one line. */
async function git(args: readonly string[], what: string): Promise<{ stdout: string }> {
  try {
    return await run('git', args, { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 16 << 20 });
  } catch (error) {
    if (!what) throw error;
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').filter(Boolean).pop();
    throw new ForgeError(`${what}: ${stderr ?? (error as Error).message.split('\n')[0]}`);
  }
}
