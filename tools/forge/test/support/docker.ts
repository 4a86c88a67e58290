import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/**
 * Why the container tests cannot run here, or undefined when they can: a
 * Docker daemon answers and the local base images (.ci/base-images.sh, made
 * once per machine) exist or can be made. The caller skips, saying why.
 */
export function dockerProblem(): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
  if (info.error) return 'docker is not installed (as root, .ci/run installs docker.io and starts dockerd)';
  if (info.status !== 0) return `the Docker daemon is not running: ${info.stderr.trim().split('\n').pop()}`;
  const base = spawnSync(join(repoRoot, '.ci/base-images.sh'), ['bookworm'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (base.status !== 0) return `the local base images cannot be made: ${base.stderr.trim().split('\n').pop()}`;
  return undefined;
}
