#include <torch/extension.h>

torch::Tensor pairwise_sqdist_cuda(const torch::Tensor& a, const torch::Tensor& b);

static torch::Tensor pairwise_sqdist(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda(), "pairwise_sqdist: CUDA tensors expected");
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "pairwise_sqdist: shapes (n, d) and (m, d) expected");
  TORCH_CHECK(a.scalar_type() == torch::kFloat && b.scalar_type() == torch::kFloat, "pairwise_sqdist: float32 expected");
  return pairwise_sqdist_cuda(a.contiguous(), b.contiguous());
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("pairwise_sqdist", &pairwise_sqdist, "pairwise squared distances (CUDA)");
}
