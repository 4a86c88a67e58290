/**
 * How many variant builds a batch runs at once. Nx does not tell a batch
 * executor the run's `--parallel`, so the plugin's preTasksExecution hook
 * reads it from the command line and passes it on in this variable.
 */
export const PARALLEL_ENV = 'FORGE_PARALLEL';

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

/** What a batch uses: the hook's value, else nx.json's, else Nx's default. */
export function batchParallel(nxJsonParallel: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  return positive(env[PARALLEL_ENV]) ?? nxJsonParallel ?? NX_DEFAULT_PARALLEL;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}
