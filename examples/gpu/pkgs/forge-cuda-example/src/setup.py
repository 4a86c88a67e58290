# The extension half of the package: pyproject.toml holds the metadata, this file only
# declares the CUDA extension, which setuptools cannot express declaratively.
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

setup(
    packages=["forge_cuda_example"],
    ext_modules=[
        CUDAExtension(
            name="forge_cuda_example._C",
            sources=["csrc/pairwise.cpp", "csrc/pairwise_kernel.cu"],
            extra_compile_args={"cxx": ["-O2"], "nvcc": ["-O2"]},
        )
    ],
    cmdclass={"build_ext": BuildExtension},
)
