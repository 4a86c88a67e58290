import { onExit } from 'signal-exit';

const stack: Array<() => void> = [];
let installed = false;

/**
 * Runs `cleanup` if this process ends (exit, SIGINT, SIGTERM, SIGHUP, …)
 * before the returned function is called. Clean-ups run last-registered
 * first, like C's atexit: a build takes its lock, then makes its staging
 * folder, then starts the engine, and on the way out the engine must be
 * stopped before its folder goes, and the folder must go before the lock
 * that guards it. signal-exit does the signal handling (and re-raises the
 * signal afterwards); it runs its own hooks in registration order, hence one
 * hook and this stack.
 */
export function atExit(cleanup: () => void): () => void {
  if (!installed) {
    installed = true;
    onExit(() => {
      for (const run of stack.splice(0).reverse()) {
        try {
          run();
        } catch {
          // the next clean-up still runs
        }
      }
    });
  }
  stack.push(cleanup);
  return () => {
    const index = stack.lastIndexOf(cleanup);
    if (index >= 0) stack.splice(index, 1);
  };
}
