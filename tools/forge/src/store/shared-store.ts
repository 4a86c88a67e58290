import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isInnerPath, isObject } from '../json-file.js';
import type { OutputStore } from './outputs.js';

/**
 * The shared content-key store: what a finished variant task left in its
 * output folder, found by the variant's content key, the way Bazel's action
 * cache finds an action's outputs by the action's digest. Nx's remote cache
 * finds a task by Nx's hash, which changes with things that do not change the
 * artifact (a grown matrix, edited plugin options); this store is asked with
 * the content key, so such a variant is restored, never rebuilt.
 *
 * It lives on the same server as Nx's remote cache and under the same tokens
 * (NX_SELF_HOSTED_REMOTE_CACHE_SERVER and _ACCESS_TOKEN): read-only tokens
 * read, only read-write tokens store. Files are blobs named by their SHA-256
 * (`/v1/forge/blobs/<sha256>`), and a key's record (`/v1/forge/keys/<kind>-<key>`)
 * lists every file of the folder with its SHA-256 and size; the record is
 * stored last, so a record's blobs are all there. The server never replaces
 * an entry.
 */
export class SharedStore {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** The store of this process's environment, or none when no remote cache is configured (or it has no token). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SharedStore | undefined {
    const url = env.NX_SELF_HOSTED_REMOTE_CACHE_SERVER?.trim();
    const token = env.NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN?.trim();
    return url && token ? new SharedStore(url.replace(/\/+$/, ''), token) : undefined;
  }

  /**
   * Fetches the folder stored for `key` into `staged` and checks every file
   * against the record's SHA-256 and size, and the manifest against the key.
   * `found: false` when the store has no such key; throws when what it has is
   * damaged or does not match (nothing of it is used then).
   */
  async fetchInto(kind: ArtifactKind, key: string, staged: string): Promise<{ found: true; files: number; bytes: number } | { found: false }> {
    const response = await this.call('GET', recordPath(kind, key));
    if (response.statusCode === 404) return drained(response, { found: false as const });
    const record = await json(response, `the record of ${kind} key ${key.slice(0, 12)}`);
    if (!isRecord(record) || record.key !== key || record.kind !== kind) throw new Error(`the shared store's record of ${kind} key ${key.slice(0, 12)} is damaged or for another key`);
    let bytes = 0;
    for (const entry of record.files) {
      const target = join(staged, entry.file);
      mkdirSync(dirname(target), { recursive: true });
      const blob = await this.call('GET', blobPath(entry.sha256));
      if (blob.statusCode !== 200) throw new Error(`the shared store lists ${entry.file} but has not got its blob (HTTP ${blob.statusCode})`);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({ transform(chunk: Buffer, _encoding, done) { hash.update(chunk); size += chunk.length; done(null, chunk); } });
      await pipeline(blob, tap, createWriteStream(target));
      if (size !== entry.size || hash.digest('hex') !== entry.sha256) throw new Error(`${entry.file} from the shared store does not match its SHA-256 in the record of key ${key.slice(0, 12)}`);
      bytes += size;
    }
    return { found: true, files: record.files.length, bytes };
  }

  /**
   * Stores a finished task folder under its key: blobs first (smallest first,
   * so a read-only token is refused before any large upload), the record last.
   * Answers how it went in words, for the task's log; never throws.
   */
  async share(kind: ArtifactKind, key: string, dir: string): Promise<ShareOutcome> {
    try {
      const files = listFolder(dir).sort((a, b) => a.size - b.size);
      for (const entry of files) {
        const outcome = await this.put(blobPath(entry.sha256), () => createReadStream(join(dir, entry.file)), entry.size);
        if (outcome !== 'stored' && outcome !== 'exists') return outcome;
      }
      const record = Buffer.from(JSON.stringify({ format: 1, kind, key, files: files.sort((a, b) => (a.file < b.file ? -1 : 1)) } satisfies SharedRecord));
      return await this.put(recordPath(kind, key), () => Readable.from([record]), record.length);
    } catch (error) {
      return { failed: (error as Error).message };
    }
  }

  private async put(path: string, body: () => Readable, size: number): Promise<ShareOutcome> {
    const response = await this.call('PUT', path, body(), size);
    const status = response.statusCode ?? 0;
    const text = (await readBody(response)).trim();
    if (status === 200 || status === 201 || status === 202 || status === 204) return 'stored';
    if (status === 409) return 'exists';
    if (status === 403) return 'read-only';
    return { failed: `HTTP ${status}${text ? `: ${text}` : ''}` };
  }

  private call(method: 'GET' | 'PUT', path: string, body?: Readable, size?: number): Promise<IncomingMessage> {
    const url = new URL(`${this.url}${path}`);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${this.token}` };
      if (size !== undefined) headers['content-length'] = size;
      const req = request(url, { method, headers }, (response) => {
        if (response.statusCode === 401) {
          response.resume();
          reject(new Error(`${this.url} does not know this token (HTTP 401)`));
        } else resolve(response);
      });
      req.on('error', reject);
      if (body) {
        body.on('error', (error) => req.destroy(error));
        body.pipe(req);
      } else req.end();
    });
  }
}

export type ArtifactKind = 'conda' | 'wheel';
export type ShareOutcome = 'stored' | 'exists' | 'read-only' | { failed: string };

interface SharedRecord {
  readonly format: 1;
  readonly kind: ArtifactKind;
  readonly key: string;
  readonly files: ReadonlyArray<{ file: string; sha256: string; size: number }>;
}

/** The log line of a share, for the executors. */
export function describeShare(outcome: ShareOutcome, url: string): string {
  if (outcome === 'stored') return `stored in the shared store (${url})`;
  if (outcome === 'exists') return `already in the shared store (${url})`;
  if (outcome === 'read-only') return `not stored in the shared store: ${url} refused the upload (this token may only read)`;
  return `not stored in the shared store (${outcome.failed})`;
}

/**
 * The executors' hook before building: the variant's key from the shared
 * store into the local outputs, checked file by file and then as a whole
 * (`OutputStore.valid`: the manifest's key and every file's SHA-256) before
 * it is used. Call it holding the task's lock. Answers whether the variant
 * is now in place; a store that cannot be reached, or has a damaged entry,
 * means building it here.
 */
export async function restoreShared(shared: SharedStore | undefined, kind: ArtifactKind, store: OutputStore, project: string, id: string, key: string, log: (line: string) => void): Promise<boolean> {
  if (!shared) return false;
  const label = `${project}:${id}`;
  const staged = store.stagingDir(project, id);
  try {
    const fetched = await shared.fetchInto(kind, key, staged);
    if (!fetched.found) {
      store.discard(staged);
      return false;
    }
    store.publish(staged, project, id);
  } catch (error) {
    store.discard(staged);
    log(`${label}: not restored from the shared store (${(error as Error).message}); building it here`);
    return false;
  }
  if (!store.valid(project, id, key)) {
    log(`${label}: what the shared store has for key ${key.slice(0, 12)} does not match its manifest; building it here`);
    return false;
  }
  log(`${label}: restored from the shared store (key ${key.slice(0, 12)}), not building`);
  return true;
}

/** The executors' hook after a build: the task folder into the shared store, when a store is configured. */
export async function shareBuilt(shared: SharedStore | undefined, kind: ArtifactKind, store: OutputStore, project: string, id: string, key: string, log: (line: string) => void): Promise<void> {
  if (!shared) return;
  log(`${project}:${id}: ${describeShare(await shared.share(kind, key, store.taskDir(project, id)), shared.url)}`);
}

const recordPath = (kind: ArtifactKind, key: string) => `/v1/forge/keys/${kind}-${key}`;
const blobPath = (sha256: string) => `/v1/forge/blobs/${sha256}`;

/** Every file of a task folder, with its SHA-256 and size; dot-folders (a build's scratch) are left out. */
function listFolder(dir: string, prefix = ''): Array<{ file: string; sha256: string; size: number }> {
  const out: Array<{ file: string; sha256: string; size: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.')) out.push(...listFolder(path, rel));
    } else if (entry.isFile()) {
      out.push({ file: rel, sha256: sha256Of(path), size: statSync(path).size });
    }
  }
  return out;
}

function sha256Of(path: string): string {
  const hash = createHash('sha256');
  // Synchronous and chunked: a folder holds wheels of gigabytes, which must not be read whole.
  for (const chunk of readChunks(path)) hash.update(chunk);
  return hash.digest('hex');
}

function* readChunks(path: string): Generator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) yield buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function isRecord(value: unknown): value is SharedRecord {
  return isObject(value) && value.format === 1 && typeof value.key === 'string' && (value.kind === 'conda' || value.kind === 'wheel') && Array.isArray(value.files)
    && value.files.every((f: unknown) => isObject(f) && isInnerPath(f.file) && typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256) && typeof f.size === 'number');
}

async function readBody(response: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of response) body += String(chunk);
  return body;
}

async function json(response: IncomingMessage, what: string): Promise<unknown> {
  const body = await readBody(response);
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode} for ${what}`);
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`${what} is not JSON`);
  }
}

function drained<T>(response: IncomingMessage, value: T): T {
  response.resume();
  return value;
}
