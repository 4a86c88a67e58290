import { atExit } from '../at-exit.js';

export interface LoggedRun {
  readonly ok: boolean;
  /** The exit code, or -1 when the process did not start or was ended by a signal. */
  readonly exitCode: number;
  /** The signal that ended the process, if one did. */
  readonly signal?: string;
  /** The last lines the process printed, for a failure message. */
  readonly tail: readonly string[];
}

export interface LoggedOptions {
  /** Prefix for every streamed line, e.g. `spconv:py3.12-cuda12.6`. */
  readonly label: string;
  readonly cwd?: string;
  /** The whole environment (as `spawn` takes it); default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
  readonly tailLines?: number;
}

/**
 * Runs a build tool (the engine, a wheel frontend, docker) once, writing every
 * line it prints (stdout and stderr) with the task's label in front, and
 * keeping the last lines for a failure message. execa does the streaming,
 * exit and spawn-error handling.
 *
 * The tool gets its own process group, because a build is a tree: the tool,
 * the build script it starts, the compilers that script starts. If this
 * process ends while the tool runs (SIGINT, SIGTERM, an exit), the whole group
 * is killed at once, before the build's staging folder is removed (see
 * at-exit.ts), so nothing goes on writing into it. It is killed outright
 * (SIGKILL), since its work is being thrown away and this process has no time
 * to wait. execa's own `cleanup` only reaches the direct child, and not at all
 * in a group of its own, hence the hook here.
 */
export async function runLogged(command: string, args: readonly string[], options: LoggedOptions, write: (line: string) => void): Promise<LoggedRun> {
  // Loaded here, not with the module: every task process imports this module, most never start a build.
  const { execa } = await import('execa');
  const child = execa(command, args, {
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    detached: true,
    extendEnv: false,
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const forget = atExit(() => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  });
  const tail: string[] = [];
  const keep = options.tailLines ?? 40;
  const emit = (line: string) => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    write(`[${options.label}] ${line}`);
  };
  try {
    for await (const line of child.iterable({ from: 'all' })) emit(line);
    const result = await child;
    if (result.failed && result.exitCode === undefined && !result.signal) emit(`cannot start \`${command}\`: ${(result.shortMessage ?? '').split('\n')[0]}`);
    return { ok: !result.failed, exitCode: result.exitCode ?? -1, ...(result.signal ? { signal: result.signal } : {}), tail };
  } finally {
    forget();
  }
}
