/**
 * The CUDA architectures PyTorch itself builds for, per CUDA release (Linux
 * x86_64), written out here from PyTorch's own build scripts so that forge's
 * default TORCH_CUDA_ARCH_LIST table is checked against them, not against itself:
 *
 * - 12.6, 12.8, 12.9: pytorch/pytorch `.ci/manywheel/build_cuda.sh` at
 *   00c7a380b8369d08e02dd400aa76dc6c0738b589 (the torch release wheels):
 *   12.6 `5.0;6.0;7.0;7.5;8.0;8.6;9.0`, 12.8 `7.0;7.5;8.0;8.6;9.0;10.0;12.0`,
 *   12.9 `7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX`.
 * - 13.0: pytorch/test-infra `tools/pkg-helpers/pytorch_pkg_helpers/cuda.py` at
 *   43ec95c684ece74ffca1ee301f1fc8691507f189 (the list PyTorch builds its own
 *   extension libraries, torchvision and torchaudio, with): `7.5;8.0;8.6;9.0;10.0;12.0+PTX`
 *   (sm_110, Thor, only for aarch64). Its 12.6 and 12.8 lists are the ones above.
 *
 * Only the real architectures are compared; which one also gets PTX is forge's choice.
 */
export const PYTORCH_CUDA_ARCHES: Readonly<Record<string, readonly string[]>> = {
  '12.6': ['5.0', '6.0', '7.0', '7.5', '8.0', '8.6', '9.0'],
  '12.8': ['7.0', '7.5', '8.0', '8.6', '9.0', '10.0', '12.0'],
  '12.9': ['7.0', '7.5', '8.0', '8.6', '9.0', '10.0', '12.0'],
  '13.0': ['7.5', '8.0', '8.6', '9.0', '10.0', '12.0'],
};

/** `7.5;8.0;9.0+PTX` -> ['7.5', '8.0', '9.0']. */
export function realArches(list: string): string[] {
  return list.split(';').map((arch) => arch.replace(/\+PTX$/, ''));
}
