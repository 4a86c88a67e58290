import { execFileSync } from 'node:child_process';
import { enginePython } from './paths.js';

/**
 * rattler-build's own answers, asked of py-rattler-build directly: tests compare
 * forge's predictions with these, so nothing here goes through forge's code or
 * its embedded front (tools/forge/python), which could share a mistake with it.
 */
function askEngine<T>(script: string[], args: string[]): T {
  return JSON.parse(execFileSync(enginePython(), ['-c', script.join('\n'), ...args], { encoding: 'utf8' })) as T;
}

/** The build string of each variant py-rattler-build's render gives a recipe text (skipped ones included). */
export function engineBuildStrings(recipe: string, variants: Record<string, string[]>, platform = 'linux-64'): string[] {
  return askEngine<string[]>([
    'import json, sys',
    'from rattler_build import Stage0Recipe, VariantConfig',
    'from rattler_build.render import RenderConfig',
    'from rattler_build.tool_config import PlatformConfig',
    'out = Stage0Recipe.from_yaml(sys.argv[1]).render(VariantConfig(json.loads(sys.argv[2])), RenderConfig(platform=PlatformConfig(target_platform=sys.argv[3])))',
    'print(json.dumps([str(v.recipe.build.string) for v in out]))',
  ], [recipe, JSON.stringify(variants), platform]);
}

/**
 * The outputs rattler-build would build (build.skip applied), from its CLI path
 * (`build_recipes(render_only=True)`), which prints them as JSON on file
 * descriptor 1 from Rust, so the script captures that descriptor.
 */
export function engineKeptOutputs(recipeFile: string, variantFile: string, platform = 'linux-64'): Array<{ name: string; buildString: string; variant: Record<string, string> }> {
  return askEngine([
    'import json, os, re, sys, tempfile, warnings',
    'import rattler_build',
    'with tempfile.TemporaryFile() as capture:',
    '    sys.stdout.flush()',
    '    saved = os.dup(1)',
    '    os.dup2(capture.fileno(), 1)',
    '    try:',
    '        with warnings.catch_warnings():',
    '            warnings.simplefilter("ignore", DeprecationWarning)',
    '            rattler_build.build_recipes([sys.argv[1]], variant_config=[sys.argv[2]], render_only=True, target_platform=sys.argv[3])',
    '    finally:',
    '        os.dup2(saved, 1)',
    '    capture.seek(0)',
    '    text = capture.read().decode()',
    'start = re.search(r"^\\[", text, re.M)',
    'outputs = json.JSONDecoder().raw_decode(text, start.start())[0] if start else []',
    'print(json.dumps([{"name": o["recipe"]["package"]["name"], "buildString": o["recipe"]["build"]["string"], "variant": o["build_configuration"]["variant"]} for o in outputs]))',
  ], [recipeFile, variantFile, platform]);
}
