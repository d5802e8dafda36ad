import { watchParents } from '../core/parent-watch.js';
import type { Logger } from '../observe/logger.js';

export interface ShutdownOptions {
  /**
   * Runs synchronously when a second signal cuts the graceful stop short, just before the exit
   * (130): e.g. SIGKILL the children a supervisor started, which would otherwise outlive it.
   * @defaultValue nothing
   */
  force?: (signal: string) => void;
  /**
   * Also stop gracefully when the parent's IPC channel closes (the parent is gone: killed, or its
   * terminal hung up). Only in a process started with an IPC channel (`pipeline up` and
   * `pipeline start` start their workers with one). @defaultValue false
   */
  parentGone?: boolean;
  /**
   * Also stop gracefully once a process this one was started under is gone (lib/core/parent-watch.ts),
   * polled this often (ms; 0: not watched): `npx pipeline up &` or `npm start &` whose npm or npx
   * was signalled alone (npm does not pass the signal on to node). Logs `parent.gone` (warn).
   * @defaultValue 0
   */
  parentPollMs?: number;
}

/**
 * SIGTERM / SIGINT / SIGHUP (a closed terminal, an ssh disconnect) run `graceful` once; a second
 * signal while it runs exits at once (exit code 130, after `force`), so a stuck drain can always
 * be cut short by hand. Returns a function that removes the handlers.
 */
export function onShutdownSignal(graceful: (signal: string) => Promise<void>, logger: Logger, opts: ShutdownOptions = {}): () => void {
  let started = false;
  const handler = (signal: string) => {
    if (started) {
      if (signal === 'disconnect' || signal === 'parent-gone') return; // the parent went during a stop already under way
      logger.warn('shutdown.forced', { signal });
      try {
        opts.force?.(signal);
      } finally {
        process.exit(130);
      }
    }
    started = true;
    unwatch();
    logger.info('shutdown.begin', { signal });
    graceful(signal).then(
      () => logger.info('shutdown.done', { signal }),
      (err: unknown) => {
        logger.error('shutdown.error', { err });
        process.exitCode = 1;
      },
    );
  };
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, handler);
  const onDisconnect = () => handler('disconnect');
  const unwatch = watchParents(opts.parentPollMs ?? 0, (why) => {
    logger.warn('parent.gone', { why });
    handler('parent-gone');
  });
  const watchParent = opts.parentGone === true && process.channel !== undefined;
  if (watchParent) {
    process.once('disconnect', onDisconnect);
    process.channel!.unref(); // the channel alone must not keep the process alive
  }
  return () => {
    unwatch();
    for (const s of signals) process.off(s, handler);
    if (watchParent) process.off('disconnect', onDisconnect);
  };
}
