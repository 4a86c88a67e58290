import { LocalEnvironment, type BuildEnvironment, type BuildRequest } from './build-environment.js';
import { DockerEnvironment, type DockerRequest } from './docker-environment.js';

/** The environment of a kind: `docker` needs its image and container settings, `host` and `venv` none. */
export function createEnvironment(kind: 'host' | 'venv' | 'docker', request: BuildRequest, docker: Omit<DockerRequest, keyof BuildRequest> | undefined): BuildEnvironment {
  if (kind !== 'docker') return new LocalEnvironment(kind, request);
  if (!docker) throw new Error('a docker environment needs its image');
  return new DockerEnvironment({ ...request, ...docker });
}
