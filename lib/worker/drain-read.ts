import type { Logger } from '../observe/logger.js';
import type { GroupReader } from '../stream/group-reader.js';
import type { Queued } from '../stream/retry-queue.js';

/**
 * At stop, a read still blocked may deliver entries: `process` them (as the loop would) rather
 * than leave them for reclaim; when `paused`, they are left pending. An error is logged, never thrown.
 */
export async function drainInflightRead(
  reader: GroupReader,
  paused: () => boolean,
  process: (batch: Queued[], fence: string, connGeneration: number) => Promise<void>,
  logger: Logger,
): Promise<void> {
  try {
    const last = await reader.drain();
    if (last.entries.length > 0 && !paused())
      await process(
        last.entries.map((entry) => ({ entry, attempt: 1, dueAt: 0 })),
        last.fence,
        last.connGeneration,
      );
  } catch (err) {
    logger.warn('consumer.drain_read_error', { err });
  }
}
