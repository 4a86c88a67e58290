# The CUDA half of the package: nvcc compiles csrc/saxpy.cu into a shared library that
# forge_saxpy loads with ctypes. setuptools cannot express an nvcc build declaratively.
import os
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

LIBRARY = "libforge_saxpy.so"


class NvccLibrary(build_ext):
    """One shared library per extension, compiled by nvcc for TORCH_CUDA_ARCH_LIST (SASS for each)."""

    def get_ext_filename(self, fullname):
        return os.path.join(*fullname.split(".")[:-1], LIBRARY)

    def build_extension(self, ext):
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        home = os.environ.get("CUDA_HOME")
        nvcc = os.path.join(home, "bin", "nvcc") if home else "nvcc"
        # The nvcc command as torch's cpp_extension reads it: forge sets `sccache nvcc` (the compile cache).
        compiler = shlex.split(os.environ.get("PYTORCH_NVCC", "")) or [nvcc]
        archs = [a.strip().replace(".", "") for a in os.environ.get("TORCH_CUDA_ARCH_LIST", "9.0").replace(",", ";").split(";") if a.strip()]
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
        # Compile, then link: a compile (-c) is what a compiler cache can hand back.
        objects = []
        for source in ext.sources:
            obj = os.path.join(self.build_temp, os.path.splitext(source)[0] + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            self.run_command_line([*compiler, "-O2", "-Xcompiler", "-fPIC", *gencode, "-c", source, "-o", obj])
            objects.append(obj)
        # cudart linked statically (nvcc's default): the library needs only the driver (libcuda) at run time.
        self.run_command_line([nvcc, "-shared", "--cudart", "static", *gencode, "-o", out, *objects])

    def run_command_line(self, command):
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)


class AnyPython3(bdist_wheel):
    """ctypes loads the library, no Python ABI is involved: py3-none-<platform>."""

    def get_tag(self):
        return ("py3", "none", super().get_tag()[2])


setup(
    ext_modules=[Extension("forge_saxpy._library", sources=["csrc/saxpy.cu"])],
    cmdclass={"build_ext": NvccLibrary, "bdist_wheel": AnyPython3},
)
