import { ForgeError } from '../errors.js';
import { evaluateExpression, expressionNames, hasTemplate, renderScriptTemplate, renderTemplate, templateNames, trackTemplate, type JinjaScope } from './jinja.js';
import type { YamlFile } from './yaml-file.js';

export type Path = ReadonlyArray<string | number>;

/** `- if: cond \n then: … \n else: …` in a list. */
interface Conditional {
  readonly if: unknown;
  readonly then: unknown;
  readonly else?: unknown;
}

function isConditional(value: unknown): value is Conditional {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'if' in value && 'then' in value;
}

/**
 * Evaluates a recipe v1 subtree for one variant: renders `${{ … }}` strings,
 * resolves `if/then/else` list items, and leaves alone the paths the caller
 * defers (build.string waits for the hash).
 */
export class NodeEvaluator {
  constructor(
    private readonly yaml: YamlFile,
    private readonly scope: JinjaScope,
    private readonly deferred: ReadonlySet<string> = new Set(),
  ) {}

  evaluate(node: unknown, path: Path): unknown {
    if (this.deferred.has(path.join('.'))) {
      if (typeof node === 'string') trackTemplate(node, this.scope);
      return node;
    }
    if (typeof node === 'string') {
      const render = isScriptText(path) ? renderScriptTemplate : renderTemplate;
      return this.guard(path, () => render(node, this.scope));
    }
    if (Array.isArray(node)) return this.evaluateList(node, path);
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) out[key] = this.evaluate(value, [...path, key]);
      return out;
    }
    return node;
  }

  /** A `skip`/`if` condition: a YAML bool, or an expression without `${{ }}`. */
  condition(value: unknown, path: Path): boolean {
    if (typeof value === 'boolean') return value;
    if (typeof value !== 'string') {
      throw new ForgeError(`a condition must be an expression or a boolean, got ${JSON.stringify(value)}`, this.where(path));
    }
    const expression = bareExpression(value);
    return Boolean(this.guard(path, () => evaluateExpression(expression, this.scope)));
  }

  /**
   * A `build.skip` entry. rattler-build takes an entry it cannot evaluate (a `match()`
   * spec it rejects, an undefined name, a syntax error) as false, without a word, and
   * builds the variant; so does this, and tells `onIgnored` (`forge lint` reports them).
   */
  skipCondition(value: unknown, path: Path, onIgnored?: (error: ForgeError) => void): boolean {
    if (typeof value !== 'string') return this.condition(value, path);
    try {
      return this.condition(value, path);
    } catch (error) {
      if (!(error instanceof ForgeError)) throw error;
      onIgnored?.(error);
      return false;
    }
  }

  /**
   * The entries of `build.skip` (one condition or a list) with their YAML paths,
   * `if/then/else` items resolved as in any other list; the conditions themselves
   * are left for skipCondition.
   */
  skipEntries(value: unknown, path: Path): Array<{ item: unknown; path: Path }> {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return [{ item: value, path }];
    return value.flatMap((item, index): Array<{ item: unknown; path: Path }> => {
      const itemPath = [...path, index];
      if (!isConditional(item)) return [{ item, path: itemPath }];
      const taken = this.condition(item.if, [...itemPath, 'if']);
      const branch = taken ? item.then : item.else;
      return this.skipEntries(branch, [...itemPath, taken ? 'then' : 'else']);
    });
  }

  private evaluateList(items: unknown[], path: Path): unknown[] {
    const out: unknown[] = [];
    items.forEach((item, index) => {
      const itemPath = [...path, index];
      if (!isConditional(item)) {
        const value = this.evaluate(item, itemPath);
        // The engine drops an item whose template renders to nothing (`${{ "python" if win }}` off Windows).
        if (typeof item === 'string' && hasTemplate(item) && (value === undefined || value === null || value === '')) return;
        out.push(value);
        return;
      }
      const taken = this.condition(item.if, [...itemPath, 'if']);
      const branch = taken ? item.then : item.else;
      const branchPath = [...itemPath, taken ? 'then' : 'else'];
      if (branch === undefined || branch === null) return;
      const evaluated = Array.isArray(branch) ? this.evaluateList(branch, branchPath) : [this.evaluate(branch, branchPath)];
      out.push(...evaluated);
    });
    return out;
  }

  private guard<T>(path: Path, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (error instanceof ForgeError) throw error;
      throw new ForgeError(error instanceof Error ? error.message : String(error), this.where(path));
    }
  }

  private where(path: Path): { file: string; line: number | undefined } {
    return { file: this.yaml.path, line: this.yaml.lineOf(path) };
  }
}

/** A condition may be written bare (`linux`) or wrapped (`${{ linux }}`); both mean the expression. */
function bareExpression(text: string): string {
  return text.replace(/^\s*\$\{\{([\s\S]*)\}\}\s*$/, '$1');
}

/**
 * Script text (`script: …`, its list items, `script.content`): evaluated
 * leniently, as rattler-build defers it to build time. Script `env`,
 * `interpreter` and `cwd` are evaluated strictly.
 */
function isScriptText(path: Path): boolean {
  const at = path.lastIndexOf('script');
  if (at === -1) return false;
  const rest = path.slice(at + 1);
  return rest.every((segment) => typeof segment === 'number' || segment === 'content' || segment === 'then' || segment === 'else');
}

/**
 * Every variable name a subtree could read, in any branch: rattler-build's
 * stage-0 `used_variables`, which decides the keys to combine before any
 * evaluation happens.
 */
export function collectNames(node: unknown, into: Set<string>): void {
  if (typeof node === 'string') {
    for (const name of templateNames(node)) into.add(name);
  } else if (Array.isArray(node)) {
    for (const item of node) collectNames(item, into);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'if' && typeof value === 'string') {
        for (const name of expressionNames(bareExpression(value))) into.add(name);
      } else if (key === 'skip') {
        // skip entries are bare expressions, like if: conditions.
        for (const item of Array.isArray(value) ? value : [value]) {
          if (typeof item === 'string') for (const name of expressionNames(bareExpression(item))) into.add(name);
          else collectNames(item, into);
        }
      } else {
        collectNames(value, into);
      }
    }
  }
}

/** Plain requirement strings in every branch of a requirements list. */
export function collectSpecs(node: unknown, into: string[]): void {
  if (typeof node === 'string') into.push(node);
  else if (Array.isArray(node)) for (const item of node) collectSpecs(item, into);
  else if (isConditional(node)) {
    collectSpecs(node.then, into);
    collectSpecs(node.else, into);
  }
}
