import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';

/** A channel as a URL: names go to conda.anaconda.org, paths become file:// URLs. */
export function channelUrl(channel: string, root: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(channel)) return channel.replace(/\/+$/, '');
  if (channel.startsWith('.') || isAbsolute(channel)) return pathToFileURL(resolve(root, channel)).href;
  return `https://conda.anaconda.org/${channel}`;
}

/**
 * The channels a build (and its solve) reads, as URLs, in their order. A local
 * folder in `channels` must exist: the engine skips a missing one without a
 * word and fails later for want of a package, and the solver stops at it. A
 * local artifact channel that does not exist yet has nothing published; it is
 * left out.
 */
export function buildChannels(options: Pick<ForgeOptions, 'channels' | 'artifactChannels'>, root: string): { artifactChannels: string[]; channels: string[] } {
  const local = (url: string) => (url.startsWith('file://') ? fileURLToPath(url) : undefined);
  const artifactChannels = options.artifactChannels.map((c) => channelUrl(c, root)).filter((url) => {
    const dir = local(url);
    return dir === undefined || existsSync(dir);
  });
  const channels = options.channels.map((channel) => {
    const url = channelUrl(channel, root);
    const dir = local(url);
    if (dir !== undefined && !existsSync(dir)) throw new ForgeError(`channel \`${channel}\` does not exist (${dir}): fix \`channels\` in the options of @wv-forge/forge/plugin`, { file: 'nx.json' });
    return url;
  });
  return { artifactChannels, channels };
}

interface Repodata {
  readonly packages?: Record<string, unknown>;
  readonly 'packages.conda'?: Record<string, unknown>;
}

export type Lookup = { readonly found: true; readonly channel: string } | { readonly found: false; readonly problem?: string };

const cache = new Map<string, Promise<Repodata | string>>();

/** Reads `<channel>/<subdir>/repodata.json` over http(s) or file://; a string is why it could not. */
function repodata(channel: string, subdir: string): Promise<Repodata | string> {
  const url = `${channel}/${subdir}/repodata.json`;
  let pending = cache.get(url);
  if (!pending) {
    pending = (async () => {
      try {
        if (url.startsWith('file://')) return JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as Repodata;
        const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        if (response.status === 404) return {};
        if (!response.ok) return `${url}: HTTP ${response.status}`;
        return (await response.json()) as Repodata;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
        return `${url}: ${(error as Error).message}`;
      }
    })();
    cache.set(url, pending);
  }
  return pending;
}

/** Is `subdir/file.conda` in the index of any of the channels? */
export async function findOnChannels(file: string, channels: readonly string[]): Promise<Lookup> {
  const [subdir, name] = file.split('/') as [string, string];
  const problems: string[] = [];
  for (const channel of channels) {
    const index = await repodata(channel, subdir);
    if (typeof index === 'string') {
      problems.push(index);
      continue;
    }
    if (index['packages.conda']?.[name] || index.packages?.[name]) return { found: true, channel };
  }
  return problems.length ? { found: false, problem: problems.join('; ') } : { found: false };
}
