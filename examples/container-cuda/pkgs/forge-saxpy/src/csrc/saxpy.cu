// y = a*x + y on the GPU, with a C interface for ctypes: every entry point returns a
// cudaError_t (0 is success) and forge_saxpy_error() turns one into its text.
#include <cuda_runtime.h>

__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = a * x[i] + y[i];
}

extern "C" {

const char* forge_saxpy_error(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

int forge_saxpy_device(char* name, int size, int* major, int* minor) {
  cudaDeviceProp prop;
  cudaError_t status = cudaGetDeviceProperties(&prop, 0);
  if (status != cudaSuccess) return status;
  int i = 0;
  for (; i + 1 < size && prop.name[i]; ++i) name[i] = prop.name[i];
  name[i] = 0;
  *major = prop.major;
  *minor = prop.minor;
  return cudaSuccess;
}

// The CUDA runtime the library was compiled against (1000 * major + 10 * minor): known without a GPU.
int forge_saxpy_cuda_version() { return CUDART_VERSION; }

int forge_saxpy(int n, float a, const float* x, float* y) {
  float* dx = nullptr;
  float* dy = nullptr;
  size_t bytes = static_cast<size_t>(n) * sizeof(float);
  cudaError_t status = cudaMalloc(&dx, bytes);
  if (status == cudaSuccess) status = cudaMalloc(&dy, bytes);
  if (status == cudaSuccess) status = cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice);
  if (status == cudaSuccess) status = cudaMemcpy(dy, y, bytes, cudaMemcpyHostToDevice);
  if (status == cudaSuccess) {
    saxpy_kernel<<<(n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096, 256>>>(n, a, dx, dy);
    status = cudaGetLastError();
  }
  if (status == cudaSuccess) status = cudaMemcpy(y, dy, bytes, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dy);
  return status;
}

}  // extern "C"
