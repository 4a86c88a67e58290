#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

constexpr int kTile = 16;

// One thread per output element; both operands staged through shared memory a tile at a time.
__global__ void pairwise_sqdist_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                       float* __restrict__ out, int n, int m, int d) {
  __shared__ float as[kTile][kTile + 1];
  __shared__ float bs[kTile][kTile + 1];
  const int i = blockIdx.y * kTile + threadIdx.y;
  const int j = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.f;
  for (int k0 = 0; k0 < d; k0 += kTile) {
    const int ka = k0 + threadIdx.x;
    const int kb = k0 + threadIdx.y;
    as[threadIdx.y][threadIdx.x] = (i < n && ka < d) ? a[static_cast<int64_t>(i) * d + ka] : 0.f;
    const int jb = blockIdx.x * kTile + threadIdx.x;
    bs[threadIdx.y][threadIdx.x] = (jb < m && kb < d) ? b[static_cast<int64_t>(jb) * d + kb] : 0.f;
    __syncthreads();
    const int kmax = min(kTile, d - k0);
    for (int k = 0; k < kmax; ++k) {
      const float diff = as[threadIdx.y][k] - bs[k][threadIdx.x];
      acc += diff * diff;
    }
    __syncthreads();
  }
  if (i < n && j < m) out[static_cast<int64_t>(i) * m + j] = acc;
}

}  // namespace

torch::Tensor pairwise_sqdist_cuda(const torch::Tensor& a, const torch::Tensor& b) {
  const int n = static_cast<int>(a.size(0)), m = static_cast<int>(b.size(0)), d = static_cast<int>(a.size(1));
  auto out = torch::empty({n, m}, a.options());
  const dim3 block(kTile, kTile);
  const dim3 grid((m + kTile - 1) / kTile, (n + kTile - 1) / kTile);
  pairwise_sqdist_kernel<<<grid, block, 0, at::cuda::getCurrentCUDAStream()>>>(
      a.data_ptr<float>(), b.data_ptr<float>(), out.data_ptr<float>(), n, m, d);
  // A bad launch configuration is reported here, not at the next synchronising call.
  const cudaError_t launched = cudaGetLastError();
  TORCH_CHECK(launched == cudaSuccess, "pairwise_sqdist kernel launch failed: ", cudaGetErrorString(launched));
  return out;
}
