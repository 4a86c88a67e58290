#!/usr/bin/env python3
"""wv-forge's embedded engine: a thin rattler-build command line over py-rattler-build.

py-rattler-build is the official Python binding of rattler-build's Rust engine, so
rendering and building here are rattler-build's own. This front accepts the subset
of the rattler-build CLI that wv-forge calls (same flag names), so the build
executor runs either one the same way:

    forge_engine.py build --recipe DIR -m variants.yaml --target-platform linux-64 \
        --output-dir OUT [--variant KEY=VALUE ...] [-c CHANNEL ...] [--test native|skip]
    forge_engine.py render --recipe DIR [-m variants.yaml] [--target-platform P]
    forge_engine.py inspect PACKAGE.conda      # index.json and the embedded recipe files' sha256
    forge_engine.py index CHANNEL_DIR          # write <subdir>/repodata.json for the .conda files
    forge_engine.py upload prefix --url URL --channel NAME PACKAGE...  # API key from PREFIX_API_KEY
    forge_engine.py --version

Errors are one line on stderr, `error: <file>: <message>`, with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn


def fail(where: str, message: Any) -> NoReturn:
    text = " ".join(str(message).split())
    print(f"error: {where}: {text}", file=sys.stderr)
    sys.exit(2)


try:
    import rattler_build
    from rattler_build import Stage0Recipe, VariantConfig
    from rattler_build.render import RenderConfig
    from rattler_build.tool_config import PlatformConfig, ToolConfiguration
except ImportError as error:  # the venv is missing or broken: say how to fix it
    fail("py-rattler-build", f"{error}; run `npm run setup:engine`")


class LogLines:
    """Progress callback that prints the engine's log lines to stderr as they come."""

    def on_download_start(self, event: Any) -> None:
        print(f"downloading {event.url}", file=sys.stderr, flush=True)

    def on_download_progress(self, event: Any) -> None:
        pass

    def on_download_complete(self, event: Any) -> None:
        pass

    def on_build_step(self, event: Any) -> None:
        print(f"== {event.step_name}: {event.message}", file=sys.stderr, flush=True)

    def on_log(self, event: Any) -> None:
        print(event.message, file=sys.stderr, flush=True)


def recipe_file(path: str) -> Path:
    recipe = Path(path)
    if recipe.is_dir():
        recipe = recipe / "recipe.yaml"
    if not recipe.is_file():
        fail(str(recipe), "recipe file not found")
    return recipe


def variant_config(files: list[str], overrides: list[str], recipe: Path, ignore_recipe_variants: bool) -> VariantConfig:
    """Like the CLI: the -m files, then a variants.yaml beside the recipe, then --variant overrides."""
    paths = list(files)
    beside = recipe.parent / "variants.yaml"
    if not ignore_recipe_variants and beside.is_file():
        paths.append(str(beside))
    for path in paths:
        if not Path(path).is_file():
            fail(path, "variant config not found")
    try:
        config = VariantConfig.from_files(paths) if paths else VariantConfig()
    except Exception as error:  # noqa: BLE001 - the engine raises its own error types
        fail(paths[-1] if paths else "variant config", error)
    values = {key: config.get_values(key) for key in config.keys()}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            fail("--variant", f"expected KEY=VALUE, got {override!r}")
        values[key] = [value]
    return VariantConfig(values, zip_keys=config.zip_keys or None)


def render(args: argparse.Namespace) -> list[Any]:
    recipe = recipe_file(args.recipe)
    config = variant_config(args.m, args.variant, recipe, args.ignore_recipe_variants)
    try:
        stage0 = Stage0Recipe.from_file(str(recipe))
        return stage0.render(config, RenderConfig(platform=PlatformConfig(target_platform=args.target_platform)))
    except Exception as error:  # noqa: BLE001
        fail(str(recipe), error)


def not_skipped(args: argparse.Namespace, recipe: Path) -> set[tuple[str, str]]:
    """(name, build string) of the outputs rattler-build's own CLI render keeps.

    The Stage-1 recipes of the Python API do not expose `build.skip`; the CLI
    path (`build_recipes(render_only=True)`) drops skipped outputs and prints
    the rest as JSON on stdout, which is captured at the file-descriptor level
    because the Rust side writes to it directly.
    """
    import tempfile
    import warnings

    overrides: dict[str, list[str]] = {}
    for override in args.variant:
        key, _, value = override.partition("=")
        overrides[key] = [value]
    with tempfile.TemporaryFile() as capture:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(capture.fileno(), 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                rattler_build.build_recipes(
                    [str(recipe)],
                    variant_config=list(args.m) or None,
                    variant_overrides=overrides or None,
                    ignore_recipe_variants=args.ignore_recipe_variants,
                    render_only=True,
                    target_platform=args.target_platform,
                )
        except Exception as error:  # noqa: BLE001
            os.dup2(saved, 1)
            fail(str(recipe), error)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode()
    kept = json.loads(text[text.index("[") :]) if "[" in text else []
    return {(str(o["recipe"]["package"]["name"]), str(o["recipe"]["build"]["string"])) for o in kept}


def describe(variant: Any, target_platform: str, kept: set[tuple[str, str]]) -> dict[str, Any]:
    recipe = variant.recipe
    build = recipe.build
    noarch = build.noarch
    noarch = None if noarch in (None, "", "none") else str(noarch)
    subdir = "noarch" if noarch else target_platform
    name = str(recipe.package.name)
    version = str(recipe.package.version)
    string = str(build.string)
    info = variant.hash_info
    return {
        "name": name,
        "version": version,
        "buildString": string,
        "hash": info.hash if info else None,
        "hashPrefix": info.prefix if info else None,
        "buildNumber": build.number,
        "noarch": noarch,
        "subdir": subdir,
        "variant": {str(k): str(v) for k, v in variant.variant.items()},
        "skipped": (name, string) not in kept,
        "file": f"{subdir}/{name}-{version}-{string}.conda",
    }


def described(args: argparse.Namespace) -> list[tuple[Any, dict[str, Any]]]:
    """Rendered variants, once per package file: the Python API returns a variant
    for every combination, even those that differ only in keys an output does not
    use; the CLI builds each file once, and so does this front."""
    kept = not_skipped(args, recipe_file(args.recipe))
    seen: set[str] = set()
    result = []
    for variant in render(args):
        info = describe(variant, args.target_platform, kept)
        if info["file"] not in seen:
            seen.add(info["file"])
            result.append((variant, info))
    return result


def command_render(args: argparse.Namespace) -> None:
    print(json.dumps([info for _, info in described(args)], indent=2))


def command_build(args: argparse.Namespace) -> None:
    variants = [v for v, info in described(args) if not info["skipped"]]
    if not variants:
        fail(args.recipe, "no variant to build (all skipped, or --variant values match none)")
    config = ToolConfiguration(test_strategy=args.test)
    produced: list[str] = []
    for variant in variants:
        try:
            result = variant.run_build(
                tool_config=config,
                output_dir=args.output_dir,
                channels=args.c,
                progress_callback=LogLines(),
                no_build_id=True,
            )
        except Exception as error:  # noqa: BLE001
            fail(args.recipe, error)
        produced.extend(str(path) for path in result.packages)
    print(json.dumps(produced))


GENERATED_RECIPE_FILES = {"rendered_recipe.yaml", "variant_config.yaml"}


def read_info(path: Path) -> dict[str, Any]:
    """index.json and the recipe folder rattler-build embeds under info/recipe/.

    A .conda file is a zip holding info-*.tar.zst; only that member is read.
    The recipe files are what the stale guard compares with the local recipe.
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
            if not entry.isfile():
                continue
            if entry.name == "info/index.json":
                index = json.loads(tar.extractfile(entry).read())
            elif entry.name.startswith("info/recipe/"):
                relative = entry.name[len("info/recipe/") :]
                if relative not in GENERATED_RECIPE_FILES:
                    recipe[relative] = hashlib.sha256(tar.extractfile(entry).read()).hexdigest()
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="forge_engine", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the engine version")
    commands = parser.add_subparsers(dest="command")
    for name in ("build", "render"):
        sub = commands.add_parser(name)
        sub.add_argument("--recipe", "-r", required=True, help="recipe.yaml or its folder")
        sub.add_argument("-m", "--variant-config", dest="m", action="append", default=[], help="variant config file")
        sub.add_argument("--variant", action="append", default=[], help="KEY=VALUE: use only this value of a key")
        sub.add_argument("--target-platform", default=os.environ.get("TARGET_PLATFORM", "linux-64"))
        sub.add_argument("--ignore-recipe-variants", action="store_true")
        if name == "build":
            sub.add_argument("--output-dir", required=True)
            sub.add_argument("-c", "--channel", dest="c", action="append", default=[], help="channel to resolve from")
            sub.add_argument("--test", choices=["native", "skip"], default="native", help="run the recipe's tests (default, as rattler-build)")
    inspect = commands.add_parser("inspect", help="print a package's index.json and embedded recipe file hashes")
    inspect.add_argument("package")
    index = commands.add_parser("index", help="index a channel folder (write <subdir>/repodata.json)")
    index.add_argument("channel")
    upload = commands.add_parser("upload", help="upload packages (prefix.dev)")
    servers = upload.add_subparsers(dest="server", required=True)
    prefix = servers.add_parser("prefix", help="a prefix.dev server")
    prefix.add_argument("--url", "-u", default=os.environ.get("PREFIX_SERVER_URL", "https://prefix.dev"))
    prefix.add_argument("--channel", "-c", required=True)
    prefix.add_argument("--api-key", "-a")
    prefix.add_argument("--skip-existing", "-s", action="store_true")
    prefix.add_argument("packages", nargs="+")
    args = parser.parse_args()
    if args.version:
        print(f"py-rattler-build {rattler_build.rattler_build_version()}")
        return
    if args.command == "render":
        command_render(args)
    elif args.command == "build":
        command_build(args)
    elif args.command == "inspect":
        command_inspect(args)
    elif args.command == "index":
        command_index(args)
    elif args.command == "upload":
        command_upload(args)
    else:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
