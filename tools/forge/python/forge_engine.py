#!/usr/bin/env python3
"""wv-forge's embedded engine: a thin rattler-build command line over py-rattler-build.

Used when no `rattler-build` binary is on PATH. py-rattler-build is the official
Python binding of rattler-build's Rust engine, so what this prints and builds is
rattler-build's own rendering and building; this file only translates flags
(same names as the rattler-build CLI, so the build executor runs either one the
same way) and shapes the output.

    forge_engine.py render --recipe R [-m FILE ...] [--target-platform P] [--ignore-recipe-variants] [--variant K=V ...]
    forge_engine.py build  --recipe R [-m FILE ...] [--target-platform P] --output-dir DIR [-c CHANNEL ...] [--variant K=V ...]
    forge_engine.py inspect PACKAGE.conda      # index.json and the embedded recipe files' sha256
    forge_engine.py index CHANNEL_DIR          # write <subdir>/repodata.json for the .conda files
    forge_engine.py evict-cache FILE...        # drop these packages' entries from rattler's package cache
    forge_engine.py upload prefix --url URL --channel NAME PACKAGE...  # API key from PREFIX_API_KEY
    forge_engine.py --version                  # `py-rattler-build <version>`

`render` prints a JSON array, one object per package file the recipe renders to
(skipped ones included, with "skipped": true). `build` streams the engine's log
to stderr and prints a JSON array of the package paths it made. Every error is
one line on stderr, `error: <file>[:<line>]: <message>`, with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import forge_errors


def fail(where: object, message: object) -> NoReturn:
    """exit 2: the code the TypeScript side expects from this front."""
    forge_errors.fail(where, message, 2)


try:
    import rattler_build
    from rattler_build import JinjaConfig, RenderedVariant, Stage0Recipe, VariantConfig
    from rattler_build.render import RenderConfig
    from rattler_build.tool_config import PlatformConfig, ToolConfiguration
except ImportError as error:  # the venv is missing or broken: say how to fix it
    fail("py-rattler-build", f"{error}; run `npm run setup:engine`")

# The files rattler-build reads beside a recipe, in its order: the first one present wins.
RECIPE_VARIANT_FILES = ("variants.yaml", "conda_build_config.yaml")


# ---------------------------------------------------------------- errors


def unescape(text: str) -> str:
    """The engine's errors are Rust `Debug` strings: undo their escapes."""
    return text.replace('\\"', '"').replace("\\'", "'").replace("\\n", " ").replace("\\\\", "\\")


def engine_error(error: BaseException, recipe: Path) -> NoReturn:
    """Turns an engine exception into `error: <file>[:<line>]: <message>`.

    py-rattler-build hands errors over as `Debug` dumps of Rust values; the
    position is inside them when the engine knows it (a `Marker { line, .. }`
    for Jinja errors, a leading `line:column:` for YAML errors).
    """
    text = str(error)
    variant_file = re.search(r'ParseError \{ path: "((?:[^"\\]|\\.)*)".*?message: "((?:[^"\\]|\\.)*)"', text)
    if variant_file:
        position = re.match(r"(\d+):\d+: (.*)", unescape(variant_file.group(2)))
        where = f"{unescape(variant_file.group(1))}:{position.group(1)}" if position else unescape(variant_file.group(1))
        fail(where, position.group(2) if position else unescape(variant_file.group(2)))
    jinja = re.search(r'message: "((?:[^"\\]|\\.)*)".*?Marker \{[^}]*?line: (\d+)', text)
    if jinja:
        fail(f"{recipe}:{jinja.group(2)}", unescape(jinja.group(1)))
    yaml = re.search(r"Failed to parse YAML: (\d+):\d+: (.*)", text)
    if yaml:
        fail(f"{recipe}:{yaml.group(1)}", f"YAML syntax error: {yaml.group(2)}")
    fail(str(recipe), re.sub(r"^(Py[A-Za-z]*Error: )?(Render error: |parse error: )?", "", unescape(text)))


def zip_error(key: str, files: list[Path], config: VariantConfig, platform: str) -> NoReturn:
    """rattler-build only names the odd key (`InvalidZipKeyLength("numpy")`): say which
    file holds the zip_keys in force (the last one that has any) and the lengths."""
    where = "variant config"
    for path in files:
        if single(path, platform).zip_keys:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            line = next((n for n, text in enumerate(lines, 1) if text.startswith("zip_keys")), None)
            where = f"{path}:{line}" if line else str(path)
    group = next((g for g in config.zip_keys or [] if key in g), [key])
    lengths = ", ".join(f"`{k}` has {len(config.get_values(k) or [])}" for k in group)
    fail(where, f"zip_keys [{', '.join(group)}] must have lists of the same length: {lengths}")


# ---------------------------------------------------------------- rendering


def recipe_file(path: str) -> Path:
    """`--recipe` takes the file or its folder, like the CLI."""
    recipe = Path(path)
    if recipe.is_dir():
        recipe = recipe / "recipe.yaml"
    if not recipe.is_file():
        fail(str(recipe), "recipe file not found")
    return recipe


def variant_files(recipe: Path, given: list[str], ignore_recipe_variants: bool) -> list[Path]:
    """The list of variant config files exactly as rattler-build's CLI builds it
    (src/lib.rs, get_build_output): `[-m ..., <recipe dir>/variants.yaml, -m ...]`,
    merged left to right, later files winning key by key; the beside-the-recipe
    file is variants.yaml, else conda_build_config.yaml, unless ignored. The
    repeated -m files make them win over the recipe's own file."""
    paths = [Path(p) for p in given]
    for path in paths:
        if not path.is_file():
            fail(str(path), "variant config file not found")
    beside = next((recipe.parent / name for name in RECIPE_VARIANT_FILES if (recipe.parent / name).is_file()), None)
    if beside is None or ignore_recipe_variants:
        return paths
    return [*paths, beside, *paths]


def jinja(platform: str) -> JinjaConfig:
    """Selectors in variant files see the target platform, as in the CLI's VariantConfig::from_files."""
    return JinjaConfig(platform=PlatformConfig(target_platform=platform, host_platform=platform))


def single(path: Path, platform: str) -> VariantConfig:
    try:
        return VariantConfig.from_files_with_context([str(path)], jinja(platform))
    except Exception as error:  # noqa: BLE001 - the engine raises its own error types
        engine_error(error, path)


def load_variants(files: list[Path], platform: str) -> VariantConfig:
    """Merged config; target_platform/build_platform forced like the CLI does (the
    Python render only fills them in when missing, the CLI overrides them)."""
    try:
        config = VariantConfig.from_files_with_context([str(p) for p in files], jinja(platform)) if files else VariantConfig()
    except Exception as error:  # noqa: BLE001
        engine_error(error, files[-1] if files else Path("variant config"))
    forced = {key: [platform] for key in ("target_platform", "build_platform") if key in config}
    if "build_platform" in forced:
        forced["build_platform"] = [RenderConfig().build_platform]
    if forced:
        config = config.merge(VariantConfig(forced))
    return config


def render(recipe: Path, files: list[Path], platform: str) -> list[RenderedVariant]:
    """Every variant py-rattler-build renders, skipped ones included (see `kept`)."""
    config = load_variants(files, platform)
    try:
        stage0 = Stage0Recipe.from_file(str(recipe))
        return stage0.render(config, RenderConfig(platform=PlatformConfig(target_platform=platform)))
    except Exception as error:  # noqa: BLE001
        zipped = re.search(r'InvalidZipKeyLength\("([^"]+)"\)', str(error))
        if zipped:
            zip_error(zipped.group(1), files, config, platform)
        engine_error(error, recipe)


def kept(recipe: Path, files: list[str], ignore_recipe_variants: bool, platform: str) -> set[tuple[str, str, str]]:
    """(name, version, build string) of the outputs rattler-build does not skip.

    The Python render returns skipped variants too and has no field saying so:
    Stage-1 `Build.skip` is `#[serde(skip)]` and the Python `Build` class does
    not expose it (0.73.0), and `run_build` builds a skipped variant anyway. The
    CLI path does drop them: `build_recipes(render_only=True)` prints the kept
    outputs as JSON on stdout. The Rust side writes that to file descriptor 1,
    so it is captured there.
    """
    import tempfile
    import warnings

    with tempfile.TemporaryFile() as capture:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(capture.fileno(), 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                rattler_build.build_recipes(
                    [str(recipe)],
                    variant_config=files or None,
                    ignore_recipe_variants=ignore_recipe_variants,
                    render_only=True,
                    target_platform=platform,
                )
        except Exception as error:  # noqa: BLE001
            os.dup2(saved, 1)
            engine_error(error, recipe)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode()
    start = re.search(r"^\[", text, re.M)  # the pretty-printed array starts a line
    outputs = json.JSONDecoder().raw_decode(text, start.start())[0] if start else []
    return {(o["recipe"]["package"]["name"], str(o["recipe"]["package"]["version"]), o["recipe"]["build"]["string"]) for o in outputs}


def text(value: object) -> str:
    """A variant value as rattler-build prints it (`true`, not `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def normal(key: str) -> str:
    """rattler-build's NormalizedKey: `cuda-version`, `cuda_version` and `cuda.version` are one key."""
    return re.sub(r"[-_.]", "_", key)


def selection(config: VariantConfig, pairs: list[str]) -> dict[str, list[Any]]:
    """`--variant KEY=VALUE[,VALUE...]` (the CLI's syntax) as a filter on the config.

    The CLI's `--variant` replaces the key's values with strings; here only the
    given values among the config's are kept, with their zip_keys partners cut
    at the same positions. So a task names the values of one variant and gets
    exactly it: zips stay aligned, value types stay as the config has them
    (`12` stays an int: a string would hash differently), and multi-output
    pins resolve against the same combination (filtering the rendered outputs
    instead could not tell which `libfoo` a `py-foo` pins).
    Returns the replacement lists, to be merged after every other file.
    """
    wanted: dict[str, set[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail("--variant", f"expected KEY=VALUE, got {pair!r}")
        wanted.setdefault(normal(key), set()).update(v.strip() for v in value.split(","))
    names = {normal(k): k for k in config.keys()}
    for key in wanted:
        if key not in names:
            fail("--variant", f"`{key}` is not a key of the variant config")
    groups = [[names[normal(k)] for k in group if normal(k) in names] for group in config.zip_keys or []]
    restricted: dict[str, list[Any]] = {}
    for key in wanted:
        group = next((g for g in groups if names[key] in g), [names[key]])
        if any(k in restricted for k in group):
            continue
        values = {k: config.get_values(k) or [] for k in group}
        positions = [
            i for i in range(len(values[group[0]]))
            if all(text(values[k][i]) in wanted[normal(k)] for k in group if normal(k) in wanted)
        ]
        if not positions:
            asked = ", ".join(f"{k}={','.join(sorted(wanted[normal(k)]))}" for k in group if normal(k) in wanted)
            fail("--variant", f"no variant of the config has {asked}")
        restricted.update({k: [values[k][i] for i in positions] for k in group})
    return restricted


def describe(variant: RenderedVariant, platform: str, keep: set[tuple[str, str, str]]) -> dict[str, Any]:
    recipe = variant.recipe
    build = recipe.build
    noarch = None if build.noarch in (None, "", "none") else str(build.noarch)
    subdir = "noarch" if noarch else platform
    name, version, string = recipe.package.name, str(recipe.package.version), str(build.string)
    info = variant.hash_info
    return {
        "name": name,
        "version": version,
        "buildString": string,
        "hash": info.hash if info else None,
        "hashPrefix": info.prefix if info else None,
        "buildNumber": build.number or 0,  # None when the recipe leaves it out: the package gets 0
        "noarch": noarch,
        "subdir": subdir,
        "variant": {str(k): text(v) for k, v in variant.variant.items()},
        "skipped": (name, version, string) not in keep,
        "file": f"{subdir}/{name}-{version}-{string}.conda",
    }


def rendered(args: argparse.Namespace) -> list[tuple[RenderedVariant, dict[str, Any]]]:
    """The package files the recipe renders to, once each, in build order.

    The Python render yields one entry per variant combination; combinations
    that differ only in keys an output does not use give the same package file
    twice. The CLI keeps the first (an IndexSet keyed on name, version, build
    string, noarch and platform), and so does this. The order is the engine's:
    topological over pin_subpackage and build/host dependencies between outputs.
    """
    import tempfile

    recipe = recipe_file(args.recipe)
    platform = args.target_platform or RenderConfig().target_platform
    try:
        RenderConfig(platform=PlatformConfig(target_platform=platform))
    except Exception as error:  # noqa: BLE001 - else the message would name the first file read
        fail("--target-platform", error)
    files = variant_files(recipe, args.m, args.ignore_recipe_variants)
    given = list(args.m)
    with tempfile.TemporaryDirectory(prefix="forge-variant-") as scratch:
        variants = render(recipe, files, platform)  # first in full: the engine checks zip_keys lengths
        if args.variant:
            # JSON is YAML: the selected lists keep their types through the engine's loader.
            chosen = Path(scratch, "selected_variant.yaml")
            chosen.write_text(json.dumps(selection(load_variants(files, platform), args.variant)))
            files.append(chosen)
            given.append(str(chosen))
            variants = render(recipe, files, platform)
        keep = kept(recipe, given, args.ignore_recipe_variants, platform)
    seen: set[str] = set()
    result = []
    for variant in variants:
        info = describe(variant, platform, keep)
        if info["file"] not in seen:
            seen.add(info["file"])
            result.append((variant, info))
    missing = keep - {(i["name"], i["version"], i["buildString"]) for _, i in result}
    if missing:  # the two engine paths disagree: say so rather than mislabel skips
        fail(str(recipe), f"the engine's CLI render has outputs its Python render lacks: {sorted(missing)}")
    return result


# ---------------------------------------------------------------- commands


def command_render(args: argparse.Namespace) -> None:
    print(json.dumps([info for _, info in rendered(args)], indent=2))


class LogLines:
    """Progress callback: the engine's log lines to stderr as they come (stdout is
    for the result). Keeps the last warning: the engine's exception often says
    only "Test failed" and the reason was logged."""

    def __init__(self) -> None:
        self.last_warning = ""

    def on_download_start(self, event: Any) -> None:
        print(f"downloading {event.url}", file=sys.stderr, flush=True)

    def on_download_progress(self, event: Any) -> None:
        pass

    def on_download_complete(self, event: Any) -> None:
        pass

    def on_build_step(self, event: Any) -> None:
        print(f"== {event.step_name}: {event.message}", file=sys.stderr, flush=True)

    def on_log(self, event: Any) -> None:
        if event.level in ("warn", "error") and event.message.strip():
            self.last_warning = event.message.strip()
        print(event.message, file=sys.stderr, flush=True)


def command_build(args: argparse.Namespace) -> None:
    """Builds the selected, non-skipped package files in the engine's order.

    `run_build` would build a skipped variant too, so skips are dropped here,
    as the CLI does ("Skipping ...", exit 0, nothing built).
    """
    recipe = recipe_file(args.recipe)
    config = ToolConfiguration(test_strategy=args.test)
    produced: list[str] = []
    for variant, info in rendered(args):
        if info["skipped"]:
            print(f"== skipping {info['file']}: build.skip is true for this variant", file=sys.stderr, flush=True)
            continue
        print(f"== building {info['file']}", file=sys.stderr, flush=True)
        log = LogLines()
        try:
            result = variant.run_build(
                tool_config=config,
                output_dir=args.output_dir,
                channels=args.c or ["conda-forge"],  # the CLI's default when no -c is given
                progress_callback=log,
                no_build_id=True,
            )
        except Exception as error:  # noqa: BLE001
            reason = f" (last engine warning: {log.last_warning})" if log.last_warning else ""
            fail(f"{recipe}: {info['file']}", f"{re.sub(r'^Py[A-Za-z]*Error: ', '', str(error))}{reason}")
        produced.extend(str(path) for path in result.packages)
    print(json.dumps(produced))


GENERATED_RECIPE_FILES = {"rendered_recipe.yaml", "variant_config.yaml"}


def read_info(path: Path) -> dict[str, Any]:
    """index.json and the recipe folder rattler-build embeds under info/recipe/.

    A .conda file is a zip holding info-*.tar.zst; only that member is read.
    The recipe files are what the stale guard compares with the local recipe.
    zstandard is needed here only (Python 3.11 has no zstd), so it is imported here.
    """
    import hashlib
    import tarfile
    import zipfile

    import zstandard

    try:
        archive = zipfile.ZipFile(path)
        member = next(name for name in archive.namelist() if name.startswith("info-") and name.endswith(".tar.zst"))
    except (OSError, zipfile.BadZipFile, StopIteration) as error:
        fail(str(path), f"not a .conda package ({error or 'no info archive'})")
    index: dict[str, Any] = {}
    recipe: dict[str, str] = {}
    with archive.open(member) as raw, tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|") as tar:
        for entry in tar:
            member_file = tar.extractfile(entry) if entry.isfile() else None
            if member_file is None:
                continue
            if entry.name == "info/index.json":
                index = json.loads(member_file.read())
            elif entry.name.startswith("info/recipe/"):
                relative = entry.name[len("info/recipe/") :]
                if relative not in GENERATED_RECIPE_FILES:
                    recipe[relative] = hashlib.sha256(member_file.read()).hexdigest()
    return {"index": index, "recipeFiles": recipe}


def command_inspect(args: argparse.Namespace) -> None:
    print(json.dumps(read_info(Path(args.package)), indent=2, sort_keys=True))


def command_index(args: argparse.Namespace) -> None:
    """Writes repodata.json for every subdir of a channel folder, each through a rename."""
    import hashlib

    root = Path(args.channel)
    for subdir in sorted({"noarch", *(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))}):
        folder = root / subdir
        folder.mkdir(parents=True, exist_ok=True)
        packages: dict[str, Any] = {}
        for package in sorted(folder.glob("*.conda")):
            data = package.read_bytes()
            record = dict(read_info(package)["index"])
            record.update(
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - conda's repodata format wants md5 too
            )
            packages[package.name] = record
        repodata = {"info": {"subdir": subdir}, "packages": {}, "packages.conda": packages, "removed": [], "repodata_version": 1}
        temporary = folder / f".repodata.json.{os.getpid()}"
        temporary.write_text(json.dumps(repodata, indent=1, sort_keys=True))
        temporary.replace(folder / "repodata.json")
        print(f"{subdir}: {len(packages)} package(s)", file=sys.stderr)


def command_evict_cache(args: argparse.Namespace) -> None:
    """Before a build: see forge_pkg_cache (why the engine's test would read a stale entry)."""
    import forge_pkg_cache  # fcntl inside: the rest of the front stays importable everywhere

    try:
        print(json.dumps(forge_pkg_cache.evict(args.files)))
    except OSError as error:
        fail(error.filename or "rattler package cache", error.strerror or error)


def command_upload(args: argparse.Namespace) -> None:
    """rattler-build's prefix.dev upload; the key comes from --api-key or PREFIX_API_KEY."""
    from rattler_build.upload import upload_package_to_prefix

    api_key = args.api_key or os.environ.get("PREFIX_API_KEY")
    if not api_key:
        fail("upload", "set PREFIX_API_KEY (a prefix.dev API key with write access to the channel)")
    for package in args.packages:
        if not Path(package).is_file():
            fail(package, "package file not found")
    try:
        upload_package_to_prefix(args.packages, args.url, args.channel, api_key=api_key, skip_existing=args.skip_existing)
    except Exception as error:  # noqa: BLE001
        fail(", ".join(args.packages), error)
    print(json.dumps(args.packages))


class Parser(argparse.ArgumentParser):
    """Usage errors in the same one-line form as every other error."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, message)


def parser() -> argparse.ArgumentParser:
    main = Parser(prog="forge_engine", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--version", action="store_true", help="print `py-rattler-build <version>`")
    commands = main.add_subparsers(dest="command", parser_class=Parser)
    for name in ("build", "render"):
        sub = commands.add_parser(name)
        sub.add_argument("--recipe", "-r", required=True, help="recipe.yaml or its folder")
        sub.add_argument("-m", "--variant-config", dest="m", action="append", default=[], help="variant config file (repeatable)")
        sub.add_argument("--variant", action="append", default=[], help="KEY=VALUE[,VALUE]: only the variants with one of these values")
        sub.add_argument("--target-platform", help="default: this machine's platform, as the CLI")
        sub.add_argument("--ignore-recipe-variants", action="store_true", help="do not read variants.yaml beside the recipe")
        if name == "build":
            sub.add_argument("--output-dir", required=True)
            sub.add_argument("-c", "--channel", dest="c", action="append", default=[], help="channel (default conda-forge)")
            sub.add_argument("--test", choices=["native", "skip"], default="native", help="run the recipe's tests (default, as rattler-build)")
    inspect = commands.add_parser("inspect", help="print a package's index.json and embedded recipe file hashes")
    inspect.add_argument("package")
    index = commands.add_parser("index", help="index a channel folder (write <subdir>/repodata.json)")
    index.add_argument("channel")
    evict = commands.add_parser("evict-cache", help="remove these package files' entries from rattler's package cache")
    evict.add_argument("files", nargs="+", help="package file names (`noarch/pc-lib-1.0-h4616a5c_0.conda`)")
    upload = commands.add_parser("upload", help="upload packages (prefix.dev)")
    servers = upload.add_subparsers(dest="server", required=True, parser_class=Parser)
    prefix = servers.add_parser("prefix", help="a prefix.dev server")
    prefix.add_argument("--url", "-u", default=os.environ.get("PREFIX_SERVER_URL", "https://prefix.dev"))
    prefix.add_argument("--channel", "-c", required=True)
    prefix.add_argument("--api-key", "-a")
    prefix.add_argument("--skip-existing", "-s", action="store_true")
    prefix.add_argument("packages", nargs="+")
    return main


def main() -> None:
    arguments = parser()
    args = arguments.parse_args()
    if args.version:
        print(f"py-rattler-build {rattler_build.rattler_build_version()}")
        return
    commands = {"render": command_render, "build": command_build, "inspect": command_inspect, "index": command_index, "evict-cache": command_evict_cache, "upload": command_upload}
    if args.command not in commands:
        arguments.print_help(sys.stderr)
        sys.exit(2)
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - last resort: still one line, never a traceback
        fail(getattr(args, "recipe", None) or args.command, f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
