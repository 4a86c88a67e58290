import { createRequire } from 'node:module';

/**
 * What rattler-build refuses in an `about.license` SPDX expression, judged as its parser
 * does (the `spdx` crate, strict mode: ids exactly as listed, no deprecated ids), so forge
 * can refuse it with a line where the engine refuses it only when the variant builds.
 *
 * The ids come from spdx-license-ids (the list npm's own license checks use, kept in step
 * with the SPDX license list), not from a copy here: the engine's list is compiled into its
 * binary, where forge cannot read it. That list must be at least as new as the engine's
 * (bad-input.test.ts asks the engine about every id of it): an id the engine knows and the
 * package not would be refused here and accepted there. An id only the package knows is
 * accepted here and left to the engine.
 */
const require = createRequire(import.meta.url);
const IDS: ReadonlySet<string> = new Set(require('spdx-license-ids') as string[]);
const DEPRECATED: ReadonlySet<string> = new Set(require('spdx-license-ids/deprecated.json') as string[]);
const BY_LOWER_CASE: ReadonlyMap<string, string> = new Map([...IDS].map((id) => [id.toLowerCase(), id]));

const OPERATOR = /^(and|or|with)$/i;

/** Why the engine refuses this license expression (to follow the expression in a message), or undefined where forge sees no reason to. */
export function licenseProblem(value: string): string | undefined {
  const tokens = value.replace(/[()]/g, ' ').split(/\s+/).filter(Boolean);
  const alternates = tokens.length % 2 === 1 && tokens.every((token, i) => OPERATOR.test(token) === (i % 2 === 1));
  if (!alternates) return 'is not an SPDX license expression, which rattler-build requires (ids such as MIT, Apache-2.0, BSD-3-Clause, joined by AND, OR, WITH)';
  for (const [i, token] of tokens.entries()) {
    // The term after WITH is an exception (`LLVM-exception`), of another list: left to the engine.
    if (i % 2 === 1 || /^with$/i.test(tokens[i - 1] ?? '')) continue;
    const problem = idProblem(token);
    if (problem) return tokens.length === 1 ? problem : `uses \`${token}\`, which ${problem}`;
  }
  return undefined;
}

function idProblem(token: string): string | undefined {
  // `Apache-2.0+` is "or later" of a listed id (the engine judges where `+` may stand).
  const id = token.endsWith('+') ? token.slice(0, -1) : token;
  // A license of one's own, and SPDX's own term for "not stated", which the engine's list carries.
  if (/^(DocumentRef-[^:]*:)?LicenseRef-/.test(id) || id === 'NOASSERTION') return undefined;
  if (IDS.has(id)) return undefined;
  if (DEPRECATED.has(id)) {
    const current = [`${id}-only`, `${id}-or-later`].filter((name) => IDS.has(name));
    return `is a deprecated SPDX id, which rattler-build refuses${current.length ? ` (write ${current.join(' or ')})` : ''}`;
  }
  // The engine's list also names each GNU license by its root (`GFDL-1.3-invariants`, beside -only and -or-later).
  if (IDS.has(`${id}-only`)) return undefined;
  const cased = BY_LOWER_CASE.get(id.toLowerCase());
  const hint = cased ? `write \`${cased}\`: ids are case-sensitive` : 'see https://spdx.org/licenses, or write LicenseRef-<name> for a license of your own';
  return `is not on the SPDX license list rattler-build checks against (${hint})`;
}
