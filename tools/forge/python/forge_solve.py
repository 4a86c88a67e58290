#!/usr/bin/env python3
"""wv-forge's solver front: can each environment a build needs be resolved?

Reads one JSON job on stdin and prints one JSON answer on stdout:

    in:  {"channels": [URL, ...], "platform": "linux-64",
          "environments": [{"id": ID, "specs": [MATCHSPEC, ...]}, ...]}
    out: {"virtualPackages": ["__glibc=2.36=0", ...],
          "environments": [{"id": ID, "problems": [{"spec", "kind", "detail"}]}]}

`kind` is `missing` (no package of that name on any channel), `version` (the
name exists, no record matches the spec), `invalid` (not a match spec as the
engine parses them, strictly) or `conflict` (each spec has candidates, the
solver finds no set that fits together; `detail` is its explanation). An
environment with no problems resolves.

It uses py-rattler (rattler's official Python bindings): its Gateway reads
sharded repodata where a channel serves it and keeps everything in rattler's
cache (the one rattler-build shares), so a second run over conda-forge reads
only the shards it needs from disk; its solver is resolvo, the one
rattler-build uses. Channels are in strict priority, as the engine uses them.

A channel that cannot be read is one line on stderr naming it (as the job
lists it) and the innermost cause, exit code 3; any other bad input is one
line and exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, NoReturn


def fail(message: object) -> NoReturn:
    sys.stderr.write(f"error: {' '.join(str(message).split())}\n")
    sys.stderr.flush()
    os._exit(2)


def unreadable(error: Exception, channels: list[str]) -> NoReturn:
    """rattler's error is a chain (`request for url (...) Caused by: ... Caused by: dns error ...`): name the channel and the root cause."""
    text = str(error)
    named = [url for url in channels if f"{url.rstrip('/')}/" in text]
    channel = f"channel {max(named, key=len)}" if named else "a channel"
    cause = text.split("Caused by:")[-1]
    sys.stderr.write(f"error: {channel} cannot be read: {' '.join(cause.split())}\n")
    sys.stderr.flush()
    os._exit(3)


try:
    from rattler import Channel, ChannelPriority, Gateway, MatchSpec, VirtualPackage, VirtualPackageOverrides, solve
    from rattler.exceptions import FetchRepoDataError, GatewayError, InvalidMatchSpecError, SolverError
except ImportError as error:
    fail(f"py-rattler: {error}; run `npm run setup:engine`")

# How many available versions a `version` problem lists.
SHOWN_VERSIONS = 6


def virtual_packages() -> list[Any]:
    """What this machine offers, with CONDA_OVERRIDE_* applied: the engine detects the same for a native build."""
    return [package.into_generic() for package in VirtualPackage.detect(VirtualPackageOverrides.from_env())]


def version_key(text: str) -> Any:
    from rattler import Version

    try:
        return Version(text)
    except Exception:  # noqa: BLE001 - an odd version sorts first rather than failing the report
        return Version("0")


def condense(message: str) -> str:
    """resolvo's explanation is a tree drawn with box characters: one line of its statements."""
    lines = [line.strip(" │├└─\t") for line in message.splitlines()]
    return "; ".join(line for line in lines if line)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    channels = [Channel(url) for url in job["channels"]]
    platforms = [job["platform"], "noarch"]
    virtual = virtual_packages()
    offered = {package.name.normalized: package for package in virtual}
    specs: dict[str, MatchSpec] = {}
    # Strictly, as the engine (and the solve below) parse them: one bad spec is a
    # problem of the environments that have it, not the end of every solve.
    invalid: dict[str, str] = {}
    for environment in job["environments"]:
        for text in environment["specs"]:
            if text not in specs and text not in invalid:
                try:
                    specs[text] = MatchSpec(text, strict=True)
                except InvalidMatchSpecError as error:
                    invalid[text] = " ".join(str(error).split())
    names = sorted({spec.name.normalized for spec in specs.values() if not spec.name.normalized.startswith("__")})

    gateway = Gateway()
    try:
        found = await gateway.query(channels, platforms, names, recursive=False)
    except (FetchRepoDataError, GatewayError) as error:
        unreadable(error, job["channels"])
    # Strict priority: a name comes from the first channel that has it.
    by_name: dict[str, list[Any]] = {}
    for records in found:
        here: dict[str, list[Any]] = {}
        for record in records:
            here.setdefault(record.name.normalized, []).append(record)
        for name, records_of_name in here.items():
            by_name.setdefault(name, records_of_name)

    answers = []
    for environment in job["environments"]:
        problems = []
        for text in environment["specs"]:
            if text in invalid:
                problems.append({"spec": text, "kind": "invalid", "detail": f"not a match spec rattler-build accepts: {invalid[text]}"})
                continue
            spec = specs[text]
            name = spec.name.normalized
            if name.startswith("__"):
                package = offered.get(name)
                if package is None:
                    problems.append({"spec": text, "kind": "missing", "detail": f"virtual package {name} is not on this machine (set CONDA_OVERRIDE_{name[2:].upper()} to solve as on one that has it)"})
                continue
            candidates = by_name.get(name, [])
            if not candidates:
                problems.append({"spec": text, "kind": "missing", "detail": "no such package on any channel"})
            elif not any(spec.matches(record) for record in candidates):
                versions = sorted({str(record.version) for record in candidates}, key=version_key)
                shown = ", ".join(versions[-SHOWN_VERSIONS:])
                more = f" (and {len(versions) - SHOWN_VERSIONS} older)" if len(versions) > SHOWN_VERSIONS else ""
                problems.append({"spec": text, "kind": "version", "detail": f"no version matches; the channels have {shown}{more}"})
        if not problems:
            try:
                await solve(channels, environment["specs"], gateway=gateway, platforms=platforms, virtual_packages=virtual, channel_priority=ChannelPriority.Strict)
            except SolverError as error:
                problems.append({"spec": "", "kind": "conflict", "detail": condense(str(error))})
            except (FetchRepoDataError, GatewayError) as error:
                unreadable(error, job["channels"])
        answers.append({"id": environment["id"], "problems": problems})
    return {"virtualPackages": [str(package) for package in virtual], "environments": answers}


def main() -> None:
    try:
        job = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        fail(f"the job on stdin is not JSON: {error}")
    sys.stdout.write(json.dumps(asyncio.run(run(job))) + "\n")
    sys.stdout.flush()
    # Skip interpreter teardown: py-rattler's background threads can crash it
    # (a rare segfault under load, after the answer is written).
    os._exit(0)


if __name__ == "__main__":
    main()
