import { readFileSync } from 'node:fs';

/** Nx's own default for `--parallel`. */
const NX_DEFAULT_PARALLEL = 3;

/** `--parallel` as Nx reads it: the flag (`=N`, ` N`, bare, `false`), else NX_PARALLEL, else nx.json, else 3. */
export function parallelOf(argv: readonly string[], nxJsonParallel: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  for (const [i, arg] of argv.entries()) {
    const match = /^--parallel(?:=(.*))?$/.exec(arg);
    if (!match) continue;
    const value = match[1] ?? (/^\d+$/.test(argv[i + 1] ?? '') ? argv[i + 1] : 'true');
    if (value === 'false') return 1;
    if (value === 'true') return nxJsonParallel ?? NX_DEFAULT_PARALLEL;
    return positive(value) ?? nxJsonParallel ?? NX_DEFAULT_PARALLEL;
  }
  return positive(env.NX_PARALLEL) ?? nxJsonParallel ?? NX_DEFAULT_PARALLEL;
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

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}
