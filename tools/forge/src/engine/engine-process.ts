import { atExit } from '../at-exit.js';
import type { Engine } from './engine.js';

export interface EngineRun {
  readonly ok: boolean;
  /** The exit code, or -1 when the engine did not start or was ended by a signal. */
  readonly exitCode: number;
  /** The signal that ended the engine, if one did. */
  readonly signal?: string;
  /** The last lines the engine printed, for a failure message. */
  readonly tail: readonly string[];
}

const TAIL = 40;

/**
 * Runs the engine once, handing every line it prints (stdout and stderr, in
 * order) to `onLine`, and keeping the last ones.
 *
 * The engine gets its own process group, because a build is a tree: the
 * engine, the build script it starts, the compilers that script starts. If
 * this process ends while the engine runs (SIGINT, SIGTERM, an exit), the
 * whole group is killed at once, so nothing goes on writing into a folder
 * that is being removed. It is killed outright (SIGKILL), since its work is
 * being thrown away and this process has no time to wait. execa's own `cleanup` only reaches the direct child, and not at all in a
 * group of its own, hence the hook here.
 */
export async function runEngine(engine: Engine, args: readonly string[], onLine: (line: string) => void): Promise<EngineRun> {
  // Loaded here, not with the module: every task process imports this module, most never start an engine (cached, on a channel).
  const { execa } = await import('execa');
  const child = execa(engine.command, [...engine.prefix, ...args], {
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    detached: true,
    env: { NO_COLOR: '1' },
  });
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  const forget = atExit(killGroup);
  const tail: string[] = [];
  const emit = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
    onLine(line);
  };
  try {
    for await (const line of child.iterable({ from: 'all' })) emit(line);
    const result = await child;
    if (result.failed && result.exitCode === undefined && !result.signal) emit(`cannot start the engine: ${(result.shortMessage ?? '').split('\n')[0]}`);
    return { ok: !result.failed, exitCode: result.exitCode ?? -1, ...(result.signal ? { signal: result.signal } : {}), tail };
  } finally {
    forget();
  }
}
