import { ForgeError } from '../errors.js';

/**
 * Which Python and CUDA versions each torch release supports, from PyTorch's
 * release compatibility matrix (RELEASE.md in pytorch/pytorch). A torch extension
 * must be built with a CUDA toolkit in the torch release's range (torch's
 * cpp_extension refuses another CUDA major) and for a Python torch ships wheels for,
 * so a variant outside this table is reported, not attempted.
 */
export const TORCH_COMPATIBILITY: Readonly<Record<string, { readonly python: readonly string[]; readonly cuda: readonly [min: string, max: string] }>> = {
  '2.8': { python: ['3.9', '3.10', '3.11', '3.12', '3.13'], cuda: ['11.8', '12.9'] },
  '2.9': { python: ['3.10', '3.11', '3.12', '3.13', '3.14'], cuda: ['12.6', '13.0'] },
  '2.10': { python: ['3.10', '3.11', '3.12', '3.13', '3.14'], cuda: ['12.6', '13.0'] },
  '2.11': { python: ['3.10', '3.11', '3.12', '3.13', '3.14'], cuda: ['12.6', '13.0'] },
};

/**
 * The default `TORCH_CUDA_ARCH_LIST` per CUDA version: the architectures PyTorch
 * itself builds for on Linux x86_64 (its manywheel build_cuda.sh for the torch
 * wheels; test-infra's pkg-helpers for torchvision and torchaudio), with PTX of the
 * newest one so later GPUs can JIT it. An extension built for fewer would fail with
 * "no kernel image" on a GPU the torch it links against runs on.
 *
 * - 12.6: Maxwell to Hopper (sm_50, sm_60, sm_70–sm_90).
 * - 12.8 and 12.9 drop sm_50 and sm_60 (deprecated) and add Blackwell: sm_100 (B200)
 *   and sm_120 (RTX 50xx).
 * - 13.0 drops sm_70: CUDA 13 no longer compiles for anything below sm_75. PyTorch
 *   adds sm_110 (Thor) only to its aarch64 builds, so it is not here.
 *
 * A project overrides it with its own `TORCH_CUDA_ARCH_LIST` (e.g. `9.0` for a
 * build that only has to run on H100s).
 */
export const CUDA_ARCH_LISTS: Readonly<Record<string, string>> = {
  '12.6': '5.0;6.0;7.0;7.5;8.0;8.6;9.0+PTX',
  '12.8': '7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX',
  '12.9': '7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX',
  '13.0': '7.5;8.0;8.6;9.0;10.0;12.0+PTX',
};

/** `2.11.0+cu130` -> `2.11`: the release line the tables are keyed by. */
export function torchRelease(torch: string): string {
  const match = /^(\d+)\.(\d+)/.exec(torch);
  if (!match) throw new ForgeError(`torch version \`${torch}\` is not MAJOR.MINOR[.PATCH]`);
  return `${match[1]}.${match[2]}`;
}

/**
 * Why a torch × CUDA × Python combination cannot be built, or undefined when the
 * table supports it. CUDA and Python are checked only when given.
 */
export function torchIncompatibility(variant: { readonly torch: string; readonly cuda?: string | undefined; readonly python?: string | undefined }): string | undefined {
  const release = torchRelease(variant.torch);
  const support = TORCH_COMPATIBILITY[release];
  if (!support) return `torch ${release} is not in the torch compatibility table (torch ${Object.keys(TORCH_COMPATIBILITY).join(', ')})`;
  if (variant.python !== undefined && !support.python.includes(majorMinor(variant.python))) {
    return `torch ${release} supports Python ${support.python.join(', ')}, not ${variant.python}`;
  }
  if (variant.cuda !== undefined) {
    const [min, max] = support.cuda;
    const cuda = majorMinor(variant.cuda);
    if (compareVersions(cuda, min) < 0 || compareVersions(cuda, max) > 0) return `torch ${release} supports CUDA ${min} to ${max}, not ${variant.cuda}`;
  }
  return undefined;
}

/**
 * The default TORCH_CUDA_ARCH_LIST for a torch × CUDA build (see {@link CUDA_ARCH_LISTS});
 * an error when the pair is not supported or the CUDA version has no entry.
 */
export function defaultCudaArchList(torch: string, cuda: string): string {
  const reason = torchIncompatibility({ torch, cuda });
  if (reason) throw new ForgeError(reason);
  const list = CUDA_ARCH_LISTS[majorMinor(cuda)];
  if (!list) throw new ForgeError(`no default TORCH_CUDA_ARCH_LIST for CUDA ${cuda} (known: ${Object.keys(CUDA_ARCH_LISTS).join(', ')}); set TORCH_CUDA_ARCH_LIST in the project`);
  return list;
}

function majorMinor(version: string): string {
  const match = /^(\d+)\.(\d+)/.exec(version);
  if (!match) throw new ForgeError(`version \`${version}\` is not MAJOR.MINOR`);
  return `${match[1]}.${match[2]}`;
}

function compareVersions(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number) as [number, number];
  const [b1, b2] = b.split('.').map(Number) as [number, number];
  return a1 - b1 || a2 - b2;
}
