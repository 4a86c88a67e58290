import { ForgeError } from '../errors.js';
import { evaluateExpression, renderTemplate } from '../recipe/jinja.js';
import type { WheelSpec } from '../recipe/wheel-spec.js';
import type { Variant } from './keys.js';

/** A wheel project's templated fields with one variant's values filled in. */
export interface RenderedWheel {
  readonly requirements: readonly string[];
  readonly properties: readonly string[];
  readonly command: string | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly configSettings: ReadonlyArray<readonly [string, string]>;
  readonly cudaArchList: string | undefined;
  readonly image: string | undefined;
  readonly testCommands: readonly string[];
}

/**
 * Renders every `${{ … }}` of a wheel project for one variant, with the
 * minijinja helper the recipes use; an error names the file and the line.
 */
export function renderWheel(spec: WheelSpec, values: Variant): RenderedWheel {
  const variables = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)]));
  const scope = { variables, targetPlatform: 'linux-64', onAccess: () => {} };
  const render = (text: string, path: ReadonlyArray<string | number>): string => {
    try {
      return String(renderTemplate(text, scope));
    } catch (error) {
      throw new ForgeError((error as Error).message, { file: spec.file, line: spec.yaml.lineOf(path) });
    }
  };
  const optional = (text: string | undefined, path: ReadonlyArray<string | number>) => (text === undefined ? undefined : render(text, path));
  const renderEnv = (env: Readonly<Record<string, string>>, path: ReadonlyArray<string | number>) => Object.entries(env).map(([k, v]) => [k, render(v, [...path, k])] as const);
  const holds = (condition: string, path: ReadonlyArray<string | number>): boolean => {
    try {
      return Boolean(evaluateExpression(condition, scope));
    } catch (error) {
      // The variables are the variant's values: a name outside variant.keys is undefined here.
      throw new ForgeError(`\`build.toolchain_env[${path[2]}].if\`: ${(error as Error).message}`, { file: spec.file, line: spec.yaml.lineOf(path) });
    }
  };
  // `env` first, then each toolchain range that holds for this variant, in order.
  const env = Object.fromEntries([
    ...renderEnv(spec.build.env, ['build', 'env']),
    ...spec.build.toolchainEnv.flatMap((entry, i) => {
      const taken = holds(entry.if, ['build', 'toolchain_env', i, 'if']);
      return renderEnv(taken ? entry.then : entry.else, ['build', 'toolchain_env', i, taken ? 'then' : 'else']);
    }),
  ]);
  return {
    requirements: spec.build.requirements.map((r, i) => render(r, ['build', 'requirements', i])),
    properties: spec.variant.properties.map((p, i) => checkProperty(spec, render(p, ['variant', 'properties', i]).split('::').map((part) => part.trim()).join(' :: '), i)),
    command: optional(spec.build.command, ['build', 'command']),
    env,
    configSettings: spec.build.configSettings.map(([k, v]) => [k, render(v, ['build', 'config_settings', k])] as const),
    cudaArchList: optional(spec.variant.cudaArchList, ['variant', 'cuda_arch_list']),
    image: optional(spec.build.image, ['build', 'image']),
    testCommands: spec.test.commands.map((c, i) => render(c, ['test', 'commands', i])),
  };
}

/**
 * variantlib's own property rule (its VALIDATION_*_REGEX constants), checked
 * once rendered: variantlib would refuse it only at labelling, after the
 * whole build, naming a file in the staging folder.
 */
function checkProperty(spec: WheelSpec, property: string, index: number): string {
  const [namespace, feature, value] = property.split(' :: ');
  if (!/^[a-z0-9_]+$/.test(namespace!) || !/^[a-z0-9_]+$/.test(feature!) || !/^[a-z0-9_.]+$/.test(value!)) {
    throw new ForgeError(`variant property \`${property}\`: namespace and feature take [a-z0-9_], the value [a-z0-9_.] (variantlib)`, { file: spec.file, line: spec.yaml.lineOf(['variant', 'properties', index]) });
  }
  return property;
}
