import type { Command } from 'commander';
import { createHash } from 'node:crypto';
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

export function registerToolchain(program: Command): void {
  program
    .command('toolchain')
    .description("show the host's toolchain that `host` wheel builds match variants against (python, nvcc, compiler, torch)")
    .option('--torch', 'also import torch for its version (slow)')
    .option('--id', 'print one hash of it (the Nx runtime input of wheel tasks)')
    .option('--json', 'print JSON')
    .action((options: { torch?: boolean; id?: boolean; json?: boolean }) => {
      if (options.id) {
        // An Nx input: it must print something even where there is no toolchain (that is part of the answer).
        let toolchain: Record<string, string>;
        try {
          toolchain = hostToolchain(Boolean(options.torch));
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
