import type { ExecutorContext } from '@nx/devkit';
import type { ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import { UPLOAD_EXECUTOR, UPLOAD_WHEELS_EXECUTOR } from '../nx/plugin.js';
import { parseUploadChannel, requireUploadCredentials } from '../store/upload-channel.js';

/**
 * Fails a run that will upload to prefix.dev without PREFIX_API_KEY, or
 * publish wheels with no wheel index set, at its first solve or build, not
 * after hours of builds. Nx gives every executor
 * the whole run's task graph, so the check needs no plugin hook: a
 * preTasksExecution hook would make Nx start the plugin's worker again for
 * every command the daemon serves (0.21 s each, measured).
 */
export function checkRunPreflight(context: ExecutorContext, forge: ForgeOptions): void {
  // By executor, not by target name: another project's own `upload` target is none of forge's business.
  const executors = new Set(
    Object.values(context.taskGraph?.tasks ?? {}).map(({ target }) => context.projectsConfigurations?.projects[target.project]?.targets?.[target.target]?.executor),
  );
  if (executors.has(UPLOAD_EXECUTOR)) requireUploadCredentials(parseUploadChannel(forge.uploadChannel, context.root));
  if (executors.has(UPLOAD_WHEELS_EXECUTOR)) requireWheelIndex(forge);
}

export function requireWheelIndex(forge: ForgeOptions): string {
  if (!forge.wheelIndex) throw new ForgeError('set `wheelIndex` in the forge plugin options (a folder) to publish wheels', { file: 'nx.json' });
  return forge.wheelIndex;
}
