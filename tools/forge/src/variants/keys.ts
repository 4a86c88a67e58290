/**
 * rattler-build's NormalizedKey: `cuda-version`, `cuda_version` and
 * `cuda.version` name the same variant key. Hash inputs use this form.
 */
export function normalizeKey(key: string): string {
  return key.replace(/[-_.]/g, '_');
}

/** A variant: normalized key -> value as the engine prints it. */
export type Variant = Readonly<Record<string, string>>;

/** Keys every render has in its variant config (rattler-build's ALWAYS_INCLUDED_VARS). */
export const ALWAYS_INCLUDED = ['target_platform', 'channel_targets', 'channel_sources'] as const;

/** Byte-wise order of normalized keys, the order of rattler-build's BTreeMap. */
export function sortedKeys(variant: Variant): string[] {
  return Object.keys(variant).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
