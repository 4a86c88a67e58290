import type { ExecutorContext } from '@nx/devkit';
import { describeError } from '../errors.js';
import { startWheelRun } from './context.js';
import { checkRunPreflight } from './run-preflight.js';
import { buildWheelTask } from './wheel-build.js';

export interface WheelExecutorOptions {
  /** The variant id, e.g. `py3.12-cuda13.0-torch2.11.0`. */
  readonly variant: string;
}

/**
 * Builds, tests, labels and places one wheel variant of a wheel project, unless
 * its content key is in the wheelhouse or published in the wheel index. A
 * variant the machine cannot build (`host` with another toolkit) succeeds as
 * skipped, with the reason in the log.
 */
export default async function wheelExecutor(options: WheelExecutorOptions, context: ExecutorContext): Promise<{ success: boolean }> {
  const project = context.projectName!;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const run = startWheelRun(context.root);
    checkRunPreflight(context, run.forge);
    const outcome = await buildWheelTask(run, project, options.variant, log);
    return { success: outcome !== 'failed' };
  } catch (error) {
    log(`${project}:${options.variant}: error: ${describeError(error)}`);
    return { success: false };
  }
}
