import type { VariantTask } from '../graph/recipe-graph.js';
import { normalizeKey, type Variant } from '../variants/keys.js';
import type { Requirement, RenderedVariant } from '../variants/render.js';

/** The environments a build resolves: build tools, host (what it compiles against), and run (what it installs with). */
export type EnvironmentKind = 'build' | 'host' | 'run';
const KINDS: readonly EnvironmentKind[] = ['build', 'host', 'run'];

/** One environment of one output of a variant task, as match specs. */
export interface Environment {
  /** `<project>/<variant>/<package>/<kind>`: unique in a workspace. */
  readonly id: string;
  readonly project: string;
  readonly variant: string;
  readonly package: string;
  readonly kind: EnvironmentKind;
  readonly specs: readonly string[];
}

/**
 * The environments of a variant task as the engine will ask for them: a bare
 * name in build or host that is a variant key gets the variant's value (so
 * `python` is `python 3.12.*` in the py3.12 task), pins become version ranges,
 * and the run environment is the predicted package's own dependencies.
 */
export function taskEnvironments(task: VariantTask): Environment[] {
  const result: Environment[] = [];
  for (const output of task.outputs) {
    for (const kind of KINDS) {
      const specs = kind === 'run' ? runDepends(output, task.outputs) : output.requirements[kind].map((req) => specFor(req, output, task.outputs, true));
      if (specs.length === 0) continue;
      result.push({ id: `${task.project}/${task.id}/${output.name}/${kind}`, project: task.project, variant: task.id, package: output.name, kind, specs });
    }
  }
  return result;
}

/** The `depends` of a package the recipe will produce: its run requirements with pins resolved. */
export function runDepends(output: RenderedVariant, siblings: readonly RenderedVariant[]): string[] {
  return output.requirements.run.map((req) => specFor(req, output, siblings, false));
}

function specFor(req: Requirement, output: RenderedVariant, siblings: readonly RenderedVariant[], applyVariant: boolean): string {
  if (req.pin === 'pin_subpackage') {
    const sibling = siblings.find((s) => s.name === req.name);
    if (!sibling) return req.name;
    return req.exact ? `${req.name} ==${sibling.version} ${sibling.buildString}` : withBounds(req, sibling.version);
  }
  if (req.pin === 'pin_compatible') {
    // The host solve picks the pinned package within the variant's value
    // (`python 3.12.*`), so the variant value gives the bounds; without one
    // the pin cannot be predicted and the name alone is checked.
    const value = variantValue(output.combination, req.name);
    if (value === undefined) return req.name;
    return req.exact ? `${req.name} ${value}.*` : withBounds(req, value);
  }
  if (applyVariant && req.spec === req.name) {
    const value = variantValue(output.combination, req.name);
    if (value !== undefined) return /[\s=<>!*]/.test(value) ? `${req.name} ${value}` : `${req.name} ${value}.*`;
  }
  return req.spec;
}

function variantValue(combination: Variant, name: string): string | undefined {
  const value = combination[normalizeKey(name)];
  return value === undefined ? undefined : String(value);
}

/**
 * rattler-build's pin bounds: `x.x` keeps that many parts of the version for
 * the lower bound, and for the upper bound bumps the last kept part and adds
 * `.0a0`; defaults are `x.x.x.x.x.x` and `x`; any other text is a literal bound.
 */
export function withBounds(req: Requirement, version: string): string {
  const lower = req.bounds?.lower === undefined ? 'x.x.x.x.x.x' : req.bounds.lower;
  const upper = req.bounds?.upper === undefined ? 'x' : req.bounds.upper;
  const parts = version.split(/[.+]/).filter((p) => p !== '');
  const constraints: string[] = [];
  if (lower !== null) constraints.push(`>=${isPattern(lower) ? parts.slice(0, count(lower)).join('.') : lower}`);
  if (upper !== null) {
    if (isPattern(upper)) {
      const kept = parts.slice(0, count(upper));
      const last = kept.length - 1;
      const bumped = kept.map((part, i) => (i === last && /^\d+$/.test(part) ? String(Number(part) + 1) : part));
      constraints.push(`<${bumped.join('.')}.0a0`);
    } else {
      constraints.push(`<${upper}`);
    }
  }
  return constraints.length ? `${req.name} ${constraints.join(',')}` : req.name;
}

function isPattern(bound: string): boolean {
  return /^x(\.x)*$/i.test(bound);
}

function count(pattern: string): number {
  return pattern.split('.').length;
}
