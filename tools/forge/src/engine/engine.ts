import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ForgeError } from '../errors.js';
import { findOnPath } from './toolchain.js';

/** How to run rattler-build: a command line prefix, and whether it is the embedded front. */
export interface Engine {
  readonly command: string;
  readonly prefix: readonly string[];
  readonly embedded: boolean;
  /** Where the engine came from, for messages: `RATTLER_BUILD`, `PATH`, `embedded`. */
  readonly source: string;
}

/** The embedded front over py-rattler-build, shipped in this package. */
export const EMBEDDED_FRONT = fileURLToPath(new URL('../../python/forge_engine.py', import.meta.url));

/**
 * RATTLER_BUILD (or the plugin option), else `rattler-build` on PATH, else the
 * embedded py-rattler-build front in the workspace's .venv.
 */
export function locateEngine(root: string, configured?: string): Engine {
  const explicit = process.env.RATTLER_BUILD ?? configured;
  if (explicit) {
    if (explicit.endsWith('.py')) return { command: embeddedPython(root) ?? 'python3', prefix: [explicit], embedded: true, source: 'RATTLER_BUILD' };
    return { command: explicit, prefix: [], embedded: false, source: process.env.RATTLER_BUILD ? 'RATTLER_BUILD' : 'nx.json' };
  }
  const onPath = findOnPath('rattler-build');
  if (onPath) return { command: onPath, prefix: [], embedded: false, source: 'PATH' };
  const python = embeddedPython(root);
  if (python) return { command: python, prefix: [EMBEDDED_FRONT], embedded: true, source: 'embedded' };
  throw new ForgeError(
    'no rattler-build engine found: install rattler-build on PATH, set RATTLER_BUILD, or run `npm run setup:engine` for the embedded py-rattler-build engine',
  );
}

/** FORGE_PYTHON, else the .venv of the workspace, else the .venv of the repository this package lives in. */
export function embeddedPython(root: string): string | undefined {
  const packageRepo = fileURLToPath(new URL('../../../../.venv/bin/python', import.meta.url));
  const candidates = [process.env.FORGE_PYTHON, join(root, '.venv', 'bin', 'python'), packageRepo];
  return candidates.find((candidate): candidate is string => Boolean(candidate && existsSync(candidate)));
}

const versions = new Map<string, string>();

/** `rattler-build 0.x` or `py-rattler-build 0.x`: part of every content key. */
export function engineVersion(engine: Engine): string {
  const id = [engine.command, ...engine.prefix].join(' ');
  let version = versions.get(id);
  if (!version) {
    try {
      // A one-shot query in every task process: execa's load time (0.1-0.3 s on a busy 2-core machine) would cost more than it brings.
      version = execFileSync(engine.command, [...engine.prefix, '--version'], { encoding: 'utf8' }).trim();
    } catch (error) {
      throw new ForgeError(`the engine \`${id}\` (from ${engine.source}) does not run: ${(error as Error).message.split('\n')[0]}`);
    }
    versions.set(id, version);
  }
  return version;
}
