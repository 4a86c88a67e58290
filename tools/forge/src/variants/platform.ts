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
 * (its os_vars). A variant config may override them, and then they are part of
 * every variant of that platform, used by the recipe or not. Measured against
 * py-rattler-build 0.73 on each platform (fixtures/format/os-env-keys checks them
 * all); the engine's source has more that only some builds set (CFLAGS: no).
 */
export function osEnvVarKeys(targetPlatform: string): ReadonlySet<string> {
  let keys = OS_ENV_KEYS.get(targetPlatform);
  if (!keys) OS_ENV_KEYS.set(targetPlatform, (keys = new Set(computeOsEnvVarKeys(targetPlatform))));
  return keys;
}

const OS_ENV_KEYS = new Map<string, ReadonlySet<string>>();

function computeOsEnvVarKeys(targetPlatform: string): string[] {
  const keys = ['CPU_COUNT', 'LANG', 'LC_ALL', 'SHLIB_EXT', 'BUILD'];
  const family = targetPlatform.split('-')[0];
  if (family === 'win') {
    keys.push('Path', 'LIBRARY_PREFIX', 'LIBRARY_BIN', 'LIBRARY_INC', 'LIBRARY_LIB', 'LIB', 'INCLUDE', 'SCRIPTS', 'CYGWIN_PREFIX');
    // What a Windows build passes through from the machine (the engine's default_env_vars_build).
    keys.push(
      ...['ALLUSERSPROFILE', 'APPDATA', 'CommonProgramFiles', 'CommonProgramFiles(x86)', 'CommonProgramW6432', 'COMPUTERNAME', 'ComSpec', 'HOMEDRIVE', 'HOMEPATH'],
      ...['LOCALAPPDATA', 'LOGONSERVER', 'NUMBER_OF_PROCESSORS', 'PATHEXT', 'ProgramData', 'ProgramFiles', 'ProgramFiles(x86)', 'ProgramW6432', 'PROMPT'],
      ...['PSModulePath', 'PUBLIC', 'SystemDrive', 'SystemRoot', 'TEMP', 'TMP', 'USERDOMAIN', 'USERNAME', 'USERPROFILE', 'windir'],
      ...['PROCESSOR_ARCHITEW6432', 'PROCESSOR_ARCHITECTURE', 'PROCESSOR_IDENTIFIER'],
    );
  } else {
    keys.push('PATH', 'HOME', 'USER', 'SHELL', 'EDITOR', 'TERM', 'PKG_CONFIG_PATH', 'CMAKE_GENERATOR', 'SSL_CERT_FILE');
  }
  if (family === 'linux') keys.push('LD_RUN_PATH', 'DEJAGNU', 'DISPLAY', 'QEMU_LD_PREFIX', 'QEMU_UNAME');
  if (family === 'osx') keys.push('MACOSX_DEPLOYMENT_TARGET', 'OSX_ARCH');
  return keys;
}
