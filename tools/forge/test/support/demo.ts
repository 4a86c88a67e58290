import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { TempWorkspace } from './workspace.js';

interface BootstrapModule {
  buildBootstrapChannel(recipesDir: string, into: string, repo: string): Promise<string[]>;
}

let bootstrapChannel: Promise<string> | undefined;

/**
 * The stand-in bootstrap channel (python, cuda-version), built once per test
 * file by the real engine, the same way `npm run demo` builds it.
 */
export function sharedBootstrap(scratch: string): Promise<string> {
  bootstrapChannel ??= (async () => {
    const module = (await import(join(repoRoot, 'examples/demo/bootstrap.mjs'))) as BootstrapModule;
    const into = join(scratch, 'bootstrap-channel');
    await module.buildBootstrapChannel(join(repoRoot, 'examples/demo/bootstrap'), into, repoRoot);
    return into;
  })();
  return bootstrapChannel;
}

/** A copy of examples/demo whose builds resolve from the given bootstrap channel. */
export function demoWorkspace(bootstrap: string): TempWorkspace {
  const ws = new TempWorkspace();
  for (const entry of ['pkgs', 'variants.yaml', 'nx.json']) cpSync(join(repoRoot, 'examples/demo', entry), join(ws.root, entry), { recursive: true });
  cpSync(bootstrap, join(ws.root, '.bootstrap'), { recursive: true });
  return ws;
}

/** variant task (`project:id`) -> build time from its manifest, for tasks that were built (not found on a channel). */
export function manifests(ws: TempWorkspace): Map<string, { builtAt: string; key: string; files: unknown[] }> {
  const result = new Map<string, { builtAt: string; key: string; files: unknown[] }>();
  const out = join(ws.root, 'output');
  if (!existsSync(out)) return result;
  for (const project of readdirSync(out).filter((p) => !p.startsWith('.'))) {
    for (const id of readdirSync(join(out, project))) {
      const file = join(out, project, id, 'manifest.json');
      if (existsSync(file)) result.set(`${project}:${id}`, JSON.parse(readFileSync(file, 'utf8')) as { builtAt: string; key: string; files: unknown[] });
    }
  }
  return result;
}

/** Tasks whose manifest changed between two snapshots: what the engine built in between. */
export function rebuilt(before: ReturnType<typeof manifests>, after: ReturnType<typeof manifests>): string[] {
  return [...after].filter(([task, m]) => before.get(task)?.builtAt !== m.builtAt).map(([task]) => task).sort();
}
