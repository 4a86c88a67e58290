"""Runs the kernels of the wheels gpu-check built against torch references on the GPU.

Usage: python kernel_check.py <example-target-dir> <pointops-target-dir>
Each target dir holds one wheel installed with `pip install --no-deps --target`; the
module is imported from there only, so a copy in the build tree cannot stand in for it.
Prints one JSON object: per check, the module's file, the error against torch and timings.
"""

import importlib
import json
import sys
import time

import torch


def timed(fn, repeat=20):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat * 1e3


def import_from(target, module):
    """The module as installed in `target`, not a copy elsewhere on sys.path."""
    sys.path.insert(0, target)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


def check_example(target):
    ext = import_from(target, "forge_cuda_example")
    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(4096, 64, device="cuda", generator=gen)
    b = torch.randn(3072, 64, device="cuda", generator=gen)
    ours = ext.pairwise_sqdist(a, b)
    ref = torch.cdist(a.double(), b.double()).pow(2)
    err = (ours.double() - ref).abs().max().item()
    rel = err / ref.abs().max().item()
    return {
        "module": ext.__file__,
        "shape": [4096, 3072, 64],
        "max_abs_err": err,
        "max_rel_err": rel,
        "ok": rel < 1e-5,
        "kernel_ms": timed(lambda: ext.pairwise_sqdist(a, b)),
        "torch_cdist_sq_ms": timed(lambda: torch.cdist(a, b).pow(2)),
    }


def check_pointops(target):
    pointops = import_from(target, "pointops")
    gen = torch.Generator(device="cuda").manual_seed(1)
    # Two point clouds in one batch (Pointcept's offset format: cumulative sizes).
    sizes = [5000, 3000]
    xyz = torch.rand(sum(sizes), 3, device="cuda", generator=gen)
    offset = torch.tensor([sizes[0], sum(sizes)], device="cuda", dtype=torch.int32)
    k = 16
    idx, dist = pointops.knn_query(k, xyz, offset)
    agree = 0
    max_dist_err = 0.0
    start = 0
    for size in sizes:
        pts = xyz[start : start + size]
        d = torch.cdist(pts.double(), pts.double())
        ref_dist, ref_idx = d.topk(k, dim=1, largest=False)
        got_idx = idx[start : start + size].long() - start
        got_dist = dist[start : start + size].double()
        # Ties aside, the same neighbours: compare as sets per row, distances exactly sorted.
        same = (got_idx.sort(dim=1).values == ref_idx.sort(dim=1).values).all(dim=1)
        agree += int(same.sum().item())
        max_dist_err = max(max_dist_err, (got_dist.sort(dim=1).values - ref_dist).abs().max().item())
        start += size
    total = sum(sizes)
    return {
        "module": pointops.__file__,
        "points": total,
        "k": k,
        "rows_matching_torch": agree,
        "rows": total,
        "max_dist_err": max_dist_err,
        "ok": agree / total > 0.999 and max_dist_err < 1e-4,
        "kernel_ms": timed(lambda: pointops.knn_query(k, xyz, offset)),
    }


def main():
    example_target, pointops_target = sys.argv[1], sys.argv[2]
    out = {
        "device": torch.cuda.get_device_name(),
        "capability": "sm_%d%d" % torch.cuda.get_device_capability(),
        "torch": torch.__version__,
        "example": check_example(example_target),
        "pointops": check_pointops(pointops_target),
    }
    print(json.dumps(out, indent=2))
    sys.exit(0 if out["example"]["ok"] and out["pointops"]["ok"] else 1)


if __name__ == "__main__":
    main()
