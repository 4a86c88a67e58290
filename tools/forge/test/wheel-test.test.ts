import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalEnvironment } from '../src/engine/build-environment.js';
import { WheelTest } from '../src/engine/wheel-test.js';
import { enginePython } from './support/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-wheel-test-'));
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

/** A pure wheel of one module with the given source, written by the stdlib's zipfile (what a wheel is). */
function wheelOf(name: string, source: string): string {
  const file = join(scratch, `${name}-0.1-py3-none-any.whl`);
  const script = `import sys, zipfile
name, source, file = sys.argv[1:]
info = f"{name}-0.1.dist-info"
files = {f"{name}.py": source, f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 0.1\\n", f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
files[f"{info}/RECORD"] = "".join(f"{path},,\\n" for path in [*files, f"{info}/RECORD"])
with zipfile.ZipFile(file, "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
`;
  execFileSync(enginePython(), ['-c', script, name, source, file]);
  return file;
}

function environment(work: string): LocalEnvironment {
  mkdirSync(work, { recursive: true });
  return new LocalEnvironment('host', { root: scratch, label: 'demo', work, source: work, output: work, requirements: [], missing: [], upstreamWheels: [], index: '', python, frontend: '', configSettings: [], command: undefined, env: {} });
}

describe('a wheel\'s test, started before its wheel', { timeout: 60_000 }, () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('imports the installed module once the wheel is there, then runs the commands against it', async () => {
    const work = join(scratch, 'ok');
    const lines: string[] = [];
    // The preloads: one the interpreter has, one it has not (left to the module under test to need).
    const test = new WheelTest(environment(work), work, { imports: ['forge_demo_ok'], commands: ['python -c "import forge_demo_ok; print(\'value\', forge_demo_ok.VALUE)"'], preload: ['json', 'no_such_module'] }, 'demo', (line) => lines.push(line));
    const result = await test.run([wheelOf('forge_demo_ok', 'VALUE = 41 + 1\n')]);
    expect(result.ok, lines.join('\n')).toBe(true);
    expect(lines).toContain('[demo test] import forge_demo_ok: ok');
    expect(lines).toContain('[demo test] value 42');
    // Installed into the test's own folder, not found anywhere else.
    expect(existsSync(join(work, 'test/forge_demo_ok.py'))).toBe(true);
  });

  it('fails with the import\'s traceback, and runs no command after a failed import', async () => {
    const work = join(scratch, 'bad');
    const lines: string[] = [];
    const test = new WheelTest(environment(work), work, { imports: ['forge_demo_bad'], commands: ['echo should-not-run'], preload: [] }, 'demo', (line) => lines.push(line));
    const result = await test.run([wheelOf('forge_demo_bad', 'raise RuntimeError("broken at import")\n')]);
    expect(result.ok).toBe(false);
    expect(result.tail.at(-1)).toBe('RuntimeError: broken at import');
    expect(lines.join('\n')).not.toContain('should-not-run');
  });

  it('ends its waiting interpreter when the wheel never comes', async () => {
    const work = join(scratch, 'cancelled');
    const lines: string[] = [];
    const test = new WheelTest(environment(work), work, { imports: ['forge_demo_never'], commands: [], preload: ['json'] }, 'demo', (line) => lines.push(line));
    // Resolves once the interpreter has exited (a hang is the test's timeout): nothing is left polling for the go file.
    await test.cancel();
    expect(lines.join('\n')).not.toContain('forge_demo_never');
    // A second cancel (a finally after a failure) is a no-op.
    await test.cancel();
  });
});
