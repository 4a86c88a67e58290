"""Runs the kernels of the wheels gpu-check built against torch references on the GPU.

Usage: python kernel_check.py [--example DIR] [--pointops DIR] [--pytorch3d DIR] [--device cuda]
Each DIR holds one wheel installed with `pip install --no-deps --target`; the module is
imported from there only, so a copy in the build tree cannot stand in for it. The
references are plain torch (cdist, topk, loops), never the package's own code.
Prints one JSON object: per check, the module's file, agreement, errors and timings;
exits 1 when a check disagrees.
"""

import argparse
import importlib
import json
import sys
import time

import torch


REPEAT = 20  # timing repeats; --repeat changes it
SCALE = 1.0  # point counts are multiplied by it; --scale shrinks them for a CPU dry run


def size(count):
    return max(8, int(count * SCALE))


def timed(fn, device, repeat=None):
    repeat = REPEAT if repeat is None else min(repeat, REPEAT)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - start) / repeat * 1e3


def import_from(target, module):
    """The module as installed in `target`, not a copy elsewhere on sys.path."""
    sys.path.insert(0, target)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


def generator(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


def check_example(target, device):
    ext = import_from(target, "forge_cuda_example")
    gen = generator(device, 0)
    a = torch.randn(4096, 64, device=device, generator=gen)
    b = torch.randn(3072, 64, device=device, generator=gen)
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
        "kernel_ms": timed(lambda: ext.pairwise_sqdist(a, b), device),
        "torch_cdist_sq_ms": timed(lambda: torch.cdist(a, b).pow(2), device),
    }


def check_pointops(target, device):
    pointops = import_from(target, "pointops")
    gen = generator(device, 1)
    # Two point clouds in one batch (Pointcept's offset format: cumulative sizes).
    sizes = [5000, 3000]
    xyz = torch.rand(sum(sizes), 3, device=device, generator=gen)
    offset = torch.tensor([sizes[0], sum(sizes)], device=device, dtype=torch.int32)
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
        "kernel_ms": timed(lambda: pointops.knn_query(k, xyz, offset), device),
    }


# ---- pytorch3d: references in plain torch, float64 where the answer is a number ----


def ref_knn(p1, p2, k):
    """Brute force: every squared distance by cdist, the k smallest by topk (sorted)."""
    d = torch.cdist(p1.double(), p2.double()).pow(2)
    dists, idx = d.topk(k, dim=2, largest=False)
    return d, dists, idx


def ref_farthest_points(points, k):
    """Farthest point sampling as a plain loop from index 0, in float32 like the kernel:
    each step keeps every point's squared distance to the nearest chosen point and takes
    the point where it is largest."""
    n, p, _ = points.shape
    chosen = torch.zeros(n, k, dtype=torch.int64, device=points.device)
    nearest = torch.full((n, p), float("inf"), dtype=points.dtype, device=points.device)
    rows = torch.arange(n, device=points.device)
    for i in range(1, k):
        last = points[rows, chosen[:, i - 1]].unsqueeze(1)
        nearest = torch.minimum(nearest, (points - last).pow(2).sum(-1))
        chosen[:, i] = nearest.argmax(dim=1)
    return chosen


def farthest_step_ties(points, got):
    """Where `got` leaves the reference, whether each of its picks is still a farthest
    point (within float32 rounding) given its own earlier picks, in float64: a tie the
    two summation orders break differently, not a wrong answer."""
    pts = points.double()
    n, k = got.shape
    rows = torch.arange(n, device=points.device)
    nearest = torch.full(pts.shape[:2], float("inf"), dtype=pts.dtype, device=points.device)
    worst = 0.0
    for i in range(1, k):
        last = pts[rows, got[:, i - 1]].unsqueeze(1)
        nearest = torch.minimum(nearest, (pts - last).pow(2).sum(-1))
        best = nearest.max(dim=1).values
        picked = nearest[rows, got[:, i]]
        worst = max(worst, ((best - picked) / best).max().item())
    return worst


def check_pytorch3d(target, device):
    p3d_ops = import_from(target, "pytorch3d.ops")
    p3d_loss = import_from(target, "pytorch3d.loss")
    import pytorch3d  # the one just imported from `target`

    gen = generator(device, 2)
    out = {"module": pytorch3d.__file__, "version": pytorch3d.__version__}

    # knn_points: the same k nearest neighbours as cdist + topk.
    n, p1_size, p2_size, k = 2, size(4096), size(8192), 16
    p1 = torch.rand(n, p1_size, 3, device=device, generator=gen)
    p2 = torch.rand(n, p2_size, 3, device=device, generator=gen)
    got = p3d_ops.knn_points(p1, p2, K=k, return_sorted=True)
    full, ref_d, ref_i = ref_knn(p1, p2, k)
    same = (got.idx.sort(dim=2).values == ref_i.sort(dim=2).values).all(dim=2)
    dist_err = (got.dists.double() - ref_d).abs()
    rel_dist_err = (dist_err / ref_d.clamp_min(1e-12)).max().item()
    # A row whose sets differ is a tie when the points it names (their distances measured
    # here, not the kernel's) are as near as the reference's, up to float32 rounding.
    named = torch.gather(full, 2, got.idx.clamp(0, p2_size - 1)).sort(dim=2).values
    tied = ((named - ref_d).abs() <= 1e-5 * ref_d[..., -1:] + 1e-9).all(dim=2) & (got.idx >= 0).all(dim=2)
    tie_rows = int(((~same) & tied).sum().item())
    del full
    rows = n * p1_size
    out["knn_points"] = {
        "shape": {"N": n, "P1": p1_size, "P2": p2_size, "K": k},
        "rows_same_neighbours": int(same.sum().item()),
        "rows": rows,
        "rows_differing_on_ties": tie_rows,
        "max_abs_dist_err": dist_err.max().item(),
        "max_rel_dist_err": rel_dist_err,
        "ok": int(same.sum().item()) + tie_rows == rows and rel_dist_err < 1e-4,
        "kernel_ms": timed(lambda: p3d_ops.knn_points(p1, p2, K=k), device),
        "torch_cdist_topk_ms": timed(lambda: torch.cdist(p1, p2).topk(k, dim=2, largest=False), device),
    }

    # sample_farthest_points: the same indices as a plain loop from the same start point (0).
    n, p, k = 2, size(10000), min(512, size(512))
    points = torch.rand(n, p, 3, device=device, generator=gen)
    _, got_idx = p3d_ops.sample_farthest_points(points, K=k, random_start_point=False)
    ref_idx = ref_farthest_points(points, k)
    equal = got_idx == ref_idx
    identical = bool(equal.all().item())
    first_diff = None if identical else int((~equal).any(dim=0).nonzero()[0].item())
    worst_gap = farthest_step_ties(points, got_idx)
    out["sample_farthest_points"] = {
        "shape": {"N": n, "P": p, "K": k},
        "indices_equal": int(equal.sum().item()),
        "indices": n * k,
        "first_differing_step": first_diff,
        "max_rel_gap_to_farthest": worst_gap,
        # Identical, or every pick a farthest point up to float32 rounding (a tie broken otherwise).
        "ok": identical or worst_gap < 1e-5,
        "kernel_ms": timed(lambda: p3d_ops.sample_farthest_points(points, K=k), device),
        "torch_loop_ms": timed(lambda: ref_farthest_points(points, k), device, repeat=3),
    }

    # ball_query: every index within the radius; as many as brute force finds, up to K.
    n, p1_size, p2_size, k, radius = 2, size(2048), size(8192), 32, 0.1
    q = torch.rand(n, p1_size, 3, device=device, generator=gen)
    s = torch.rand(n, p2_size, 3, device=device, generator=gen)
    got = p3d_ops.ball_query(q, s, K=k, radius=radius, return_nn=False)
    d2 = torch.cdist(q.double(), s.double()).pow(2)
    valid = got.idx >= 0
    picked = torch.gather(d2, 2, got.idx.clamp_min(0))
    # The kernel tests dist2 < r^2 in float32: allow its rounding at the boundary.
    within = (picked < radius**2 * (1 + 1e-5)) | ~valid
    brute = (d2 < radius**2).sum(dim=2).clamp_max(k)
    counts = valid.sum(dim=2)
    boundary = ((d2 - radius**2).abs() <= radius**2 * 1e-5).any(dim=2)
    count_equal = counts == brute
    # Valid entries come first and name distinct points.
    distinct = all(
        len(set(row[: c].tolist())) == c for row, c in zip(got.idx.reshape(-1, k).cpu(), counts.reshape(-1).cpu().tolist())
    )
    out["ball_query"] = {
        "shape": {"N": n, "P1": p1_size, "P2": p2_size, "K": k, "radius": radius},
        "returned": int(counts.sum().item()),
        "returned_outside_radius": int((~within).sum().item()),
        "rows_count_equal_brute_force": int(count_equal.sum().item()),
        "rows": n * p1_size,
        "rows_differing_on_boundary": int(((~count_equal) & boundary).sum().item()),
        "rows_full_at_K": int((counts == k).sum().item()),
        "distinct": distinct,
        "ok": bool(within.all().item()) and distinct and bool((count_equal | boundary).all().item()),
        "kernel_ms": timed(lambda: p3d_ops.ball_query(q, s, K=k, radius=radius, return_nn=False), device),
    }

    # chamfer_distance (default: squared distances, mean over points, mean over the batch).
    n, px, py = 4, size(4096), size(3000)
    x = torch.rand(n, px, 3, device=device, generator=gen)
    y = torch.rand(n, py, 3, device=device, generator=gen)
    loss, _ = p3d_loss.chamfer_distance(x, y)
    d = torch.cdist(x.double(), y.double()).pow(2)
    ref = (d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1)).mean()
    rel = abs(loss.double().item() - ref.item()) / ref.item()
    out["chamfer_distance"] = {
        "shape": {"N": n, "Px": px, "Py": py},
        "value": loss.item(),
        "reference": ref.item(),
        "rel_err": rel,
        "ok": rel < 1e-5,
        "kernel_ms": timed(lambda: p3d_loss.chamfer_distance(x, y), device),
        "torch_cdist_ms": timed(lambda: torch.cdist(x, y).pow(2).min(dim=2), device),
    }
    out["ok"] = all(v["ok"] for v in out.values() if isinstance(v, dict))
    return out


def main():
    global REPEAT, SCALE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--example", help="target folder of forge_cuda_example")
    parser.add_argument("--pointops", help="target folder of pointops")
    parser.add_argument("--pytorch3d", help="target folder of pytorch3d")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--repeat", type=int, default=20, help="timing repeats (default %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the pytorch3d point counts (a CPU dry run)")
    args = parser.parse_args()
    REPEAT, SCALE = max(1, args.repeat), args.scale
    device = torch.device(args.device)
    out = {"torch": torch.__version__}
    if device.type == "cuda":
        out["device"] = torch.cuda.get_device_name()
        out["capability"] = "sm_%d%d" % torch.cuda.get_device_capability()
    checks = {"example": check_example, "pointops": check_pointops, "pytorch3d": check_pytorch3d}
    chosen = {name: getattr(args, name) for name in checks if getattr(args, name)}
    if not chosen:
        parser.error("name at least one of --example, --pointops, --pytorch3d")
    failed = []
    for name, target in chosen.items():
        try:
            out[name] = checks[name](target, device)
        except Exception as error:  # one check's crash is its failure, the others still run
            out[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        if not out[name]["ok"]:
            failed.append(name)
    out["failed"] = failed
    print(json.dumps(out, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
