import type { Command } from 'commander';

/** Examples shown under each command's `--help`, as users of Nx and rattler-build find them there. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  variants: ['forge variants', 'forge variants cumm spconv', 'forge variants --json | jq ".[].variants[].file"'],
  levels: ['forge levels', 'forge levels --json'],
  lint: ['forge lint', 'forge lint cumm --json'],
  plan: ['forge plan', 'forge plan --json'],
  explain: ['forge explain cumm py3.12-cuda12.6', 'forge explain pointops py3.12-cuda12.8-torch2.8.0 --wheel --json'],
  publish: ['forge publish --dry-run', 'PREFIX_API_KEY=... forge publish spconv --parallel 4'],
  matrix: ['forge matrix', 'forge matrix --json --affected --base origin/main'],
  solve: ['forge solve', 'forge solve cumm spconv --json', 'CONDA_OVERRIDE_CUDA=12.9 forge solve pytorch3d'],
  toolchain: ['forge toolchain', 'forge toolchain --torch --json', 'forge toolchain --id'],
  fetch: ['forge fetch', 'forge fetch pointops --json'],
};

const EXIT_CODES = `
Exit codes: 0 done; 1 a finding (lint findings, an unsolvable variant) or a failed
build (publish); 2 bad input or usage (one line naming the file), or a matrix with
tasks no job can build.
Options live in nx.json (the @wv-forge/forge/plugin entry); see README.md.`;

/** Adds the examples to every command and the exit codes to the program's help. */
export function addHelpTexts(program: Command): void {
  program.addHelpText('after', EXIT_CODES);
  for (const command of program.commands) {
    const examples = EXAMPLES[command.name()];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}`);
  }
}
