import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type BuildEnvironment, type BuildRequest, type EnvironmentExtras } from './build-environment.js';
import { dockerPlan, type DockerPlan } from './docker.js';
import { runLogged, type LoggedRun } from './logged-process.js';
import { repairWheel, type RepairResult } from './wheel-tool.js';

/** What the docker environment needs beyond every environment's request. */
export interface DockerRequest extends BuildRequest {
  readonly pythonVersion: string;
  readonly cuda: string | undefined;
  readonly torch: string | undefined;
  readonly image: string | undefined;
  readonly gpus: boolean;
}

/** `docker`: the build runs in a container of an image per (python, cuda, torch). */
export class DockerEnvironment implements BuildEnvironment {
  readonly kind = 'docker' as const;
  readonly python = 'python';
  private extraEnv: Record<string, string> = {};
  private plan: DockerPlan | undefined;

  constructor(private readonly request: DockerRequest) {}

  extend(extra: EnvironmentExtras): void {
    this.extraEnv = { ...this.extraEnv, ...extra.env };
  }

  async prepare(log: (line: string) => void): Promise<void> {
    const { request } = this;
    const upstreamDir = request.upstreamWheels.length ? join(request.work, 'upstream') : undefined;
    if (upstreamDir) {
      mkdirSync(upstreamDir, { recursive: true });
      for (const wheel of request.upstreamWheels) cpSync(wheel, join(upstreamDir, basename(wheel)));
    }
    this.plan = dockerPlan({ python: request.pythonVersion, cuda: request.cuda, torch: request.torch, image: request.image, requirements: request.requirements, index: request.index, gpus: request.gpus, source: request.source, output: request.output, upstream: upstreamDir, configSettings: request.configSettings, command: request.command, env: { ...request.env, ...this.extraEnv } });
    log(`${request.label}: image ${this.plan.tag} from ${this.plan.image}`);
  }

  async build(log: (line: string) => void): Promise<LoggedRun> {
    const { request, plan } = this;
    const dockerDir = join(request.work, 'docker');
    mkdirSync(dockerDir, { recursive: true });
    writeFileSync(join(dockerDir, 'Dockerfile'), plan!.dockerfile);
    const built = await runLogged('docker', plan!.build, { cwd: dockerDir, env: process.env, label: request.label }, log);
    return built.ok ? runLogged('docker', plan!.run, { cwd: dockerDir, env: process.env, label: request.label }, log) : built;
  }

  run(): Promise<LoggedRun> {
    throw new Error('the docker environment runs only its build so far');
  }

  repair(wheel: string, outDir: string, excludes: readonly string[]): Promise<RepairResult> {
    return repairWheel(this.request.root, { wheel, outDir, excludes });
  }

  installForTest(): Promise<void> {
    throw new Error('the docker environment runs only its build so far');
  }
}
