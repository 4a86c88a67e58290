import { isAbsolute, relative } from 'node:path';

/**
 * The one error type users see. Every failure that comes from input (a recipe,
 * variants.yaml, the workspace) is a ForgeError naming the file and, where it is
 * known, the line, so the CLI and the Nx plugin can print one line instead of a
 * stack trace.
 */
export class ForgeError extends Error {
  readonly file: string | undefined;
  readonly line: number | undefined;

  constructor(message: string, where: { file?: string | undefined; line?: number | undefined } = {}) {
    super(message);
    this.name = 'ForgeError';
    this.file = where.file;
    this.line = where.line;
  }

  /** `file:line: message`, the shape compilers and linters print. */
  format(): string {
    if (!this.file) return this.message;
    return `${this.file}${this.line ? `:${this.line}` : ''}: ${this.message}`;
  }
}

/** What a command prints for a ForgeError: `<tool>: error: file:line: message`, ending in exactly one newline. */
export function errorLine(tool: string, error: ForgeError): string {
  return `${tool}: error: ${error.format().trimEnd()}\n`;
}

export function isForgeError(error: unknown): error is ForgeError {
  return error instanceof ForgeError;
}

/** Attach a file (and line) to an error raised without knowing where it came from. */
export function inFile(error: unknown, file: string, line?: number): ForgeError {
  if (isForgeError(error)) {
    return error.file ? error : new ForgeError(error.message, { file, line: error.line ?? line });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ForgeError(message, { file, line });
}

/**
 * A file-system error (an output folder that cannot be written, a full disk,
 * a file where a folder should be) as a ForgeError naming the path: the
 * user's environment, not a bug, so one line rather than a stack trace.
 * Undefined for any other error.
 */
export function fromSystemError(error: unknown): ForgeError | undefined {
  const { code, syscall, path, message } = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof code !== 'string' || typeof syscall !== 'string' || typeof path !== 'string') return undefined;
  // Node words it `EACCES: permission denied, mkdir '/x'`: keep the reason.
  const reason = message.replace(/^[A-Z]+: /, '').split(', ')[0];
  const shown = relative(process.cwd(), path);
  return new ForgeError(`cannot ${syscall}: ${reason} (${code})`, { file: shown && !shown.startsWith('..') && !isAbsolute(shown) ? shown : path });
}

/** One line for a task's log: a ForgeError as `file:line: message`, a file-system error with its path, else the message's first line (no stack). */
export function describeError(error: unknown): string {
  const known = isForgeError(error) ? error : fromSystemError(error);
  if (known) return known.format();
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
