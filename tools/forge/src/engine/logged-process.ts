import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LoggedRun {
  readonly ok: boolean;
  readonly exitCode: number;
  /** The last lines the process printed, for a failure message. */
  readonly tail: readonly string[];
}

/**
 * Runs a command with its stdout and stderr streamed line by line, each line
 * prefixed with the task's label, keeping the last lines for the failure message.
 */
export function runLogged(
  command: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly label: string; readonly tailLines?: number },
  write: (line: string) => void,
): Promise<LoggedRun> {
  const tail: string[] = [];
  const keep = options.tailLines ?? 40;
  const emit = (line: string) => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    write(`[${options.label}] ${line}`);
  };
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let open = 2;
    let exitCode: number | undefined;
    const finish = () => {
      if (open === 0 && exitCode !== undefined) resolve({ ok: exitCode === 0, exitCode, tail });
    };
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity })
        .on('line', emit)
        .on('close', () => {
          open--;
          finish();
        });
    }
    child.on('error', (error) => {
      emit(`cannot start \`${command}\`: ${error.message}`);
      exitCode = -1;
      open = 0;
      finish();
    });
    child.on('close', (code, signal) => {
      exitCode = code ?? (signal ? 128 : -1);
      finish();
    });
  });
}
