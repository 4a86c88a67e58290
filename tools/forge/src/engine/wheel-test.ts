import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildEnvironment } from './build-environment.js';
import type { LoggedRun } from './logged-process.js';

/**
 * The test's interpreter: imports `preload` first (a failure there is left to
 * the module under test to raise, with its own traceback), waits for the go
 * file, then imports the modules under test from the folder on PYTHONPATH,
 * which held nothing until then (hence the finders' caches are dropped). A
 * cancelled test exits with 3, so it can never pass for one that ran. On the
 * host it also ends when forge is gone (runLogged's watchdog does too; in a
 * container the parent is docker's and the container goes with the build).
 */
const RUNNER = `import importlib, os, sys, time
go, preload, modules = sys.argv[1], [m for m in sys.argv[2].split(",") if m], sys.argv[3:]
parent = os.getppid()
for module in preload:
    try:
        importlib.import_module(module)
    except Exception:
        pass
while not os.path.exists(go):
    if os.getppid() != parent:
        sys.exit(1)
    time.sleep(0.02)
with open(go) as f:
    if f.read() != "go":
        sys.exit(3)
importlib.invalidate_caches()
for module in modules:
    importlib.import_module(module)
    print(f"import {module}: ok", flush=True)
`;

export interface WheelTestSpec {
  /** Modules the test imports, in one interpreter. */
  readonly imports: readonly string[];
  /** Shell commands run after the imports, each in its own process. */
  readonly commands: readonly string[];
  /** Modules to import before the wheel is there (torch, for a torch variant): what the imports would wait on. */
  readonly preload: readonly string[];
}

/**
 * A wheel's test, against the wheels installed into a fresh folder with
 * nothing of the build environment but its interpreter. Started before the
 * wheel exists, so that the import of what the test would spend its time on
 * (torch takes seconds, most of a torch extension's test) happens while the
 * build, repair and label run; `run` installs the wheels and lets the
 * interpreter import the modules under test, then runs the commands. Every
 * started test is ended: by `run`, or by `cancel` where the wheel never came
 * (which waits for the preload's import to finish: the interpreter reads the
 * go file only after it).
 */
export class WheelTest {
  private readonly target: string;
  private readonly go: string;
  private readonly options: { readonly cwd: string; readonly env: Readonly<Record<string, string>>; readonly label: string };
  private readonly imports: Promise<LoggedRun> | undefined;
  private ended = false;

  constructor(
    private readonly environment: BuildEnvironment,
    work: string,
    private readonly spec: WheelTestSpec,
    private readonly label: string,
    private readonly log: (line: string) => void,
  ) {
    this.target = join(work, 'test');
    this.go = join(work, 'test-go');
    const bin = join(work, 'test-bin');
    // Not the source folder: an import must find the installed wheel, not the tree it was built from.
    const cwd = join(work, 'test-cwd');
    for (const dir of [this.target, bin, cwd]) mkdirSync(dir, { recursive: true });
    symlinkSync(environment.python, join(bin, 'python'));
    this.options = { cwd, env: { PYTHONPATH: this.target, PATH: bin, PYTHON: environment.python }, label: `${label} test` };
    // Awaited only once the wheel is there: a rejection until then would be an unhandled one, ending the process.
    this.imports = spec.imports.length
      ? environment.run(environment.python, ['-c', RUNNER, this.go, spec.preload.join(','), ...spec.imports], this.options, log).catch((error: Error): LoggedRun => ({ ok: false, exitCode: -1, tail: [`cannot start the test's interpreter: ${error.message}`] }))
      : undefined;
  }

  /** Installs the wheels, then imports the modules and runs the commands; the first failure ends it. */
  async run(wheels: readonly string[]): Promise<LoggedRun> {
    try {
      await this.environment.installForTest(this.target, wheels);
    } catch (error) {
      await this.cancel();
      throw error;
    }
    this.log(`${this.label}: testing the installed wheel`);
    this.ended = true;
    this.signal('go');
    const imported = await this.imports;
    if (imported && !imported.ok) return imported;
    for (const command of this.spec.commands) {
      const result = await this.environment.run('sh', ['-c', command], this.options, this.log);
      if (!result.ok) return result;
    }
    return { ok: true, exitCode: 0, tail: [] };
  }

  /** Ends a test whose wheel will not come (a failed build); waits for its interpreter to go. */
  async cancel(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.signal('cancel');
    await this.imports;
  }

  /** Whole or not at all: a rename, so the interpreter never reads a half-written word. */
  private signal(word: 'go' | 'cancel'): void {
    writeFileSync(`${this.go}.tmp`, word);
    renameSync(`${this.go}.tmp`, this.go);
  }
}
