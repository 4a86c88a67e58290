import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { forgeBin, nxBin, repoRoot } from './paths.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A throwaway workspace with the repo's node_modules, for running Nx and forge as a user would. */
export class TempWorkspace {
  readonly root: string;

  constructor(files: Record<string, string> = {}, options: { copyRecipes?: boolean } = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'forge-ws-'));
    symlinkSync(join(repoRoot, 'node_modules'), join(this.root, 'node_modules'), 'dir');
    cpSync(join(repoRoot, 'nx.json'), join(this.root, 'nx.json'));
    if (options.copyRecipes) {
      cpSync(join(repoRoot, 'pkgs'), join(this.root, 'pkgs'), { recursive: true });
      cpSync(join(repoRoot, 'variants.yaml'), join(this.root, 'variants.yaml'));
    }
    for (const [path, text] of Object.entries(files)) this.write(path, text);
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), text);
  }

  forge(...args: string[]): RunResult {
    return this.run(process.execPath, [forgeBin, ...args]);
  }

  nx(...args: string[]): RunResult {
    return this.run(process.execPath, [nxBin, ...args]);
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.root, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  }

  run(command: string, args: string[]): RunResult {
    const result = spawnSync(command, args, {
      cwd: this.root,
      encoding: 'utf8',
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORCE_COLOR: '0' },
    });
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
