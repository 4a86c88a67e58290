import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forgeBin } from './support/paths.js';
import { wheelWorkspace } from './support/wheels.js';

// The CLI on examples/wheels without building: what a new user types first.
const ws = wheelWorkspace('./no-index');
afterAll(() => ws.dispose());

describe('forge commands given a name on a workspace of wheel projects', () => {
  it('list the wheel projects among the known names, and say a recipe command does not cover a wheel project', () => {
    for (const args of [['variants', 'nope'], ['explain', 'nope', 'py3.11']]) {
      const result = ws.forge(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('forge: error: unknown package `nope` (recipes: none; wheel projects: demo-wheel, demo-wheel-app)\n');
    }
    const lint = ws.forge('lint', 'demo-wheel');
    expect(lint.stderr).toBe('forge: error: `demo-wheel` is a wheel project: this command covers recipes (wheels: `nx run demo-wheel:wheel`, `nx run demo-wheel:upload-wheels`)\n');
    expect(ws.forge('variants', 'demo-wheel').stdout).toMatch(/^wheel +demo-wheel 0\.1\.0 +py3\.11 /m);
    // explain --wheel on a name no wheel project has says so, rather than "has no variant … (known: )".
    const explain = ws.forge('explain', 'nope', 'py3.11', '--wheel');
    expect(explain.code).toBe(2);
    expect(explain.stderr).toBe('forge: error: unknown wheel project `nope` (known: demo-wheel, demo-wheel-app)\n');
  });

  it('say why nx cannot tell the affected projects, in one line', () => {
    ws.git('init', '-q', '-b', 'trunk');
    ws.git('add', '-A');
    ws.git('commit', '-qm', 'init');
    const result = ws.forge('matrix', '--affected', '--base', 'main');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("forge: error: nx could not tell the affected projects (base main, --base or NX_BASE to change it): fatal: ambiguous argument 'main': unknown revision or path not in the working tree.\n");
  });

  it('end quietly when the reader of their output has gone (`forge plan | head`)', async () => {
    const child = spawn(process.execPath, [forgeBin, 'plan'], { cwd: ws.root, env: { ...process.env, NX_DAEMON: 'false' } });
    // The reading end closes before forge has started: its first write meets a closed pipe (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('fail the CI matrix on a task blocked by its own input, which no job would build, instead of leaving it out', () => {
    const file = 'pkgs/demo-wheel/wheel/wheel.yaml';
    const good = readFileSync(join(ws.root, file), 'utf8');
    ws.edit(file, (text) => text.replace("${{ python | replace('.', '') }}", '${{ pythn }}'));
    try {
      const result = ws.forge('matrix', '--json');
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({ count: 0 });
      expect(result.stderr.split('\n')).toContain('forge: error: demo-wheel:wheel-py3.11 is blocked: pkgs/demo-wheel/wheel/wheel.yaml:9: undefined variable `pythn` in `${{ pythn }}`');
      // Its dependents are blocked only through it: one cause, one line each for its own variants.
      expect(result.stderr).not.toContain('demo-wheel-app');
    } finally {
      ws.write(file, good);
    }
  });

  it('block a variant whose build requirement is no PEP 508 requirement, naming the line, before its environment reads it', () => {
    // The build assesses its task as the plan does (assessWheelTask), so this is the build's error too. Before:
    // the host's interpreter probe failed on it (`cannot run the Python interpreter …`, plan said `build`), or
    // the upstream version check gave packaging's message alone; neither named wheel.yaml.
    const file = 'pkgs/demo-wheel-app/wheel/wheel.yaml';
    const good = readFileSync(join(ws.root, file), 'utf8');
    try {
      for (const [from, to, line] of [['setuptools>=70.1', 'setuptools>=>70.1', 14], ['- demo-wheel\n', '- demo-wheel>=>1\n', 15]] as const) {
        ws.write(file, good.replace(from, to));
        const plan = ws.forge('plan');
        const bad = to.trim().replace(/^- /, '');
        expect(plan.stdout).toMatch(new RegExp(`^demo-wheel-app:wheel-py3\\.11 +blocked +pkgs/demo-wheel-app/wheel/wheel\\.yaml:${line}: build requirement \`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\` is not a PEP 508 requirement: Expected semicolon`, 'm'));
      }
    } finally {
      ws.write(file, good);
    }
  });

  it('stop a run that would publish wheels with no wheel index set before any wheel is built', () => {
    const good = readFileSync(join(ws.root, 'nx.json'), 'utf8');
    ws.edit('nx.json', (text) => text.replace(/,\s*"wheelIndex": "[^"]*"/, ''));
    try {
      const result = ws.nx('run-many', '-t', 'upload-wheels', '--output-style=stream');
      expect(result.code).not.toBe(0);
      // The wheel tasks themselves refuse, not the upload-wheels task after them.
      expect(result.stdout).toMatch(/demo-wheel:py[\d.]+: error: nx\.json: set `wheelIndex` in the forge plugin options \(a folder\) to publish wheels/);
      expect(result.stdout).not.toContain('upload-wheels error');
      expect(existsSync(join(ws.root, 'wheelhouse'))).toBe(false);
    } finally {
      ws.write('nx.json', good);
    }
  });
});
