import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStart } from '../src/process-owner.js';
import { demoWorkspace, manifests, rebuilt, sharedBootstrap } from './support/demo.js';
import { filesUnder, localPipIndex, wheelManifest, wheelWorkspace } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-interrupt-test-'));
let bootstrap: string;
beforeAll(async () => {
  bootstrap = await sharedBootstrap(scratch);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Two variants of each CUDA package and demo-core: enough for a run with finished, running and waiting tasks. */
const TARGETS = ['-t', 'build-py3.12-cuda12.6', 'build-py3.12-cuda12.8', '--parallel=2', '--output-style=stream'];
const HELD = 'demo-ext:py3.12-cuda12.8';
/** The Python a wheel build on the host gets: this machine's python3. */
const hostPython = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();

/**
 * demo-ext's CUDA 12.8 build script waits while the file `hold` exists in the
 * workspace, after writing its shell's pid next to it and a `holding` file into
 * its work folder (inside the staging folder), so a test can tell when the
 * engine is mid-build without guessing a delay. `wait` is how it waits (given
 * the workspace's root): by default until `hold` is removed.
 */
function holdingWorkspace(wait = (root: string) => `while [ -f ${root}/hold ]; do sleep 0.2; done`): TempWorkspace {
  const ws = demoWorkspace(bootstrap);
  ws.edit('pkgs/demo-ext/recipe/recipe.yaml', (t) =>
    t.replace(
      '    - mkdir -p $PREFIX/share/demo-ext',
      // A function, so `$$` (the shell's pid) is not read as a replacement pattern.
      () => `    - if [ "\${{ cuda_version }}" = "12.8" ] && [ -f ${ws.root}/hold ]; then echo $$ > ${ws.root}/held-pid; touch holding; ${wait(ws.root)}; fi\n    - mkdir -p $PREFIX/share/demo-ext`,
    ),
  );
  writeFileSync(join(ws.root, 'hold'), '');
  return ws;
}

function find(dir: string, name: string): string | undefined {
  try {
    return readdirSync(dir, { withFileTypes: true, recursive: true }).find((entry) => entry.name === name)?.parentPath;
  } catch {
    // not there yet, or a folder vanished while it was read (a build finishing)
    return undefined;
  }
}

async function until<T>(what: string, probe: () => T | undefined, seconds = 120): Promise<T> {
  for (let i = 0; i < seconds * 10; i++) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe('nx run-many interrupted with SIGINT mid-build', () => {
  // Ctrl-C in a terminal signals every process of the foreground group at once; `kill -INT` reaches Nx alone, which stops its tasks.
  it.each([
    ['Ctrl-C (SIGINT to the whole process group)', (pid: number) => process.kill(-pid, 'SIGINT')],
    ['SIGINT to the nx process', (pid: number) => process.kill(pid, 'SIGINT')],
  ])('%s leaves no staging folder, no lock and no engine process, and the next run builds only what did not finish', async (_how, interrupt) => {
    const ws = holdingWorkspace();
    try {
      const run = ws.nxStart('run-many', ...TARGETS);
      const staging = join(ws.root, 'output/.staging');
      const holding = await until('the held build to start', () => find(staging, 'holding'));
      // The engine builds in a work slot beside its task's staging folder (outputs.ts: workDir).
      expect(holding).toMatch(/\/\.staging\/work-\d+\/bld\/rattler-build_demo-ext\//);
      expect(entries(staging)).toContain('demo-ext-py3.12-cuda12.8');
      const engineShell = Number(readFileSync(join(ws.root, 'held-pid'), 'utf8'));
      expect(alive(engineShell)).toBe(true);

      interrupt(run.child.pid!);
      const result = await run.done;
      expect(result.code, result.stdout + result.stderr).not.toBe(0);
      expect(entries(staging)).toEqual([]);
      expect(entries(join(ws.root, 'output/.locks'))).toEqual([]);
      // Nx's own clean-up signals the tree; the engine may need a moment to be reaped.
      await until('the held build script to end', () => !alive(engineShell), 10);

      const before = manifests(ws);
      expect(before.has(HELD)).toBe(false);
      // What it builds against had finished before the interrupt.
      expect(before.has('demo-core:noarch') && before.has('demo-cuda:py3.12-cuda12.8')).toBe(true);
      rmSync(join(ws.root, 'hold'));
      const again = await ws.nxAsync('run-many', ...TARGETS);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const after = manifests(ws);
      expect(after.size).toBe(5);
      expect(rebuilt(before, after)).toEqual([...after.keys()].filter((task) => !before.has(task)).sort());
    } finally {
      rmSync(join(ws.root, 'hold'), { force: true });
      ws.dispose();
    }
  });
});

/** How a test kills a running build outright: given Nx's pid and its task process's. */
type KillOutright = (nx: number, task: number) => void;

const KILLS: Array<[string, KillOutright]> = [
  ['SIGKILL to the task process alone, as Nx may end a task', (_nx, task) => process.kill(task, 'SIGKILL')],
  ["SIGKILL to Nx's whole process group (Nx and its task processes)", (nx) => process.kill(-nx, 'SIGKILL')],
];

/** A `sleep` argument no other process has: 600 seconds and a bit, the bit this test's own. */
const sleepMarker = () => `600.${process.pid}${Date.now() % 1_000_000}`;

/**
 * Starts Nx with `args`, waits until a build holds (a `holding` file under
 * `staging`) in a silent step (a process with `marker` in its command line),
 * kills it as `kill` says, and checks that no process of the build is left.
 * No exit hook runs on SIGKILL, so nothing in forge can kill the build's
 * process group then: the group must end by itself.
 */
async function killMidBuild(ws: TempWorkspace, args: readonly string[], staging: string, marker: string, kill: KillOutright): Promise<void> {
  const run = ws.nxStart(...args);
  await until('the held build to start', () => find(staging, 'holding'));
  const step = await until('the silent step to run', () => buildProcesses(ws.root, marker).find((p) => p.includes(marker)));
  // The build runs in a process group of its own; the first process above it outside that group is the task process.
  const group = processGroup(Number(step.split(' ')[0]));
  let task = Number(step.split(' ')[0]);
  while (processGroup(task) === group) task = parentPid(task);

  kill(run.child.pid!, task);
  await run.done;
  await until('the task process to end', () => !alive(task), 60);
  // Bounded only so a failure is reported: the build's processes end within moments once its task process is gone.
  const left = () => buildProcesses(ws.root, marker);
  for (let i = 0; i < 600 && left().length; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(left()).toEqual([]);
}

/** Ends what a failed test left of its builds, so they do not sleep on on a shared machine. */
function endLeftovers(ws: TempWorkspace, marker: string): void {
  for (const left of buildProcesses(ws.root, marker)) {
    try {
      process.kill(Number(left.split(' ')[0]), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

describe('a task process killed outright (SIGKILL) mid-build', () => {
  // A build step that prints nothing for minutes (nvcc on a big kernel): a broken log pipe does not stop it.
  it.each(KILLS)('%s leaves no process of a silent conda build running, and the next run builds it again with nothing of the killed build writing beside it', async (_how, kill) => {
    const marker = sleepMarker();
    const ws = holdingWorkspace(() => `sleep ${marker}`);
    try {
      const staging = join(ws.root, 'output/.staging');
      await killMidBuild(ws, ['run-many', ...TARGETS], staging, marker, kill);

      rmSync(join(ws.root, 'hold'));
      const again = await ws.nxAsync('run-many', ...TARGETS);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const after = manifests(ws);
      expect(after.size).toBe(5);
      expect(after.has(HELD)).toBe(true);
      expect(entries(staging)).toEqual([]);
      expect(buildProcesses(ws.root, marker)).toEqual([]);
    } finally {
      rmSync(join(ws.root, 'hold'), { force: true });
      endLeftovers(ws, marker);
      ws.dispose();
    }
  });

  it('leaves no process of a silent wheel build on the host running, and the next run builds the wheel', async () => {
    const marker = sleepMarker();
    const ws = wheelWorkspace(localPipIndex(scratch));
    try {
      ws.write('variants.yaml', `python:\n  - "${hostPython}"\n`);
      const yaml = 'pkgs/demo-wheel/wheel/wheel.yaml';
      const original = readFileSync(join(ws.root, yaml), 'utf8');
      ws.edit(yaml, (t) => t.replace('build:\n', `build:\n  command: touch "$WHEEL_DIR/../holding" && sleep ${marker}\n`));
      const task = `demo-wheel:wheel-py${hostPython}`;
      const staging = join(ws.root, 'wheelhouse/.staging');
      await killMidBuild(ws, ['run', task, '--output-style=stream'], staging, marker, KILLS[0]![1]);

      ws.write(yaml, original);
      const again = await ws.nxAsync('run', task, '--output-style=stream');
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(wheelManifest(ws, 'demo-wheel', `py${hostPython}`)?.files.length).toBeGreaterThan(0);
      expect(filesUnder(staging)).toEqual([]);
      expect(buildProcesses(ws.root, marker)).toEqual([]);
    } finally {
      endLeftovers(ws, marker);
      ws.dispose();
    }
  });
});

describe('the sweep at the start of a build', () => {
  it('removes the staging folder and lock of a dead or reused pid, and leaves a live one alone', async () => {
    const ws = demoWorkspace(bootstrap);
    try {
      const out = join(ws.root, 'output');
      const dead = await exitedPid();
      const owners = {
        'demo-cuda-py3.13-cuda12.9': { host: hostname(), pid: dead, start: '1' },
        // A live pid whose process started at another time: the pid was reused, the owner is gone.
        'demo-cuda-py3.12-cuda12.9': { host: hostname(), pid: process.pid, start: 'not-its-start' },
        'demo-ext-py3.13-cuda12.6': { host: hostname(), pid: process.pid, start: processStart(process.pid) ?? '' },
      };
      for (const [task, owner] of Object.entries(owners)) {
        mkdirSync(join(out, '.staging', task, `${owner.pid}-0/.engine/bld`), { recursive: true });
        writeFileSync(join(out, '.staging', task, `${owner.pid}-0/.engine/bld/work.o`), 'partial');
        mkdirSync(join(out, '.locks'), { recursive: true });
        writeFileSync(join(out, '.locks', `${task}.lock`), JSON.stringify(owner));
      }

      // A process killed while creating a lock leaves its private draft.
      writeFileSync(join(out, '.locks', `demo-core-noarch.lock.${dead}.0.tmp`), JSON.stringify(owners['demo-cuda-py3.13-cuda12.9']));

      const result = await ws.nxAsync('run', 'demo-core:build-noarch', '--output-style=stream');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(entries(join(out, '.staging')).sort()).toEqual(['demo-ext-py3.13-cuda12.6']);
      expect(entries(join(out, '.locks')).sort()).toEqual(['demo-ext-py3.13-cuda12.6.lock']);
      expect(readFileSync(join(out, `.staging/demo-ext-py3.13-cuda12.6/${process.pid}-0/.engine/bld/work.o`), 'utf8')).toBe('partial');
    } finally {
      ws.dispose();
    }
  });
});

/** The pid of a process that has exited (and been reaped). */
async function exitedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

/** `/proc/<pid>/stat` after the command name: state, parent pid, process group, ... (Linux, where these tests run). */
function stat(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

const parentPid = (pid: number) => Number(stat(pid)[1]);
const processGroup = (pid: number) => Number(stat(pid)[2]);

/**
 * `pid command line` of every live process of a workspace's build: its command
 * line names the workspace or the marker, or it works in the workspace. Zombies
 * (exited, not yet reaped) are not counted: they run nothing.
 */
function buildProcesses(root: string, marker: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (stat(pid)[0] === 'Z') continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (command.includes(root) || command.includes(marker) || cwd === root || cwd.startsWith(`${root}/`)) found.push(`${pid} ${command}`);
    } catch {
      // it ended while being read
    }
  }
  return found;
}
