import { archNames, platformArch, platformNames } from '@conda-org/rattler';
import { ForgeError } from '../errors.js';

/**
 * The platform variables rattler-build puts in every Jinja context
 * (`linux`, `unix`, `x86_64`, `linux64`, `target_platform`, …), derived from
 * rattler's own platform table so new platforms appear without code here.
 */
export function platformVariables(targetPlatform: string, buildPlatform = targetPlatform): Readonly<Record<string, unknown>> {
  const id = `${targetPlatform}\0${buildPlatform}`;
  let vars = platformMemo.get(id);
  if (!vars) platformMemo.set(id, (vars = Object.freeze(computePlatformVariables(targetPlatform, buildPlatform))));
  return vars;
}

/** Every combination of every recipe asks for the same few platforms. */
const platformMemo = new Map<string, Readonly<Record<string, unknown>>>();

function computePlatformVariables(targetPlatform: string, buildPlatform: string): Record<string, unknown> {
  // Checked here, where rattler is loaded anyway (a render-cache miss, and the key holds the platform).
  if (targetPlatform === 'noarch' || targetPlatform === 'unknown' || !platformNames.includes(targetPlatform as (typeof platformNames)[number])) {
    const known = platformNames.filter((p) => p !== 'noarch' && p !== 'unknown');
    throw new ForgeError(`option \`targetPlatform\` must be a conda platform, got \`${targetPlatform}\` (known: ${known.join(', ')})`, { file: 'nx.json' });
  }
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

/**
 * Environment variables rattler-build sets for a build on the target platform
 * (env_vars::os_vars). A variant config may override them, and then they are
 * part of every variant of that platform, used by the recipe or not.
 */
export function osEnvVarKeys(targetPlatform: string): ReadonlySet<string> {
  const keys = ['CPU_COUNT', 'LANG', 'LC_ALL', 'SHLIB_EXT'];
  const family = targetPlatform.split('-')[0];
  if (family === 'win') keys.push('Path', 'LIBRARY_PREFIX', 'LIBRARY_BIN', 'LIBRARY_INC', 'LIBRARY_LIB', 'SCRIPTS', 'USERPROFILE');
  else keys.push('PATH', 'HOME', 'USER', 'SHELL', 'EDITOR', 'TERM');
  if (family === 'linux') keys.push('BUILD', 'CFLAGS', 'CXXFLAGS', 'LDFLAGS', 'LD_RUN_PATH', 'DEJAGNU', 'DISPLAY', 'QEMU_LD_PREFIX', 'QEMU_UNAME');
  if (family === 'osx') keys.push('MACOSX_DEPLOYMENT_TARGET', 'OSX_ARCH', 'BUILD');
  return new Set(keys);
}
