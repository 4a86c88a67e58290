/**
 * ninja's status, `[done/total]` at the start of each line it prints, read from
 * a build's log as it streams: torch's cpp_extension, CMake, meson and
 * scikit-build-core all compile through ninja, and rattler-build prints its
 * script's lines behind a box-drawing margin (`│ │ `). The compile is where a
 * CUDA build's minutes go, and its raw lines are whole compiler command lines,
 * so a short line with the count says it is moving.
 */
const NINJA_STATUS = /^(?:\[[^\]\s]+\] )?[\s│╭╰─|]*\[(\d+)\/(\d+)\] /;

export interface ProgressOptions {
  /** Least time between two reports, in ms (the last step is always reported). */
  readonly everyMs?: number;
  readonly now?: () => number;
}

/**
 * A line observer that reports `<label>: compiling <done>/<total> (<pct>%)`
 * through `report`, at most once per `everyMs` and always for the last step.
 * A build that runs ninja more than once (one run per extension) counts each
 * run on its own, as ninja does.
 */
export function compileProgress(label: string, report: (line: string) => void, options: ProgressOptions = {}): (line: string) => void {
  const everyMs = options.everyMs ?? 10_000;
  const now = options.now ?? Date.now;
  let last = Number.NEGATIVE_INFINITY;
  return (line) => {
    const status = NINJA_STATUS.exec(line);
    if (!status) return;
    const done = Number(status[1]);
    const total = Number(status[2]);
    if (total === 0 || done > total) return;
    const at = now();
    if (done !== total && at - last < everyMs) return;
    last = at;
    report(`${label}: compiling ${done}/${total} (${Math.floor((100 * done) / total)}%)`);
  };
}

/** `log` with the progress reports of its ninja lines written to `report` as well (default: into `log`). */
export function withCompileProgress(label: string, log: (line: string) => void, report: (line: string) => void = log, options?: ProgressOptions): (line: string) => void {
  const observe = compileProgress(label, report, options);
  return (line) => {
    log(line);
    observe(line);
  };
}
