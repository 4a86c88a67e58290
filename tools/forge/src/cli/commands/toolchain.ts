import { Option, type Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { WHEEL_ENVIRONMENT_ENV } from '../../nx/plugin.js';
import { hostPython, probeCompiler, probeCuda, probePython } from '../../engine/toolchain.js';

/** The host toolchain wheel builds use: Python, CUDA toolkit, compiler and (with torch) torch. */
export function hostToolchain(torch: boolean): Record<string, string> {
  const python = hostPython();
  const info = probePython(python, { torch });
  const cuda = probeCuda();
  return {
    python: `${info.version} (${python})`,
    platform: info.platform,
    nvcc: cuda ? `${cuda.version} (${cuda.nvcc})` : 'none',
    compiler: probeCompiler(),
    ...(torch ? { torch: info.torch ? `${info.torch}${info.torchCuda ? ` cuda ${info.torchCuda}` : ' cpu'}` : 'none' } : {}),
  };
}

/**
 * What a docker build's result depends on beyond the workspace: the machine's
 * images (a rebuilt base or forge image has a new id). Every image, not just
 * the variant's: which forge image a variant gets is known only once it is
 * made, and a needless Nx miss costs little (forge's own key check still skips).
 */
export function dockerToolchain(): Record<string, string> {
  try {
    const images = execFileSync('docker', ['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return { docker: images.split('\n').filter(Boolean).sort().join(',') };
  } catch (error) {
    return { docker: `unavailable: ${(error as Error).message.split('\n')[0]}` };
  }
}

export function registerToolchain(program: Command): void {
  program
    .command('toolchain')
    .description("show the host's toolchain that `host` wheel builds match variants against (python, nvcc, compiler, torch)")
    .option('--torch', "also torch's version and the CUDA it was built for (read from its files, not imported)")
    .option('--id', 'print one hash of it (the Nx runtime input of wheel tasks)')
    .option('--json', 'print JSON')
    .addOption(new Option('--environment <kind>', "with --id: the project's wheel environment (FORGE_WHEEL_ENVIRONMENT overrides it); docker hashes the machine's images instead").choices(['host', 'venv', 'docker']))
    .action((options: { torch?: boolean; id?: boolean; json?: boolean; environment?: string }) => {
      if (options.id) {
        // An Nx input: it must print something even where there is no toolchain (that is part of the answer).
        let toolchain: Record<string, string>;
        try {
          toolchain = (process.env[WHEEL_ENVIRONMENT_ENV] || options.environment) === 'docker' ? dockerToolchain() : hostToolchain(Boolean(options.torch));
        } catch (error) {
          toolchain = { unavailable: (error as Error).message };
        }
        process.stdout.write(`${createHash('sha256').update(JSON.stringify(toolchain)).digest('hex').slice(0, 16)}\n`);
        return;
      }
      const toolchain = hostToolchain(Boolean(options.torch));
      if (options.json) process.stdout.write(`${JSON.stringify(toolchain, null, 2)}\n`);
      else for (const [name, value] of Object.entries(toolchain)) process.stdout.write(`${name.padEnd(9)} ${value}\n`);
    });
}
