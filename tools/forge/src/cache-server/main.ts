#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { errorLine, ForgeError } from '../errors.js';
import { createCacheServer } from './server.js';

/**
 * `forge-cache-server`: Nx's self-hosted remote cache on local disk.
 * Tokens come from the environment so they stay out of process listings:
 * FORGE_CACHE_RW_TOKENS and FORGE_CACHE_RO_TOKENS, comma-separated.
 */
const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: process.env.FORGE_CACHE_DIR ?? '.nx-remote-cache' },
    host: { type: 'string', default: process.env.FORGE_CACHE_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.FORGE_CACHE_PORT ?? '3900' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: forge-cache-server [--dir DIR] [--host HOST] [--port PORT]\n' +
      'Serves Nx\'s self-hosted remote cache API (GET/PUT /v1/cache/{hash}).\n' +
      'Tokens: FORGE_CACHE_RW_TOKENS (CI, read-write) and FORGE_CACHE_RO_TOKENS (developers, read-only), comma-separated.\n',
  );
  process.exit(0);
}
const split = (value: string | undefined) => (value ?? '').split(',').map((t) => t.trim()).filter(Boolean);
const readWriteTokens = split(process.env.FORGE_CACHE_RW_TOKENS);
const readOnlyTokens = split(process.env.FORGE_CACHE_RO_TOKENS);
if (readWriteTokens.length + readOnlyTokens.length === 0) {
  process.stderr.write(errorLine('forge-cache-server', new ForgeError('set FORGE_CACHE_RW_TOKENS (and FORGE_CACHE_RO_TOKENS for read-only users)')));
  process.exit(2);
}
const server = createCacheServer({ dir: values.dir, readWriteTokens, readOnlyTokens });
server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`Nx remote cache on http://${values.host}:${values.port} (blobs in ${values.dir}); point NX_SELF_HOSTED_REMOTE_CACHE_SERVER at it\n`);
});
