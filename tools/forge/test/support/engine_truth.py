#!/usr/bin/env python3
"""What rattler-build itself reports for a table of recipes: the parity tests' truth.

Test-only, and separate from tools/forge/python/forge_engine.py on purpose: that
front shapes the engine's answer for forge's builds (file names, duplicates,
skips), so a mistake it shared with forge's TypeScript would pass as agreement.
Here nothing is computed: each field is copied from what the engine returns.

stdin: a JSON list of jobs, `{"recipe": FILE, "variants": FILE, "platform": P}`.
stdout: a JSON list, one answer per job, in order:
  {"error": TEXT}   the engine refused the recipe (its message, as it gave it), or
  {"kept": [...], "all": [...]}
    kept: the CLI's `render_only` output (what `rattler-build build --render-only`
          prints: the packages the engine would build, skipped variants left out);
    all:  py-rattler-build's render (every variant combination, skipped ones included;
          no subdir or variant there: its used_variant is taken before ignore_keys and pins).

All jobs run in this one process: the engine loads once for the whole table.
The platform is both target and build platform, as forge predicts for a native
build on each platform (the CI matrix builds each subdir on its own runner).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from typing import Any

import rattler_build
from rattler_build import JinjaConfig, Stage0Recipe, VariantConfig
from rattler_build.render import RenderConfig
from rattler_build.tool_config import PlatformConfig


def platforms(platform: str) -> PlatformConfig:
    return PlatformConfig(target_platform=platform, build_platform=platform, host_platform=platform)


def cli_render(recipe: str, variants: str, platform: str) -> list[dict[str, Any]]:
    """The CLI's render-only JSON. The Rust side prints it on file descriptor 1, so it is captured there."""
    with tempfile.TemporaryFile() as capture:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(capture.fileno(), 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                rattler_build.build_recipes(
                    [recipe],
                    variant_config=[variants],
                    ignore_recipe_variants=True,
                    render_only=True,
                    target_platform=platform,
                    build_platform=platform,
                    host_platform=platform,
                )
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode()
    start = text.find("[")
    outputs = json.JSONDecoder().raw_decode(text, start)[0] if start >= 0 else []
    return [
        {
            "name": o["recipe"]["package"]["name"],
            "version": o["recipe"]["package"]["version"],
            "buildString": o["recipe"]["build"]["string"],
            "noarch": o["recipe"]["build"].get("noarch"),
            "subdir": o["build_configuration"]["target_platform"],
            "variant": o["build_configuration"]["variant"],
        }
        for o in outputs
    ]


def python_render(recipe: str, variants: str, platform: str) -> list[dict[str, Any]]:
    config = VariantConfig.from_files_with_context([variants], JinjaConfig(platform=platforms(platform)))
    # The CLI sets these two keys over any variant config value (rattler-build's
    # get_build_output); the Python render only fills them in where missing.
    forced = {key: [platform] for key in ("target_platform", "build_platform") if key in config}
    if forced:
        config = config.merge(VariantConfig(forced))
    rendered = Stage0Recipe.from_file(recipe).render(config, RenderConfig(platform=platforms(platform)))
    return [
        {
            "name": v.recipe.package.name,
            "version": v.recipe.package.version,
            "buildString": v.recipe.build.string,
            "noarch": v.recipe.build.noarch,
        }
        for v in rendered
    ]


def answer(job: dict[str, str]) -> dict[str, Any]:
    try:
        # The Python render first: its errors say what and where, the CLI's often only "Failed to parse recipe".
        every = python_render(job["recipe"], job["variants"], job["platform"])
        kept = cli_render(job["recipe"], job["variants"], job["platform"])
    except Exception as error:  # noqa: BLE001 - any refusal by the engine is an answer
        return {"error": str(error)}
    return {"kept": kept, "all": every}


def main() -> None:
    jobs = json.load(sys.stdin)
    answers = [answer(job) for job in jobs]
    sys.stdout.write(json.dumps(answers, default=str))


if __name__ == "__main__":
    main()
