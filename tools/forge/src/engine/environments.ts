import { LocalEnvironment, type BuildEnvironment } from './build-environment.js';
import { DockerEnvironment, type DockerRequest } from './docker-environment.js';

/** The environment of a kind; `host` and `venv` ignore the docker-only fields. */
export function createEnvironment(kind: 'host' | 'venv' | 'docker', request: DockerRequest): BuildEnvironment {
  return kind === 'docker' ? new DockerEnvironment(request) : new LocalEnvironment(kind, request);
}
