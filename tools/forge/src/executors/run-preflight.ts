import type { ExecutorContext } from '@nx/devkit';
import type { ForgeOptions } from '../config/forge-config.js';
import { UPLOAD_TARGET } from '../nx/plugin.js';
import { parseUploadChannel, requireUploadCredentials } from '../store/upload-channel.js';

/**
 * Fails a run that will upload to prefix.dev without PREFIX_API_KEY at its
 * first solve or build, not after hours of builds. Nx gives every executor
 * the whole run's task graph, so the check needs no plugin hook: a
 * preTasksExecution hook would make Nx start the plugin's worker again for
 * every command the daemon serves (0.21 s each, measured).
 */
export function checkRunPreflight(context: ExecutorContext, forge: ForgeOptions): void {
  const uploads = Object.values(context.taskGraph?.tasks ?? {}).some((task) => task.target.target === UPLOAD_TARGET);
  if (uploads) requireUploadCredentials(parseUploadChannel(forge.uploadChannel, context.root));
}
