"""Evicts the packages a build is about to (re)build from rattler's shared package cache.

rattler keeps extracted packages in `<cache>/pkgs/<name>-<version>-<build>` and
takes an entry as valid when its files match its own paths.json; it compares
the archive's sha256 only when both the request and the entry know one
(rattler_cache 0.10, `sha256_mismatch`). Installs from a channel carry the
repodata's sha256, so a downstream host environment gets a rebuilt package.
The engine's test step does not: it looks the package it just built up by file
name alone (rattler-build 0.73, package_test/run_test.rs,
`get_or_fetch_from_path(package_file, None, None)` over a layered cache whose
second layer is the shared one), so once any environment installed the
previous build, the test runs the previous build's test files. An edit that
keeps the file name (the build string hashes only the variant: a test, a
script, a file the package ships) then tests stale content, or fails
on the new files with the old test.

Removing those entries before the engine builds them is the narrow cure: the
rest of the cache (python, compilers, CUDA) is reused as before, and entries
of packages other builds make are never touched. It happens under rattler's
own cache lock, `<cache>/pkgs/.cache.lock`, which its installer holds (flock,
exclusive) for a whole installation, so no install links from an entry while
it goes; the entry is renamed away first (one step for every reader) and
deleted after the lock is released, as a CUDA package's entry is gigabytes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

EVICTED = ".forge-evicted-"
ARCHIVE_SUFFIXES = (".conda", ".tar.bz2")


def package_cache_dir() -> Path:
    """rattler's default cache folder (rattler_cache::default_cache_dir, dirs::cache_dir), plus `pkgs`."""
    configured = os.environ.get("RATTLER_CACHE_DIR")
    if configured:
        return Path(configured) / "pkgs"
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rattler" / "cache" / "pkgs"


def entry_name(file: str) -> str:
    """`noarch/pc-lib-1.0-h4616a5c_0.conda` -> `pc-lib-1.0-h4616a5c_0`, the cache's folder name."""
    name = Path(file).name
    return next((name[: -len(suffix)] for suffix in ARCHIVE_SUFFIXES if name.endswith(suffix)), name)


def evict(files: list[str], cache: Path | None = None) -> list[str]:
    """Removes the cache entries of these package files; returns the names of those removed."""
    pkgs = cache or package_cache_dir()
    present = [pkgs / entry_name(f) for f in files if (pkgs / entry_name(f)).is_dir()]
    if not present:  # the common case: nothing installed them yet, no lock taken
        return []
    removed: list[str] = []
    with open(pkgs / ".cache.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for rattler's package cache lock ({pkgs / '.cache.lock'})", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        for entry in present:
            try:
                entry.rename(pkgs / f"{EVICTED}{os.getpid()}-{entry.name}")
            except FileNotFoundError:  # another build of the same file evicted it first
                continue
            removed.append(entry.name)
    # Closing the file released rattler's lock; renamed folders are no entries any more, so
    # deleting them (and what a killed build left) blocks nobody.
    for leftover in pkgs.glob(f"{EVICTED}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return removed
