"""y = a*x + y on the GPU: a CUDA kernel in libforge_saxpy.so, loaded with ctypes.

    import numpy as np, forge_saxpy
    y = forge_saxpy.saxpy(2.0, np.ones(4, np.float32), np.zeros(4, np.float32))  # y is updated in place

Any contiguous float32 buffer works (numpy arrays, array.array('f')): no numpy dependency.
"""

import ctypes
import os

_lib = ctypes.CDLL(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libforge_saxpy.so"))
_lib.forge_saxpy.argtypes = [ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p]
_lib.forge_saxpy_error.restype = ctypes.c_char_p
_lib.forge_saxpy_device.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]


class CudaError(RuntimeError):
    pass


def _check(code):
    if code != 0:
        raise CudaError(f"CUDA error {code}: {_lib.forge_saxpy_error(code).decode()}")


def compiled_for():
    """The CUDA version the library was compiled against, e.g. `CUDA 13.0`."""
    version = _lib.forge_saxpy_cuda_version()
    return f"CUDA {version // 1000}.{version % 1000 // 10}"


def device():
    """(name, compute capability) of GPU 0."""
    name = ctypes.create_string_buffer(256)
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(_lib.forge_saxpy_device(name, 256, ctypes.byref(major), ctypes.byref(minor)))
    return name.value.decode(), f"{major.value}.{minor.value}"


def saxpy(a, x, y):
    """y = a*x + y for float32 buffers of one length; returns y."""
    xs, ys = memoryview(x).cast("B").cast("f"), memoryview(y).cast("B").cast("f")
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} elements, y {len(ys)}")
    if ys.readonly:
        raise ValueError("y must be writable: it receives the result")
    xbuf = (ctypes.c_float * len(xs)).from_buffer_copy(xs)
    ybuf = (ctypes.c_float * len(ys)).from_buffer(ys)
    _check(_lib.forge_saxpy(len(xs), float(a), xbuf, ybuf))
    return y
