import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Nx's own default for `--parallel`. */
const NX_DEFAULT_PARALLEL = 3;

/**
 * `--parallel` as Nx reads it (nx's readParallelFromArgsAndEnv): `false` is 1;
 * bare or `true` is `--max-parallel`, else NX_PARALLEL, else 3; a number or a
 * share of the cores (`50%`) is itself; without the flag, NX_PARALLEL, else
 * nx.json's `parallel`, else 3.
 */
export function parallelOf(argv: readonly string[], nxJsonParallel: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const flag = (name: string): string | undefined => {
    for (const [i, arg] of argv.entries()) {
      const match = new RegExp(`^--${name}(?:=(.*))?$`).exec(arg);
      // A string option to Nx's yargs: a bare flag takes the next word unless it is another flag (`--parallel false`).
      if (match) return match[1] ?? (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-') ? argv[i + 1] : '');
    }
    return undefined;
  };
  const value = flag('parallel');
  if (value === 'false') return 1;
  if (value === 'true' || value === '') return concurrency(flag('max-parallel') ?? flag('maxParallel') ?? env.NX_PARALLEL ?? '3');
  if (value !== undefined) return concurrency(value);
  return env.NX_PARALLEL ? concurrency(env.NX_PARALLEL) : (nxJsonParallel ?? NX_DEFAULT_PARALLEL);
}

/** A count, or a share of the machine's cores (`50%`), at least 1: nx's `concurrency`. */
function concurrency(value: string): number {
  const n = Number.parseInt(value, 10);
  const count = value.endsWith('%') ? (availableParallelism() * n) / 100 : n;
  return Number.isFinite(count) ? Math.max(1, Math.floor(count)) : NX_DEFAULT_PARALLEL;
}

/**
 * How many variant builds a batch runs at once: the `--parallel` of the Nx
 * command that runs it. Nx does not hand a batch executor its `--parallel`,
 * but it names the nx process that forked it (the last pid of
 * NX_INVOCATION_ANCESTOR_PIDS), whose command line the OS shows in
 * /proc/<pid>/cmdline. Where there is no /proc (macOS), NX_PARALLEL and
 * nx.json's `parallel` still apply. (A plugin preTasksExecution hook could
 * pass the flag on, but under the daemon it costs every command a plugin
 * worker start.)
 */
export function batchParallel(nxJsonParallel: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  return parallelOf(invokingNxArgv(env) ?? [], nxJsonParallel, env);
}

/** The command line of the nx process that runs this task, if the OS shows it. */
export function invokingNxArgv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const pid = (env.NX_INVOCATION_ANCESTOR_PIDS ?? '').split(',').pop();
  if (!pid || !/^\d+$/.test(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}
