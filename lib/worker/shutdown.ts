import type { Logger } from '../observe/logger.js';

/**
 * SIGTERM / SIGINT run `graceful` once; a second signal while it runs exits at once (exit code 130),
 * so a stuck drain can always be cut short by hand. Returns a function that removes the handlers.
 */
export function onShutdownSignal(graceful: (signal: string) => Promise<void>, logger: Logger): () => void {
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      logger.warn('shutdown.forced', { signal });
      process.exit(130);
    }
    started = true;
    logger.info('shutdown.begin', { signal });
    graceful(signal).then(
      () => logger.info('shutdown.done', { signal }),
      (err: unknown) => {
        logger.error('shutdown.error', { err });
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
