#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { errorLine, fromSystemError, isForgeError } from '../errors.js';
import { registerExplain } from './commands/explain.js';
import { registerFetch } from './commands/fetch.js';
import { registerLevels } from './commands/levels.js';
import { registerLint } from './commands/lint.js';
import { registerMatrix } from './commands/matrix.js';
import { registerPlan } from './commands/plan.js';
import { registerPublish } from './commands/publish.js';
import { registerSolve } from './commands/solve.js';
import { registerToolchain } from './commands/toolchain.js';
import { registerVariants } from './commands/variants.js';
import { addHelpTexts } from './help.js';

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
registerVariants(program);
registerLevels(program);
registerLint(program);
registerPlan(program);
registerExplain(program);
registerPublish(program);
registerMatrix(program);
registerSolve(program);
registerToolchain(program);
registerFetch(program);
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
