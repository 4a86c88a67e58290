"""Pairwise squared Euclidean distances computed by a CUDA kernel of this package."""

import torch

from . import _C

__all__ = ["pairwise_sqdist"]


def pairwise_sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`out[i, j] = sum_k (a[i, k] - b[j, k])**2` for float32 CUDA tensors of shape (n, d), (m, d)."""
    if not (a.is_cuda and b.is_cuda):
        raise ValueError("pairwise_sqdist needs CUDA tensors")
    return _C.pairwise_sqdist(a.contiguous().float(), b.contiguous().float())

