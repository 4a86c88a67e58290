"""Checks a forge-saxpy wheel built in a container on a CPU-only machine, on a GPU.

Usage: python container-wheel-check.py WHEEL [--n N]

Installs the wheel (no dependencies) into a fresh folder, imports forge_saxpy from
there only, runs its kernel (y = a*x + y) on GPU 0 and compares it with numpy.
Prints one JSON object; exits 1 when the result is off or the wheel does not load.
Needs numpy and pip in the running Python; no torch, no CUDA toolkit (the wheel
links the CUDA runtime statically: only the NVIDIA driver is used).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel")
    parser.add_argument("--n", type=int, default=1 << 22)
    args = parser.parse_args()

    target = tempfile.mkdtemp(prefix="forge-saxpy-check-")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", target, os.path.abspath(args.wheel)], check=True)
    sys.path.insert(0, target)
    import forge_saxpy

    where = os.path.abspath(forge_saxpy.__file__)
    if not where.startswith(target):
        sys.exit(f"forge_saxpy came from {where}, not from the wheel installed in {target}")

    rng = np.random.default_rng(0)
    a = np.float32(2.5)
    x = rng.standard_normal(args.n, dtype=np.float32)
    y = rng.standard_normal(args.n, dtype=np.float32)
    expected = a * x + y
    started = time.perf_counter()
    got = forge_saxpy.saxpy(a, x, y.copy())
    seconds = time.perf_counter() - started
    error = float(np.max(np.abs(got - expected)))
    name, capability = forge_saxpy.device()
    report = {
        "wheel": os.path.basename(args.wheel),
        "module": where,
        "compiled_for": forge_saxpy.compiled_for(),
        "device": name,
        "compute_capability": capability,
        "n": args.n,
        "max_abs_error_vs_numpy": error,
        "seconds_with_copies": round(seconds, 4),
        "ok": error <= 1e-5,
    }
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
