#!/usr/bin/env node
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { errorLine, ForgeError, fromSystemError } from '../errors.js';
import { createCacheServer } from './server.js';

/**
 * `forge-cache-server`: Nx's self-hosted remote cache on local disk.
 * Tokens come from the environment so they stay out of process listings:
 * FORGE_CACHE_RW_TOKENS and FORGE_CACHE_RO_TOKENS, comma-separated.
 */
const fail = (message: string): never => {
  process.stderr.write(errorLine('forge-cache-server', new ForgeError(message)));
  process.exit(2);
};
const options = {
  dir: { type: 'string', default: process.env.FORGE_CACHE_DIR ?? '.nx-remote-cache' },
  host: { type: 'string', default: process.env.FORGE_CACHE_HOST ?? '127.0.0.1' },
  port: { type: 'string', default: process.env.FORGE_CACHE_PORT ?? '3900' },
  'max-blob-size': { type: 'string', default: process.env.FORGE_CACHE_MAX_BLOB_SIZE },
  'request-timeout': { type: 'string', default: process.env.FORGE_CACHE_REQUEST_TIMEOUT },
  help: { type: 'boolean', default: false },
} as const;
const { values } = (() => {
  try {
    return parseArgs({ options });
  } catch (error) {
    // An unknown option or a missing value: one line, not node's stack trace.
    return fail(`${(error as Error).message} (see --help)`);
  }
})();
if (values.help) {
  process.stdout.write(
    'usage: forge-cache-server [--dir DIR] [--host HOST] [--port PORT] [--max-blob-size SIZE] [--request-timeout SECONDS]\n' +
      `Defaults: --dir ${options.dir.default} --host ${options.host.default} --port ${options.port.default} (or FORGE_CACHE_DIR, _HOST, _PORT).\n` +
      'Serves Nx\'s self-hosted remote cache API (GET/PUT /v1/cache/{hash}) and forge\'s content-key store (/v1/forge/keys, /v1/forge/blobs).\n' +
      'Tokens: FORGE_CACHE_RW_TOKENS (CI, read-write) and FORGE_CACHE_RO_TOKENS (developers, read-only), comma-separated.\n' +
      'SIZE (or FORGE_CACHE_MAX_BLOB_SIZE): bytes, or with a K, M or G suffix (powers of 1024); larger uploads get 413. Default: no limit.\n' +
      'SECONDS (or FORGE_CACHE_REQUEST_TIMEOUT): how long one upload or download may take; default 300 (Node\'s), 0 for no limit.\n' +
      'Several servers may share one --dir: a stored hash is never replaced.\n',
  );
  process.exit(0);
}
const split = (value: string | undefined) => (value ?? '').split(',').map((t) => t.trim()).filter(Boolean);
const readWriteTokens = split(process.env.FORGE_CACHE_RW_TOKENS);
const readOnlyTokens = split(process.env.FORGE_CACHE_RO_TOKENS);
if (readWriteTokens.length + readOnlyTokens.length === 0) fail('set FORGE_CACHE_RW_TOKENS (and FORGE_CACHE_RO_TOKENS for read-only users)');
const maxBlobBytes = values['max-blob-size'] === undefined ? undefined : parseSize(values['max-blob-size']);
const port = parsePort(values.port);
const requestTimeoutMs = values['request-timeout'] === undefined ? undefined : parseSeconds(values['request-timeout']) * 1000;

const server = (() => {
  try {
    return createCacheServer({ dir: values.dir, readWriteTokens, readOnlyTokens, ...(maxBlobBytes === undefined ? {} : { maxBlobBytes }), ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }) });
  } catch (error) {
    // A --dir that cannot be created (a file in the way, no permission): the user's setup, one line.
    return fail(`--dir: ${fromSystemError(error)?.format() ?? (error as Error).message}`);
  }
})();
// A port in use or a host not on this machine: say so in one line rather than as an unhandled 'error' event.
server.on('error', (error) => fail(`cannot listen on ${values.host}:${port}: ${(error as Error).message}`));
server.listen(port, values.host, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`Nx remote cache on http://${values.host}:${port} (blobs in ${values.dir}); point NX_SELF_HOSTED_REMOTE_CACHE_SERVER at it\n`);
});

function parsePort(text: string): number {
  const port = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) return fail(`--port / FORGE_CACHE_PORT: \`${text}\` is not a port (0 to 65535; 0 picks a free one)`);
  return port;
}

function parseSeconds(text: string): number {
  if (!/^\d+$/.test(text.trim())) return fail(`--request-timeout / FORGE_CACHE_REQUEST_TIMEOUT: \`${text}\` is not a number of seconds (0 for no limit)`);
  return Number(text);
}

function parseSize(text: string): number {
  const match = /^(\d+)\s*([KMG]?)$/i.exec(text.trim());
  if (!match) return fail(`--max-blob-size / FORGE_CACHE_MAX_BLOB_SIZE: \`${text}\` is not a size (bytes, or a number with K, M or G)`);
  return Number(match[1]) * 1024 ** ' KMG'.indexOf(match[2]!.toUpperCase() || ' ');
}
