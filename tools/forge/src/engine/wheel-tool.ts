import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { ForgeError } from '../errors.js';
import { embeddedPython } from './engine.js';

/** The post-build wheel tool (variantlib, wheel, auditwheel), run with the workspace's .venv Python. */
export const WHEEL_TOOL = fileURLToPath(new URL('../../python/forge_wheel.py', import.meta.url));

/**
 * SONAMEs `auditwheel repair` never grafts into a CUDA torch extension: torch's
 * own libraries come from the torch wheel the user installs, and the CUDA driver
 * and runtime from the machine or the nvidia-* wheels torch depends on. Vendoring
 * them would ship a second, mismatched copy. Globs, as auditwheel's `--exclude` takes.
 */
export const DEFAULT_REPAIR_EXCLUDES: readonly string[] = ['libtorch*', 'libc10*', 'libtorch_cuda*', 'libcuda.so*', 'libcudart.so*'];

/** A wheel turned into a wheel variant by variantlib's `make-variant`. */
export interface LabelledWheel {
  /** Path of the variant wheel, `<name>-<ver>-<py>-<abi>-<plat>-<label>.whl`. */
  readonly wheel: string;
  /** The label in the file name: the given one, else variantlib's 8-hex variant hash. */
  readonly label: string;
  /** variantlib's variant hash of the properties, whatever the label. */
  readonly hash: string;
  /** The properties, `namespace :: feature :: value`, as variantlib normalised them. */
  readonly properties: readonly string[];
  /** The `*.dist-info/variant.json` written into the wheel. */
  readonly variantJson: Record<string, unknown>;
}

/**
 * A wheel path, or in a {@link runWheelSteps} batch the wheel an earlier step
 * made: `{ step: 1, field: 'wheel' }` is step 1's result's `wheel`.
 */
export type WheelRef = string | { readonly step: number; readonly field: string };

export interface LabelRequest {
  readonly wheel: WheelRef;
  readonly outDir: string;
  /** `namespace :: feature :: value`, each part `[a-z0-9_]` (values also `.`), as variantlib requires. */
  readonly properties: readonly string[];
  /**
   * Every value any variant of this release may have (same syntax), in priority
   * order; default: `properties`. Each namespace is declared as a static provider of
   * these values, and all variant wheels of one release must declare the same ones,
   * or variants.json cannot merge them: pass the whole matrix's values.
   */
  readonly declare?: readonly string[];
  /** A readable label (`[0-9a-z._]+`, not `null`); without one, the variant hash is the label. */
  readonly label?: string;
  /**
   * The project's own pyproject.toml with a `[variant]` table (its providers and
   * namespace priorities), used instead of `declare`; its provider plugins must be
   * installed in the tools venv (labelling runs without isolation, offline).
   */
  readonly pyproject?: string;
}

/** Labels a built wheel as a wheel variant (WheelNext variantlib `make-variant`). */
export function labelWheel(root: string, request: LabelRequest & { readonly wheel: string }): Promise<LabelledWheel> {
  return runWheelTool<LabelledWheel>(root, labelStep(request) as string[]);
}

export function labelStep(request: LabelRequest): WheelStep {
  const args: WheelStep = ['label', request.wheel, '--out', request.outDir];
  for (const property of request.properties) args.push('--property', property);
  for (const property of request.declare ?? []) args.push('--declare', property);
  if (request.label) args.push('--label', request.label);
  if (request.pyproject) args.push('--pyproject', request.pyproject);
  return args;
}

/** `<name>-<version>-variants.json` files variantlib's `generate-index-json` wrote for the variant wheels in `dir`. */
export interface VariantsJsonResult {
  readonly files: readonly string[];
  /** What variantlib warned about (a wheel without variant.json, ...), one line each. */
  readonly warnings: readonly string[];
}

/** Writes the variants.json index of every variant wheel in `dir` beside them (variantlib `generate-index-json`). */
export function writeVariantsJson(root: string, dir: string): Promise<VariantsJsonResult> {
  return runWheelTool<VariantsJsonResult>(root, ['variants-json', dir]);
}

export interface LocalVersionRequest {
  readonly wheel: WheelRef;
  readonly outDir: string;
  /** The local version label, e.g. `cu130torch2.11.0` (see {@link pytorchLocalVersion}). */
  readonly local: string;
}

export interface LocalVersionWheel {
  readonly wheel: string;
  /** The normalised PEP 440 version, e.g. `0.7.9+cu130torch2.11.0`. */
  readonly version: string;
}

/**
 * A copy of a plain wheel whose version carries a local label, PyTorch style, for
 * installers without wheel-variant support: file name, METADATA, the dist-info
 * (and .data) folder names and RECORD all agree (`wheel unpack` / `wheel pack`).
 */
export function localVersionWheel(root: string, request: LocalVersionRequest & { readonly wheel: string }): Promise<LocalVersionWheel> {
  return runWheelTool<LocalVersionWheel>(root, localVersionStep(request) as string[]);
}

export function localVersionStep(request: LocalVersionRequest): WheelStep {
  return ['local-version', request.wheel, '--out', request.outDir, '--local', request.local];
}

/** The PyTorch-style local label for a CUDA × torch build: `cu130torch2.11.0` for CUDA 13.0 and torch 2.11.0. */
export function pytorchLocalVersion(cuda: string, torch: string): string {
  const [major, minor] = cuda.split('.');
  if (!major || !minor) throw new ForgeError(`CUDA version \`${cuda}\` is not MAJOR.MINOR`);
  return `cu${major}${minor}torch${torch.replace(/\+.*$/, '')}`;
}

export interface RepairRequest {
  readonly wheel: string;
  readonly outDir: string;
  /** More SONAME globs to exclude, on top of {@link DEFAULT_REPAIR_EXCLUDES}. */
  readonly excludes?: readonly string[];
  /** auditwheel's `--plat`; default `auto` (the most compatible policy the wheel meets). */
  readonly plat?: string;
}

export type RepairResult =
  | { readonly repaired: true; readonly wheel: string; readonly excludes: readonly string[] }
  /** auditwheel could not or need not repair it: the original wheel is kept, and `reason` says why. */
  | { readonly repaired: false; readonly wheel: string; readonly reason: string };

/** `auditwheel repair` with the CUDA/torch excludes; where it cannot, keeps the original wheel and says why. */
export function repairWheel(root: string, request: RepairRequest): Promise<RepairResult> {
  return runWheelTool<RepairResult>(root, repairArguments(request));
}

/** forge_wheel.py's `repair` arguments. */
export function repairArguments(request: RepairRequest): string[] {
  const args = ['repair', request.wheel, '--out', request.outDir, '--plat', request.plat ?? 'auto'];
  for (const pattern of request.excludes ?? []) args.push('--exclude', pattern);
  return args;
}

/** pypa wheel's `wheel tags --build N`: the wheel with a build tag, replacing it. */
export function retagStep(wheel: WheelRef, build: number): WheelStep {
  return ['retag', wheel, '--build', String(build)];
}

/** Whether a requirement's version specifier admits a version (packaging's PEP 440 rules, local versions and pre-releases included). */
export async function requirementAdmits(root: string, requirement: string, version: string): Promise<boolean> {
  return (await runWheelTool<{ admits: boolean }>(root, ['admits', requirement, version])).admits;
}

/** Requirements parsed by packaging, as pip and uv's build frontends read them: each one's name, or why it is no PEP 508 requirement. */
export async function parseRequirements(root: string, requirements: readonly string[]): Promise<ReadonlyArray<{ readonly name?: string; readonly error?: string }>> {
  return (await runWheelTool<{ requirements: Array<{ name?: string; error?: string }> }>(root, ['requirements', ...requirements])).requirements;
}

/** The .venv Python that has variantlib, wheel and auditwheel, or an error saying how to get it. */
export function wheelToolPython(root: string): string {
  const python = embeddedPython(root);
  if (!python) throw new ForgeError('labelling, repairing and publishing wheels needs the tools venv: run `npm run setup:engine`');
  return python;
}

/** One forge_wheel.py command line, whose wheel may be an earlier step's. */
export type WheelStep = WheelRef[];

/**
 * Runs forge_wheel.py commands in one Python process, in order, each able to
 * take an earlier one's wheel: a wheel task's local version and index, or its
 * label and variants.json, cost one interpreter start-up (with variantlib and
 * wheel imported once) instead of one each. The first failing step's
 * one-line error becomes a ForgeError, and nothing after it runs.
 */
export async function runWheelSteps(root: string, steps: readonly WheelStep[]): Promise<unknown[]> {
  return (await runWheelTool<{ results: unknown[] }>(root, ['batch'], JSON.stringify(steps))).results;
}

/** Runs one forge_wheel.py command; its one-line error becomes a ForgeError. */
export async function runWheelTool<T>(root: string, args: readonly string[], input?: string): Promise<T> {
  const python = wheelToolPython(root);
  return wheelToolResult<T>(await execa(python, [WHEEL_TOOL, ...args], { reject: false, ...(input === undefined ? {} : { input }) }));
}

/** A forge_wheel.py run's JSON, or its one-line error as a ForgeError (wherever it ran: here or in a container). */
export function wheelToolResult<T>(result: { readonly failed: boolean; readonly stdout: string; readonly stderr: string; readonly shortMessage?: string }): T {
  if (!result.failed) return JSON.parse(result.stdout) as T;
  const line = result.stderr ? result.stderr.split('\n').pop()! : (result.shortMessage ?? 'failed').split('\n')[0]!;
  throw new ForgeError(line.replace(/^error: /, ''));
}
