import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../src/cli/help.js';
import { forgeBin, repoRoot } from './support/paths.js';

function forge(...args: string[]) {
  const result = spawnSync(process.execPath, [forgeBin, ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The commands `forge --help` lists, less commander's own `help`. */
function commands(): string[] {
  const help = forge('--help').stdout;
  const block = help.split('Commands:\n')[1]!.split('\n\n')[0]!;
  return block
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0]!)
    .filter((name) => name && name !== 'help');
}

describe('forge --help, as a user reads it', () => {
  it('every command has examples, and every option an example uses is one its --help lists', () => {
    const listed = commands();
    expect(listed.length).toBeGreaterThan(5);
    expect(Object.keys(EXAMPLES).sort()).toEqual([...listed].sort());
    for (const name of listed) {
      const help = forge(name, '--help');
      expect(help.code, name).toBe(0);
      const options = help.stdout.split('Options:\n')[1]!.split('Examples:\n')[0]!;
      const examples = help.stdout.split('Examples:\n')[1]!;
      for (const example of EXAMPLES[name]!) {
        expect(examples, name).toContain(`$ ${example}`);
        expect(example, name).toContain(`forge ${name}`);
        for (const flag of example.split('|')[0]!.match(/(?<=\s)--[a-z-]+/g) ?? []) expect(options, `${name}: ${flag}`).toMatch(new RegExp(`(^|[ ,])${flag}\\b`, 'm'));
      }
    }
  });

  it('--version prints the package version; a usage error is exit 2 and one line pointing at --help', () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'tools/forge/package.json'), 'utf8')) as { version: string };
    const shown = forge('--version');
    expect(shown.code).toBe(0);
    expect(shown.stdout.trim()).toBe(version);
    const bad = forge('plan', '--bogus');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("forge: error: unknown option '--bogus' (see forge plan --help)\n");
    const missing = forge('explain', 'cumm');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("forge: error: missing required argument 'variant' (see forge explain --help)\n");
    expect(forge('--help').stdout).toMatch(/Exit codes: 0 done; 1 a finding/);
    // The Nx runtime input of wheel tasks: a misspelt environment must not hash as if it were the host's.
    const environment = forge('toolchain', '--id', '--environment', 'dokcer');
    expect(environment.code).toBe(2);
    expect(environment.stderr).toBe("forge: error: option '--environment <kind>' argument 'dokcer' is invalid. Allowed choices are host, venv, docker. (see forge toolchain --help)\n");
    // A command name the CLI loads alone (see cli/main.ts) or a typo of one, which needs every command to suggest from.
    expect(forge('plna').stderr).toBe("forge: error: unknown command 'plna' (Did you mean plan?) (see forge --help)\n");
  });
});

describe('forge-cache-server on the command line', () => {
  // The defaults as shipped, whatever this shell sets.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FORGE_CACHE_')));
  const server = (...args: string[]) => {
    const result = spawnSync(process.execPath, [join(repoRoot, 'tools/forge/dist/cache-server/main.js'), ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...env, FORGE_CACHE_RW_TOKENS: 't' } });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('--help shows the defaults; an unknown option or a missing value is one line and exit 2, not a stack trace', () => {
    const help = server('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Defaults: --dir .nx-remote-cache --host 127.0.0.1 --port 3900');
    for (const args of [['--bogus'], ['--port']]) {
      const bad = server(...args);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(/^forge-cache-server: error: .*\(see --help\)\n$/);
    }
  });
});
