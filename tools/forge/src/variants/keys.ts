/**
 * rattler-build's NormalizedKey: `cuda-version`, `cuda_version` and
 * `cuda.version` name the same variant key. Hash inputs use this form.
 */
export function normalizeKey(key: string): string {
  return key.replace(/[-_.]/g, '_');
}

/**
 * A variant value as rattler-build keeps it from YAML: integers and booleans
 * keep their type (and hash as JSON numbers and booleans), everything else is
 * the text as written, so an unquoted `3.10` stays "3.10", not 3.1.
 */
export type VariantValue = string | number | boolean;

/** A variant: normalized key -> value. */
export type Variant = Readonly<Record<string, VariantValue>>;

/** Keys every render has in its variant config (rattler-build's ALWAYS_INCLUDED_VARS). */
export const ALWAYS_INCLUDED = ['target_platform', 'channel_targets', 'channel_sources'] as const;

/** Byte-wise order of normalized keys, the order of rattler-build's BTreeMap. */
export function sortedKeys(variant: Variant): string[] {
  return Object.keys(variant).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
