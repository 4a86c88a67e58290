import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ForgeError } from '../errors.js';

/** Where `upload` publishes: a prefix.dev channel, or a channel folder wv-forge indexes itself. */
export type UploadChannel =
  | { readonly kind: 'prefix'; readonly server: string; readonly channel: string; readonly url: string }
  | { readonly kind: 'folder'; readonly dir: string; readonly url: string };

/** `https://prefix.dev/wv-forge` -> server https://prefix.dev, channel wv-forge; a path or file:// URL -> a folder. */
export function parseUploadChannel(value: string, root: string): UploadChannel {
  if (/^https?:\/\//i.test(value)) {
    const url = new URL(value.replace(/\/+$/, ''));
    const segments = url.pathname.split('/').filter(Boolean);
    const channel = segments.pop();
    if (!channel) throw new ForgeError(`uploadChannel \`${value}\` names no channel (expected https://prefix.dev/<channel>)`, { file: 'nx.json' });
    const server = `${url.origin}/${segments.map((s) => `${s}/`).join('')}`;
    return { kind: 'prefix', server, channel, url: `${server}${channel}` };
  }
  if (value.startsWith('file://')) return { kind: 'folder', dir: fileURLToPath(value), url: value.replace(/\/+$/, '') };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new ForgeError(`uploadChannel \`${value}\`: only https:// (prefix.dev) and folders are supported`, { file: 'nx.json' });
  const dir = isAbsolute(value) ? value : resolve(root, value);
  return { kind: 'folder', dir, url: pathToFileURL(dir).href };
}

/** Refuses a prefix.dev upload without PREFIX_API_KEY, saying what to set. */
export function requireUploadCredentials(target: UploadChannel, env: NodeJS.ProcessEnv = process.env): void {
  if (target.kind === 'prefix' && !env.PREFIX_API_KEY) {
    throw new ForgeError(`uploading to ${target.url} needs PREFIX_API_KEY: export PREFIX_API_KEY=<a prefix.dev API key with write access to ${target.channel}>`);
  }
}
