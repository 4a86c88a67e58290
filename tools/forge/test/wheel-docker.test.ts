import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage, imageTools } from '../src/engine/docker.js';
import { enginePython, nxBin, repoRoot } from './support/paths.js';
import { filesUnder, wheelManifest } from './support/wheels.js';
import { dockerProblem } from './support/docker.js';
import { TempWorkspace } from './support/workspace.js';

/**
 * The docker wheel environment for real: images made here from the local
 * Debian base images (.ci/base-images.sh, made once per machine), builds in
 * containers, nvcc from PyPI. Needs a Docker daemon; where there is none (not
 * root, no docker.io), the suite is skipped and says why.
 */
const problem = dockerProblem();
if (problem) console.warn(`wheel-docker.test.ts skipped: ${problem}`);

const PYPI = 'https://pypi.org/simple';
const scratch = mkdtempSync(join(tmpdir(), 'forge-docker-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const env = { FORGE_WHEEL_ENVIRONMENT: 'docker' };

/** A copy of an example workspace that installs from PyPI (inside the containers too). */
function exampleWorkspace(example: string, options: Record<string, unknown> = {}): TempWorkspace {
  const ws = new TempWorkspace();
  for (const entry of ['pkgs', 'variants.yaml', 'nx.json']) cpSync(join(repoRoot, 'examples', example, entry), join(ws.root, entry), { recursive: true });
  ws.edit('nx.json', (text) => {
    const nx = JSON.parse(text) as { plugins: Array<{ options: Record<string, unknown> }> };
    Object.assign(nx.plugins[0]!.options, { pipIndex: PYPI, ...options });
    return JSON.stringify(nx, null, 2);
  });
  return ws;
}

/** forge's containers that mount something of this workspace (running or not). */
function containersOf(ws: TempWorkspace): string[] {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', 'label=wv-forge'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return ids.filter((id) => {
    try {
      return execFileSync('docker', ['inspect', '--format', '{{json .HostConfig.Binds}}', id], { encoding: 'utf8' }).includes(ws.root);
    } catch {
      return false; // removed meanwhile
    }
  });
}

const imageIdOf = (toolchain: Record<string, string>) => toolchain.image;

describe.skipIf(problem !== undefined)('the docker wheel environment, for real', { timeout: 900_000 }, () => {
  describe('examples/wheels for Python 3.11 and 3.13, both on forge-base:bookworm', () => {
    let ws: TempWorkspace;
    beforeAll(() => {
      ws = exampleWorkspace('wheels');
      ws.write('variants.yaml', 'python:\n  - "3.11"\n  - "3.13"\n');
    });
    afterAll(() => {
      ws.dispose();
      // The changed base and the forge image made from it are this test's alone.
      const made = spawnSync('docker', ['images', '-q', '--filter', 'label=wv-forge.base=forge-test-base:bookworm-changed'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      spawnSync('docker', ['rmi', '-f', ...made, 'forge-test-base:bookworm-changed']);
    });

    it('builds, repairs, tests, labels and indexes both variants in containers, in the layout of host and venv, leaving no container', () => {
      const run = ws.nxWithEnv(env, 'run-many', '-t', 'wheel', '--output-style=stream');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const platforms: string[] = [];
      for (const [python, tag] of [['3.11', 'cp311'], ['3.13', 'cp313']] as const) {
        expect(run.stdout).toContain(`[demo-wheel-app:py${python} test] import demo_wheel_app: ok`);
        const repaired = new RegExp(`demo-wheel-app:py${python}: repaired with auditwheel: demo_wheel_app-0\\.1\\.0-${tag}-${tag}-(manylinux\\S*)\\.whl`).exec(run.stdout);
        expect(repaired, run.stdout).not.toBeNull();
        platforms.push(repaired![1]!);
        const files = filesUnder(join(ws.root, 'wheelhouse/demo-wheel-app', `py${python}`));
        expect(files.some((f) => new RegExp(`^py${tag.slice(2)}/cpu/linux_x86_64/demo_wheel_app-0\\.1\\.0-${tag}-${tag}-manylinux[^-]*-[0-9a-f]{8}\\.whl$`).test(f)), files.join('\n')).toBe(true);
        expect(files.some((f) => f.startsWith('index/cpu/demo-wheel-app/demo_wheel_app-0.1.0-'))).toBe(true);
        // The wheel runs on the host too: built against the image's Python of the same version.
        const toolchain = wheelManifest(ws, 'demo-wheel-app', `py${python}`) as unknown as { inputs: { toolchain: Record<string, string> } };
        expect(toolchain.inputs.toolchain).toMatchObject({ environment: 'docker', python });
        expect(imageIdOf(toolchain.inputs.toolchain)).toMatch(/^sha256:[0-9a-f]{64}$/);
      }
      // One image, one glibc: both Pythons' wheels run on the same systems.
      expect(platforms[1]).toBe(platforms[0]);
      expect(containersOf(ws)).toEqual([]);
      expect(filesUnder(join(ws.root, 'wheelhouse/.staging'))).toEqual([]);
    });

    it('reuses the images and skips unchanged wheels; a changed base image makes a new image and rebuilds', () => {
      const again = ws.nxWithEnv(env, 'run-many', '-t', 'wheel', '--skip-nx-cache', '--output-style=stream');
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).not.toContain('making image');
      expect(again.stdout).toContain('demo-wheel:py3.11: cached in wheelhouse/demo-wheel/py3.11');
      const before = wheelManifest(ws, 'demo-wheel', 'py3.11')!;
      // Another base image for 3.11 (bookworm with one more file): another id, so another forge image and another key.
      const container = execFileSync('docker', ['create', 'forge-base:bookworm', 'true'], { encoding: 'utf8' }).trim();
      execFileSync('docker', ['commit', '--change', 'LABEL forge-test=changed', container, 'forge-test-base:bookworm-changed']);
      execFileSync('docker', ['rm', container]);
      ws.edit('nx.json', (text) => text.replace(`"pipIndex": "${PYPI}"`, `"pipIndex": "${PYPI}", "dockerImages": { "py3.11": "forge-test-base:bookworm-changed" }`));
      // The plan needs the new image for the key: it makes it and says so on stderr (a minute is not silent); its JSON stays clean.
      const plan = spawnSync(process.execPath, [join(repoRoot, 'tools/forge/dist/cli/main.js'), 'plan', '--json'], { cwd: ws.root, env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(plan.status, plan.stderr).toBe(0);
      expect(plan.stderr).toMatch(/demo-wheel:py3\.11: making image wv-forge-wheel:\w+ from forge-test-base:bookworm-changed \(dockerImages\.py3\.11 in nx\.json\)/);
      expect((JSON.parse(plan.stdout) as Array<{ target: string; status: string }>).find((e) => e.target === 'demo-wheel:wheel-py3.11')?.status).toBe('build');
      const changed = ws.nxWithEnv(env, 'run', 'demo-wheel:wheel-py3.11', '--output-style=stream');
      expect(changed.code, changed.stdout + changed.stderr).toBe(0);
      expect(changed.stdout).not.toContain('making image');
      const after = wheelManifest(ws, 'demo-wheel', 'py3.11')!;
      expect(after.key).not.toBe(before.key);
      // Nx's cache: the same inputs as before restore, the changed image did not.
      ws.edit('nx.json', (text) => text.replace(`, "dockerImages": { "py3.11": "forge-test-base:bookworm-changed" }`, ''));
      const back = ws.nxWithEnv(env, 'run', 'demo-wheel:wheel-py3.11', '--output-style=stream');
      expect(back.code).toBe(0);
      expect(wheelManifest(ws, 'demo-wheel', 'py3.11')!.key).toBe(before.key);
    });
  });

  it('makes an image once when two builds want it at the same time: the second waits and takes the first one\'s', async () => {
    const base = 'forge-test-base:bookworm-lock';
    const container = execFileSync('docker', ['create', 'forge-base:bookworm', 'true'], { encoding: 'utf8' }).trim();
    execFileSync('docker', ['commit', '--change', `LABEL forge-test=lock-${Date.now()}`, container, base]);
    execFileSync('docker', ['rm', container]);
    try {
      const wants = { python: '3.11', cuda: undefined, torch: undefined, image: undefined, images: { 'py3.11': base }, index: PYPI, tools: imageTools(join(repoRoot, 'tools/forge/python/requirements.txt')) };
      const lines: string[] = [];
      const locks = join(scratch, 'image-locks');
      const [one, two] = await Promise.all([ensureImage(wants, locks, (line) => lines.push(line), 'one'), ensureImage(wants, locks, (line) => lines.push(line), 'two')]);
      expect(one.id).toBe(two.id);
      expect(lines.filter((line) => line.includes(': making image '))).toHaveLength(1);
      expect(lines.filter((line) => line.includes(': waiting for another process making image '))).toHaveLength(1);
      expect(execFileSync('docker', ['images', '-q', '--filter', `label=wv-forge.base=${base}`], { encoding: 'utf8' }).trim().split('\n')).toHaveLength(1);
    } finally {
      const made = spawnSync('docker', ['images', '-q', '--filter', `label=wv-forge.base=${base}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      spawnSync('docker', ['rmi', '-f', ...made, base]);
    }
  });

  it('builds the CUDA 13.0 example with nvcc from PyPI in a plain Debian image: SASS for each architecture asked for', () => {
    const ws = exampleWorkspace('container-cuda');
    try {
      const run = ws.nxWithEnv(env, 'run', 'forge-saxpy:wheel-py3.11-cuda13.0', '--output-style=stream');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('/opt/forge/cuda/bin/nvcc -shared --cudart static');
      expect(run.stdout).toContain('[forge-saxpy:py3.11-cuda13.0 test] CUDA 13.0');
      const files = filesUnder(join(ws.root, 'wheelhouse/forge-saxpy/py3.11-cuda13.0'));
      const installable = files.find((f) => /^index\/cu130\/forge-saxpy\/forge_saxpy-0\.1\.0\+cu130-py3-none-manylinux_2_\d+_x86_64\.whl$/.test(f));
      expect(installable, files.join('\n')).toBeDefined();
      expect(files.some((f) => /^py311\/cuda13\.0\/linux_x86_64\/forge_saxpy-0\.1\.0-py3-none-manylinux_2_\d+_x86_64-[0-9a-f]{8}\.whl$/.test(f))).toBe(true);
      // cuobjdump from PyPI (its wheels start at 13.2; a newer cuobjdump reads older cubins).
      const tools = join(scratch, 'cuobjdump');
      execFileSync(join(repoRoot, '.venv/bin/uv'), ['pip', 'install', '--quiet', '--python', enginePython(), '--target', tools, 'nvidia-cuda-cuobjdump'], { stdio: 'inherit' });
      const unpacked = join(scratch, 'saxpy');
      execFileSync(enginePython(), ['-m', 'zipfile', '-e', join(ws.root, 'wheelhouse/forge-saxpy/py3.11-cuda13.0', installable!), unpacked]);
      const elves = execFileSync(join(tools, 'nvidia/cu13/bin/cuobjdump'), ['--list-elf', join(unpacked, 'forge_saxpy/libforge_saxpy.so')], { encoding: 'utf8' });
      const archs = [...new Set([...elves.matchAll(/\.(sm_\d+)\.cubin/g)].map((m) => m[1]))].sort();
      expect(archs).toEqual(['sm_80', 'sm_90']);
      const toolchain = (wheelManifest(ws, 'forge-saxpy', 'py3.11-cuda13.0') as unknown as { inputs: { toolchain: Record<string, string> } }).inputs.toolchain;
      expect(toolchain).toMatchObject({ environment: 'docker', nvcc: '13.0 (PyPI)' });
    } finally {
      ws.dispose();
    }
  });

  it('says in one line what is wrong: no daemon, a CUDA with neither image nor toolchain, an unreadable CA bundle, a requirement that does not resolve, an image without the Python; siblings go on', () => {
    const ws = exampleWorkspace('wheels');
    try {
      ws.write('variants.yaml', 'python:\n  - "3.11"\n  - "3.13"\n');
      const down = ws.nxWithEnv({ ...env, DOCKER_HOST: `unix://${join(scratch, 'no-daemon.sock')}` }, 'run', 'demo-wheel:wheel-py3.11', '--output-style=stream');
      expect(down.code).not.toBe(0);
      expect(down.stdout + down.stderr).toMatch(/error: the Docker daemon is not running \(.*\): start it \(`sudo systemctl start docker`, or as root `dockerd &`; \.ci\/run does this on CI\)/);
      const unreadable = ws.nxWithEnv({ ...env, SSL_CERT_FILE: join(scratch, 'missing-ca.pem') }, 'run', 'demo-wheel:wheel-py3.11', '--output-style=stream');
      expect(unreadable.stdout + unreadable.stderr).toContain(`SSL_CERT_FILE=${join(scratch, 'missing-ca.pem')}: cannot read the CA bundle to pass into build containers (ENOENT)`);
      // demo-wheel 3.11 asks for a package no index has; 3.13 goes on; demo-wheel-app 3.11 is blocked.
      ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (t) => t.replace('    - setuptools>=70.1', '    - setuptools>=70.1\n    - forge-no-such-package-anywhere==1.0 ; python_version == "3.11"'));
      const bad = ws.nxWithEnv(env, 'run-many', '-t', 'wheel', '--output-style=stream');
      const out = bad.stdout + bad.stderr;
      expect(bad.code).not.toBe(0);
      expect(out).toMatch(/demo-wheel:py3\.11: error: cannot install the build requirements in image wv-forge-wheel:[0-9a-f]{16} \(forge-base:bookworm\): .*forge-no-such-package-anywhere/);
      expect(out).toContain('demo-wheel-app:py3.13: built');
      expect(out).not.toContain('demo-wheel-app:py3.11: built');
      expect(containersOf(ws)).toEqual([]);
      ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (t) => t.replace('\n    - forge-no-such-package-anywhere==1.0 ; python_version == "3.11"', ''));
      // Neither the image nor Debian 12's packages have Python 3.12.
      ws.write('variants.yaml', 'python:\n  - "3.12"\n');
      ws.edit('nx.json', (text) => text.replace(`"pipIndex": "${PYPI}"`, `"pipIndex": "${PYPI}", "dockerImages": { "py3.12": "forge-base:bookworm" }`));
      const noPython = ws.nxWithEnv(env, 'run', 'demo-wheel:wheel-py3.12', '--output-style=stream');
      expect(noPython.stdout + noPython.stderr).toContain("error: image forge-base:bookworm (dockerImages.py3.12 in nx.json) has no Python 3.12, and its distribution's packages do not provide it");
      ws.write('variants.yaml', 'python:\n  - "3.11"\ncuda_version:\n  - "12.4"\n');
      ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (t) => t.replace('keys: [python]', 'keys: [python, cuda_version]'));
      const cuda = ws.nxWithEnv(env, 'run', 'demo-wheel:wheel-py3.11-cuda12.4', '--output-style=stream');
      expect(cuda.stdout + cuda.stderr).toContain('error: CUDA 12.4 has neither an image (no `cuda12.4` in dockerImages or the built-in map) nor a PyPI toolchain');
      expect(filesUnder(join(ws.root, 'wheelhouse/.staging'))).toEqual([]);
    } finally {
      ws.dispose();
    }
  });

  it('stops and removes its container on SIGINT, leaving nothing half-written', async () => {
    const ws = exampleWorkspace('wheels');
    try {
      const { nx, exited, staging } = await holdingBuild(ws);
      expect(containersOf(ws).length).toBe(1);
      process.kill(-nx.pid!, 'SIGINT');
      await exited;
      // Nx exits before its task process has finished its clean-up: docker rm -f deletes the container's own copy of
      // the image (the vfs driver copies it whole), which on a loaded 2-core machine took longer than 30 s. A generous
      // bound, as for the start above: a clean-up that never happens still fails.
      for (let i = 0; i < 3000 && containersOf(ws).length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(containersOf(ws)).toEqual([]);
      expect(filesUnder(staging)).toEqual([]);
      expect(existsSync(join(ws.root, 'wheelhouse/demo-wheel/py3.11'))).toBe(false);
    } finally {
      ws.dispose();
    }
  });

  it('leaves no container when its task process is killed outright (SIGKILL: no exit hook runs), as Nx may end a task', async () => {
    const ws = exampleWorkspace('wheels');
    try {
      const { nx, exited } = await holdingBuild(ws);
      const [container] = containersOf(ws);
      expect(container).toBeDefined();
      // The process that started the container (its label), killed alone and outright.
      const owner = Number(execFileSync('docker', ['inspect', '--format', '{{index .Config.Labels "wv-forge.pid"}}', container!], { encoding: 'utf8' }).trim());
      expect(owner).toBeGreaterThan(0);
      process.kill(owner, 'SIGKILL');
      for (let i = 0; i < 3000 && containersOf(ws).length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(containersOf(ws)).toEqual([]);
      try {
        process.kill(-nx.pid!, 'SIGINT');
      } catch {
        // Nx ended with its task
      }
      await exited;
    } finally {
      ws.dispose();
    }
  });
});

/** A wheel build in a container that signals that it runs (a file in its work folder, which the host sees) and then waits. */
async function holdingBuild(ws: TempWorkspace): Promise<{ nx: ChildProcess; exited: Promise<unknown>; staging: string }> {
  ws.write('variants.yaml', 'python:\n  - "3.11"\n');
  ws.edit('pkgs/demo-wheel/wheel/wheel.yaml', (t) => t.replace('build:\n', 'build:\n  command: touch "$WHEEL_DIR/../holding" && sleep 600\n'));
  const nx = spawn(process.execPath, [nxBin, 'run', 'demo-wheel:wheel-py3.11', '--output-style=stream'], { cwd: ws.root, env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', ...env }, detached: true, stdio: 'ignore' });
  const exited = new Promise((resolve) => nx.on('exit', resolve));
  const staging = join(ws.root, 'wheelhouse/.staging');
  for (let i = 0; i < 3000 && !filesUnder(staging).some((f) => f.endsWith('/holding')); i++) await new Promise((r) => setTimeout(r, 100));
  expect(filesUnder(staging).some((f) => f.endsWith('/holding'))).toBe(true);
  return { nx, exited, staging };
}
