#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { errorLine, fromSystemError, isForgeError } from '../errors.js';
import { addHelpTexts } from './help.js';

type Register = (program: Command) => void;
// Loaded on demand: `forge toolchain --id` is the Nx runtime input of every wheel task, so
// each `nx run` pays this process's start, and the graph, solver and publish modules it
// does not use cost it about 0.2 s. In help order.
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  variants: async () => (await import('./commands/variants.js')).registerVariants,
  levels: async () => (await import('./commands/levels.js')).registerLevels,
  lint: async () => (await import('./commands/lint.js')).registerLint,
  plan: async () => (await import('./commands/plan.js')).registerPlan,
  explain: async () => (await import('./commands/explain.js')).registerExplain,
  publish: async () => (await import('./commands/publish.js')).registerPublish,
  matrix: async () => (await import('./commands/matrix.js')).registerMatrix,
  solve: async () => (await import('./commands/solve.js')).registerSolve,
  toolchain: async () => (await import('./commands/toolchain.js')).registerToolchain,
  fetch: async () => (await import('./commands/fetch.js')).registerFetch,
};

// `forge plan | head`: a reader that stops early is not an error (as for any Unix filter), not a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('forge')
  .version(version, '-V, --version', 'print the version of wv-forge')
  .description('wv-forge: build CUDA conda packages and CUDA wheels for every Python x CUDA (x torch) variant, in dependency order')
  .exitOverride();
// The named command alone; every command for the program's help, a typo's suggestion or no command.
const named = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const wanted = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
for (const register of await Promise.all(wanted.map((name) => COMMANDS[name]!()))) register(program);
addHelpTexts(program);
// A usage error (unknown option, command or argument count) is one line like any
// other error, pointing at the help that lists what is accepted.
for (const command of [program, ...program.commands]) {
  const help = command === program ? 'forge --help' : `forge ${command.name()} --help`;
  command.configureOutput({ outputError: (message, write) => write(`forge: ${message.trim().replace(/\s*\n\s*/g, ' ')} (see ${help})\n`) });
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // exitCode rather than exit(): a pipe to stderr may still hold the message (non-Linux).
  const known = isForgeError(error) ? error : fromSystemError(error);
  // A usage error (unknown option or command, missing argument) is 2, as argparse and clap make it; help and --version keep 0.
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 || error.code === 'commander.help' ? error.exitCode : 2;
  // Input problems are one line naming the file; anything else is a bug and keeps its stack.
  else if (known) {
    process.stderr.write(errorLine('forge', known));
    process.exitCode = 2;
  } else throw error;
}
