/**
 * A reader that stops early (`pipeline dlq list --json | head -1`, `pipeline eval 2>&1 | head`)
 * closes the pipe under stdout or stderr. By default the command then exits 0 quietly, as Unix
 * tools do; a job that wrote keys of its own (`eval`, `start`: scripts/commands/job.ts) stops as on
 * a signal instead, so its workers drain and its keys are deleted. Exiting at once had left an
 * eval's `{eval-xxxxxx}` keys in the user's Redis.
 */
let closed: () => void = () => process.exit(0);
let seen = false;

/** Sets what a closed stdout or stderr does until the returned function puts the previous back. */
export function onOutputClosed(fn: () => void): () => void {
  const previous = closed;
  closed = fn;
  return () => {
    closed = previous;
  };
}

/** Watches stdout and stderr: a closed pipe (EPIPE, or a write after it) runs the handler once; another error is `fatal`. */
export function watchOutput(fatal: (err: unknown) => void): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') return fatal(err);
      if (seen) return;
      seen = true;
      closed();
    });
}
