/**
 * Seed 003's environment: a Docker image per (python, cuda, torch), built from
 * a base image of the CUDA version, the build run in a container with the
 * source and output folders mounted. Only the text is produced here (Dockerfile
 * and command lines); the executor runs them where Docker is available.
 */

/** CUDA version -> the NVIDIA devel image with that toolkit (nvcc, headers, libraries). */
export const CUDA_BASE_IMAGES: Readonly<Record<string, string>> = {
  '12.6': 'nvidia/cuda:12.6.3-devel-ubuntu22.04',
  '12.8': 'nvidia/cuda:12.8.1-devel-ubuntu22.04',
  '12.9': 'nvidia/cuda:12.9.1-devel-ubuntu22.04',
  '13.0': 'nvidia/cuda:13.0.1-devel-ubuntu22.04',
};
/** Without a CUDA key: a plain image, the interpreter comes from uv either way. */
export const CPU_BASE_IMAGE = 'ubuntu:22.04';

export interface DockerRequest {
  readonly python: string;
  readonly cuda: string | undefined;
  readonly torch: string | undefined;
  /** The project's own image instead of the map's. */
  readonly image: string | undefined;
  /** Build requirements, installed into the image's venv. */
  readonly requirements: readonly string[];
  /** Where build requirements come from (PEP 503 URL). */
  readonly index: string;
  readonly gpus: boolean;
  /** Host folders mounted into the container. */
  readonly source: string;
  readonly output: string;
  /** Host folder mounted read-only at /forge/wheels: upstream wheels to install first. */
  readonly upstream: string | undefined;
  /** Config settings, `-C key=value` for pypa build. */
  readonly configSettings: ReadonlyArray<readonly [string, string]>;
  /** A custom build command (run with sh -c in /forge/src); default: pypa build. */
  readonly command: string | undefined;
  readonly env: Readonly<Record<string, string>>;
}

export interface DockerPlan {
  readonly image: string;
  readonly tag: string;
  readonly dockerfile: string;
  /** `docker build` arguments, run in a folder holding only the Dockerfile. */
  readonly build: readonly string[];
  /** `docker run` arguments. */
  readonly run: readonly string[];
}

/** The torch wheel index for a CUDA version, as PyTorch publishes them. */
export function torchIndex(cuda: string): string {
  return `https://download.pytorch.org/whl/cu${cuda.replace('.', '')}`;
}

export function baseImage(request: Pick<DockerRequest, 'cuda' | 'image'>): string {
  if (request.image) return request.image;
  if (request.cuda === undefined) return CPU_BASE_IMAGE;
  const image = CUDA_BASE_IMAGES[request.cuda];
  if (!image) throw new Error(`no base image for CUDA ${request.cuda} (known: ${Object.keys(CUDA_BASE_IMAGES).join(', ')}); set build.image`);
  return image;
}

const quote = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

export function dockerPlan(request: DockerRequest): DockerPlan {
  const image = baseImage(request);
  const tag = `forge-wheel:py${request.python}${request.cuda ? `-cuda${request.cuda}` : ''}${request.torch ? `-torch${request.torch}` : ''}`;
  const installs = request.requirements.filter((r) => !/^torch\b/.test(r));
  const lines = [
    `FROM ${image}`,
    'ENV DEBIAN_FRONTEND=noninteractive UV_PYTHON_INSTALL_DIR=/opt/python PATH=/opt/venv/bin:/root/.local/bin:$PATH',
    'RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git build-essential && rm -rf /var/lib/apt/lists/*',
    'RUN curl -LsSf https://astral.sh/uv/install.sh | sh',
    `RUN uv venv --python ${request.python} /opt/venv && uv pip install --python /opt/venv/bin/python --index-url ${quote(request.index)} build`,
  ];
  if (request.torch) {
    const torchIndexArgs = request.cuda ? ` --index-url ${torchIndex(request.cuda)} --extra-index-url ${quote(request.index)}` : ` --index-url ${quote(request.index)}`;
    lines.push(`RUN uv pip install --python /opt/venv/bin/python${torchIndexArgs} torch==${request.torch}`);
  }
  if (installs.length) lines.push(`RUN uv pip install --python /opt/venv/bin/python --index-url ${quote(request.index)} ${installs.map(quote).join(' ')}`);
  if (request.cuda) lines.push('ENV CUDA_HOME=/usr/local/cuda');
  lines.push('WORKDIR /forge/src');
  const settings = request.configSettings.map(([k, v]) => `--config-setting=${k}=${v}`);
  const buildCommand = request.command ?? ['python', '-m', 'build', '--wheel', '--no-isolation', '--outdir', '/forge/out', ...settings, '.'].map(quote).join(' ');
  const script = [request.upstream ? 'uv pip install --python /opt/venv/bin/python --no-deps /forge/wheels/*.whl' : '', buildCommand].filter(Boolean).join(' && ');
  const run = [
    'run',
    '--rm',
    ...(request.gpus ? ['--gpus', 'all'] : []),
    '-v',
    `${request.source}:/forge/src`,
    '-v',
    `${request.output}:/forge/out`,
    ...(request.upstream ? ['-v', `${request.upstream}:/forge/wheels:ro`] : []),
    '-e',
    'WHEEL_DIR=/forge/out',
    ...Object.entries(request.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    tag,
    'sh',
    '-c',
    script,
  ];
  return { image, tag, dockerfile: `${lines.join('\n')}\n`, build: ['build', '-t', tag, '.'], run };
}
