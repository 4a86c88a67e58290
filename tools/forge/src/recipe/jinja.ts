import { Environment } from 'minijinja-js';
import { Version, VersionSpec } from '@conda-org/rattler';

/**
 * Jinja evaluation for recipe v1 `${{ … }}` expressions, on minijinja: the same
 * template engine rattler-build embeds, so filters, tests, operators and
 * strict-undefined behave as they do there.
 *
 * rattler-build also records which variables an evaluation touched (that
 * decides which variant keys go into the build hash). minijinja-js cannot
 * report that, so we read the names off the expression text instead; see
 * `referencedNames`.
 */

/** A pin produced by `pin_compatible(...)` or `pin_subpackage(...)`. */
export interface Pin {
  readonly kind: 'pin_compatible' | 'pin_subpackage';
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export function isPin(value: unknown): value is Pin {
  return typeof value === 'object' && value !== null && 'kind' in value && ((value as Pin).kind === 'pin_compatible' || (value as Pin).kind === 'pin_subpackage');
}

/** What the Jinja functions need to know about the build being rendered. */
export interface JinjaScope {
  readonly variables: Readonly<Record<string, unknown>>;
  readonly targetPlatform: string;
  /** Called for every variable an expression reads, and for keys functions like compiler() read. */
  readonly onAccess: (name: string) => void;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'true', 'false', 'none', 'True', 'False', 'None', 'recursive']);

interface Reference {
  readonly name: string;
  readonly call: boolean;
}

const referenceCache = new Map<string, readonly Reference[]>();

/**
 * The names an expression reads as variables, and the functions it calls.
 * Attribute names (`a.b`), filter and test names (`| lower`, `is defined`),
 * keyword arguments (`upper_bound=`) and string contents are not variables.
 * Both sides of `x if c else y` count as read, a slight over-approximation
 * of rattler-build's run-time tracking that only matters when a variant key
 * is named in a branch that is never taken.
 */
export function referencedNames(expression: string): readonly Reference[] {
  const cached = referenceCache.get(expression);
  if (cached) return cached;
  const refs: Reference[] = [];
  const tokens = expression.match(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|==|!=|<=|>=|\*\*|\/\/|\S/g) ?? [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '(' || token === '[' || token === '{') depth++;
    if (token === ')' || token === ']' || token === '}') depth--;
    if (!/^[A-Za-z_]/.test(token) || KEYWORDS.has(token)) continue;
    const previous = tokens[i - 1];
    const next = tokens[i + 1];
    if (previous === '.' || previous === '|') continue;
    if (previous === 'is' || (previous === 'not' && tokens[i - 2] === 'is')) continue;
    if (next === '=' && depth > 0) continue;
    refs.push({ name: token, call: next === '(' });
  }
  referenceCache.set(expression, refs);
  return refs;
}

/**
 * The filters and tests rattler-build registers (its Jinja environment starts
 * empty): minijinja-js has all of minijinja's, and a recipe using another
 * (`| title`, `is mapping`) would render here and fail in the engine.
 */
const ENGINE_FILTERS = new Set(['abs', 'bool', 'default', 'first', 'int', 'join', 'last', 'length', 'list', 'lower', 'max', 'min', 'replace', 'reverse', 'sort', 'split', 'trim', 'unique', 'upper', 'version_to_buildstring']);
const ENGINE_TESTS = new Set(['defined', 'undefined', 'none', 'safe', 'escaped', 'odd', 'even', 'number', 'integer', 'int', 'float', 'string', 'sequence', 'boolean', 'startingwith', 'endingwith', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'in', 'true', 'false']);

/** The first filter or test an expression uses that the engine does not have. */
function unknownFilterOrTest(expression: string): string | undefined {
  const tokens = expression.match(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\S/g) ?? [];
  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i]!;
    const previous = tokens[i - 1];
    if (previous === '|' && /^[A-Za-z_]/.test(token) && !ENGINE_FILTERS.has(token)) return `filter \`${token}\``;
    const isTest = previous === 'is' || (previous === 'not' && tokens[i - 2] === 'is');
    if (isTest && token !== 'not' && /^[A-Za-z_]/.test(token) && !ENGINE_TESTS.has(token)) return `test \`${token}\``;
  }
  return undefined;
}

const DEFAULT_COMPILERS: Record<string, string> = { c: 'gcc', cxx: 'gxx', fortran: 'gfortran' };

/**
 * One minijinja environment for the whole process: the functions read the
 * scope of the evaluation under way, which is safe because evaluation is
 * synchronous.
 */
class JinjaRuntime {
  private readonly env = new Environment();
  private scope: JinjaScope | undefined;
  private failure: unknown;
  readonly functions = new Set<string>();

  constructor() {
    this.env.undefinedBehavior = 'strict';
    const compilerLike = (kind: 'compiler' | 'stdlib') => (language: string) => {
      const scope = this.current();
      const key = `${language}_${kind}`;
      const versionKey = `${key}_version`;
      scope.onAccess(key);
      scope.onAccess(versionKey);
      scope.onAccess('CONDA_BUILD_SYSROOT');
      const name = scope.variables[key] ?? (kind === 'compiler' ? (DEFAULT_COMPILERS[language] ?? language) : undefined);
      if (name === undefined) {
        throw new Error(`No ${kind} found for language: ${language}. Add \`${key}\` to the variant config.`);
      }
      const version = scope.variables[versionKey];
      if (version === undefined) return `${String(name)}_${scope.targetPlatform}`;
      const text = String(version);
      return `${String(name)}_${scope.targetPlatform} ${/^[A-Za-z0-9.]+$/.test(text) ? '=' : ''}${text}`;
    };
    const pin = (kind: Pin['kind']) => (name: string, kwargs?: Map<string, unknown>) => {
      const args: Record<string, unknown> = {};
      for (const [k, v] of kwargs instanceof Map ? kwargs : []) args[k] = v;
      if ('min_pin' in args || 'max_pin' in args) {
        throw new Error('`min_pin`/`max_pin` are not supported anymore: use `lower_bound`/`upper_bound`');
      }
      return { kind, name, args };
    };
    const platformTest = (family: string) => (platform: string) => platform.startsWith(`${family}-`);
    this.define('compiler', compilerLike('compiler'));
    this.define('stdlib', compilerLike('stdlib'));
    this.define('pin_compatible', pin('pin_compatible'));
    this.define('pin_subpackage', pin('pin_subpackage'));
    this.define('is_linux', platformTest('linux'));
    this.define('is_osx', platformTest('osx'));
    this.define('is_windows', platformTest('win'));
    this.define('is_unix', (platform: string) => !platform.startsWith('win-'));
    this.define('cdt', (name: string) => {
      const scope = this.current();
      const arch = scope.targetPlatform.endsWith('-64') ? 'x86_64' : scope.targetPlatform.split('-')[1] ?? 'x86_64';
      const [pkg, ...rest] = name.split(' ');
      const cdtName = String(scope.variables.cdt_name ?? 'cos6');
      const cdtArch = String(scope.variables.cdt_arch ?? arch);
      return [`${pkg}-${cdtName}-${cdtArch}`, ...rest].join(' ');
    });
    this.define('match', (...args: unknown[]) => {
      // Checked here: minijinja-js passes what it is given, and the engine refuses the rest.
      if (args.length !== 2) throw new Error(`match() takes a value and a version spec, as in match(python, ">=3.12"); got ${args.length} argument(s)`);
      if (typeof args[1] !== 'string') throw new Error(`match()'s spec must be a string, as in match(python, ">=3.12"); got ${JSON.stringify(args[1])}`);
      return matchVersion(args[0], args[1]);
    });
    this.env.addFilter('version_to_buildstring', (value: string) => shortVersion(String(value).split(/\s+/)[0] ?? '', 2));
  }

  private define(name: string, fn: (...args: never[]) => unknown): void {
    this.functions.add(name);
    // An exception thrown inside a minijinja-js callback traps its WASM module and leaves
    // the environment unusable for the rest of the process, so it is kept and rethrown
    // once minijinja has returned.
    this.env.addGlobal(name, (...args: never[]) => {
      try {
        return fn(...args);
      } catch (error) {
        this.failure ??= error;
        return undefined;
      }
    });
  }

  private current(): JinjaScope {
    if (!this.scope) throw new Error('Jinja function called outside an evaluation');
    return this.scope;
  }

  /**
   * Evaluates with a context of only the variables the expression names:
   * minijinja-js copies the whole context into WASM on every call, and the
   * full scope (every platform variable and variant key) made that copy most
   * of a render's time. The names are the same ones recorded as used, so an
   * expression cannot read more than it is credited with.
   */
  run<T>(scope: JinjaScope, expression: string, evaluate: (env: Environment, context: Record<string, unknown>) => T): T {
    const unknown = unknownFilterOrTest(expression);
    if (unknown) throw new Error(`unknown ${unknown} in \`\${{ ${expression.trim()} }}\`: rattler-build has only ${unknown.startsWith('filter') ? [...ENGINE_FILTERS].join(', ') : [...ENGINE_TESTS].join(', ')}`);
    const context: Record<string, unknown> = {};
    for (const ref of referencedNames(expression)) {
      if (ref.call) {
        if (!this.functions.has(ref.name)) throw new Error(`unknown function \`${ref.name}\` in \`${expression.trim()}\``);
        continue;
      }
      if (ref.name === 'env' && !('env' in scope.variables)) {
        // The render would follow the environment of whichever process renders (the Nx daemon, a CI runner), which no content key records.
        throw new Error(`\`env\` reads the environment of the machine that renders, which forge's prediction and content keys do not follow: put the value in the recipe's context or the variant config (in \`\${{ ${expression.trim()} }}\`)`);
      }
      // `x is defined` (and `x is undefined`, `x is not defined`) may name a missing key: minijinja tests it.
      if (!(ref.name in scope.variables) && testsDefinition(expression, ref.name)) continue;
      if (!(ref.name in scope.variables)) {
        throw new Error(`undefined variable \`${ref.name}\` in \`\${{ ${expression.trim()} }}\``);
      }
      scope.onAccess(ref.name);
      context[ref.name] = scope.variables[ref.name];
    }
    this.scope = scope;
    this.failure = undefined;
    try {
      const value = evaluate(this.env, context);
      if (this.failure !== undefined) throw this.failure;
      return value;
    } catch (error) {
      throw new Error(`cannot evaluate \`\${{ ${expression.trim()} }}\`: ${firstLine(this.failure ?? error)}`);
    } finally {
      this.scope = undefined;
      this.failure = undefined;
    }
  }
}

function testsDefinition(expression: string, name: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_.])${name}\\s+is\\s+(not\\s+)?(un)?defined\\b`).test(expression);
}

let runtime: JinjaRuntime | undefined;
function jinja(): JinjaRuntime {
  runtime ??= new JinjaRuntime();
  return runtime;
}

const TEMPLATE = /\$\{\{([\s\S]*?)\}\}/g;

export function hasTemplate(text: string): boolean {
  return text.includes('${{');
}

/** Evaluate a bare expression (an `if:` condition, a `skip` entry) to a JS value. */
export function evaluateExpression(expression: string, scope: JinjaScope): unknown {
  const value = jinja().run(scope, expression, (env, context) => env.evalExpr(expression, context));
  return fromJinja(value);
}

/**
 * Render a YAML string that may hold `${{ … }}` parts. A string that is one
 * whole expression keeps the expression's type (a pin, a list, a bool), as
 * rattler-build does; otherwise the parts are rendered to text and joined.
 */
export function renderTemplate(text: string, scope: JinjaScope): unknown {
  if (!hasTemplate(text)) return text;
  const whole = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/.exec(text);
  if (whole && !whole[1]!.includes('}}')) return evaluateExpression(whole[1]!, scope);
  const unclosed = text.lastIndexOf('${{') > text.lastIndexOf('}}');
  if (unclosed) throw new Error(`unclosed \`\${{\` in \`${text.trim()}\``);
  return text.replace(TEMPLATE, (_match, expression: string) => {
    const value = jinja().run(scope, expression, (env, context) => env.renderStr(`{{ ${expression} }}`, context));
    return value;
  });
}

/**
 * Build-script text: rattler-build evaluates it only where every variable is
 * known and keeps it as written otherwise, because `${{ PYTHON }}` or
 * `${{ PREFIX }}` exist only at build time. The variables it names still count
 * as used.
 */
export function renderScriptTemplate(text: string, scope: JinjaScope): unknown {
  if (!hasTemplate(text)) return text;
  const names = templateNames(text);
  if (names.every((name) => name in scope.variables)) return renderTemplate(text, scope);
  for (const name of names) if (name in scope.variables) scope.onAccess(name);
  return text;
}

/** Records the variables a template names without evaluating it (rattler-build's tracking of build.string). */
export function trackTemplate(text: string, scope: JinjaScope): void {
  for (const name of templateNames(text)) if (name in scope.variables) scope.onAccess(name);
}

/** Names a template reads, without evaluating it (used to find candidate variant keys). */
export function templateNames(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(TEMPLATE)) {
    for (const ref of referencedNames(match[1]!)) if (!ref.call) names.push(ref.name);
    names.push(...functionKeys(match[1]!));
  }
  return names;
}

export function expressionNames(expression: string): string[] {
  return [...referencedNames(expression).filter((ref) => !ref.call).map((ref) => ref.name), ...functionKeys(expression)];
}

/** The variant keys a compiler()/stdlib() call reads, found without evaluating it. */
function functionKeys(expression: string): string[] {
  const keys: string[] = [];
  for (const match of expression.matchAll(/\b(compiler|stdlib)\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    keys.push(`${match[2]}_${match[1]}`, `${match[2]}_${match[1]}_version`, 'CONDA_BUILD_SYSROOT');
  }
  return keys;
}

/** minijinja-js hands maps back as JS Maps; recipes want plain objects. */
function fromJinja(value: unknown): unknown {
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [k, v] of value) object[String(k)] = fromJinja(v);
    return object;
  }
  if (Array.isArray(value)) return value.map(fromJinja);
  return value;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.replace(/^Error: /, '').replace(/ \(in <(?:expression|string)>:\d+\)$/, '');
}

/** rattler-build's short_version: the first `length` numeric segments, joined without dots. */
export function shortVersion(version: string, length: number): string {
  const parts = version.split('.').slice(0, length);
  return parts.join('');
}

/**
 * rattler-build's `match(value, spec)`: does the variant value's version (the part
 * before a space, less trailing `.*` and `*`) satisfy the spec. The engine parses the
 * spec strictly, so a bare version (`"3.13"`) is an error, not `==3.13`: in an `if:` or
 * a template the render fails, and a `skip` entry that fails is ignored (NodeEvaluator.skipCondition).
 */
function matchVersion(value: unknown, spec: string): boolean {
  if (value === undefined || value === null) return true;
  const text = String(value).split(' ')[0]!.replace(/(\.\*)+$/, '').replace(/\*+$/, '');
  let version: Version;
  try {
    version = new Version(text);
  } catch (error) {
    throw new Error(`Failed to deserialize \`version\`: ${firstLine(error)}`);
  }
  return strictVersionSpec(spec).matches(version);
}

/** A version spec as rattler-build's `match()` parses it, or its error. */
export function strictVersionSpec(spec: string): VersionSpec {
  try {
    return new VersionSpec(spec, 'strict');
  } catch (error) {
    throw new Error(`Bad syntax for \`spec\`: ${firstLine(error)}`);
  }
}
