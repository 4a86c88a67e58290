import { archNames, platformArch, platformNames } from '@conda-org/rattler';

/**
 * The platform variables rattler-build puts in every Jinja context
 * (`linux`, `unix`, `x86_64`, `linux64`, `target_platform`, …), derived from
 * rattler's own platform table so new platforms appear without code here.
 */
export function platformVariables(targetPlatform: string, buildPlatform = targetPlatform): Record<string, unknown> {
  const family = (platform: string) => platform.split('-')[0]!;
  const vars: Record<string, unknown> = {
    target_platform: targetPlatform,
    build_platform: buildPlatform,
    host_platform: targetPlatform,
    unix: !targetPlatform.startsWith('win-'),
    SHLIB_EXT: targetPlatform.startsWith('win-') ? '.dll' : targetPlatform.startsWith('osx-') ? '.dylib' : '.so',
  };
  const arch = safeArch(targetPlatform);
  for (const name of archNames) vars[name] = name === arch;
  for (const platform of platformNames) {
    if (platform === 'noarch' || platform === 'unknown') continue;
    vars[platform.replace('-', '')] = platform === targetPlatform;
    const fam = family(platform);
    if (!(fam in vars) || vars[fam] === false) vars[fam] = fam === family(targetPlatform);
  }
  vars.ios = family(targetPlatform).startsWith('ios');
  return vars;
}

function safeArch(platform: string): string | undefined {
  try {
    return platformArch(platform as Parameters<typeof platformArch>[0]) ?? undefined;
  } catch {
    return undefined;
  }
}
