import { atExit } from '../at-exit.js';

export interface LoggedRun {
  readonly ok: boolean;
  /** The exit code (127: no such command), or -1 when the process did not start (no such folder) or was ended by a signal. */
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
 * How a tool is started: `/bin/sh` (there on Linux and macOS) starts a
 * watchdog in the group, then becomes the tool (`exec`: same pid, so the
 * tool's exit status and signals are execa's as before). The watchdog waits on fd 3, one end of a pipe whose other end only
 * this process holds, and kills its whole group (`kill -KILL 0`, itself
 * included) when the pipe reports end-of-file: this process closed it, or
 * ended in any way, SIGKILL included (the kernel closes its files). It holds
 * nothing else: its stdin, stdout and stderr are /dev/null, or a process that
 * outlives the tool would keep the log streams open; the tool gets no fd 3.
 * `read` and `kill` are shell builtins, so the watchdog is one idle shell. The
 * same tie as a docker build container's (docker.ts: startTiedContainer).
 */
const TIED_TO_THIS_PROCESS = '(read -r _ <&3; kill -KILL 0) </dev/null >/dev/null 2>&1 & exec "$@" 3<&-';

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
 *
 * A process killed outright (SIGKILL, as Nx may end a task) runs no hook, and a
 * build step that prints nothing for minutes (nvcc on a big kernel) is not
 * stopped by its broken log pipe either: it would go on writing into a work
 * folder that the next run's sweep hands to another build. So the group also
 * carries a watchdog tied to this process (TIED_TO_THIS_PROCESS), which kills
 * it when this process is gone, however it ended.
 *
 * When the tool exits, this process closes its end at once, so the watchdog
 * kills what is left of the group: a background process the build started and
 * did not wait for, which would otherwise write into a work folder that is no
 * longer the build's (and, holding the log pipe, keep this run from ending).
 * A daemon that leaves the group on its own (setsid: sccache's server, which
 * later builds share) is not touched.
 */
export async function runLogged(command: string, args: readonly string[], options: LoggedOptions, write: (line: string) => void): Promise<LoggedRun> {
  // Loaded here, not with the module: every task process imports this module, most never start a build.
  const { execa } = await import('execa');
  const child = execa('/bin/sh', ['-c', TIED_TO_THIS_PROCESS, 'wv-forge', command, ...args], {
    all: true,
    buffer: false,
    reject: false,
    // fd 3: the watchdog's pipe; it never carries data, only its end matters.
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    extendEnv: false,
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  child.once('exit', () => child.stdio[3]?.destroy());
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
    // The shell did not start (no such folder to run in): a command it cannot find is its own line and exit 127.
    if (result.failed && result.exitCode === undefined && !result.signal) emit(`cannot start \`${command}\`${options.cwd ? ` in ${options.cwd}` : ''}: ${result.code ?? result.shortMessage}`);
    return { ok: !result.failed, exitCode: result.exitCode ?? -1, ...(result.signal ? { signal: result.signal } : {}), tail };
  } finally {
    forget();
  }
}
