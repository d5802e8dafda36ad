import type { Redis } from 'ioredis';
import { library, libraryPresent } from '../redis/functions.js';

/**
 * Why a stage shows no consumer or no progress when the pipeline's Redis Functions library is not
 * loaded: a worker whose Redis user may not load it (FUNCTION LOAD: only the admin may) waits for it
 * at start, before it joins its group or writes a liveness record (lib/redis/functions.ts
 * `awaitLibrary`), so `pipeline health` found nothing to read and said only "no consumer". Asked
 * with the library's read-only probe (FCALL_RO, which every pipeline user may run) on the master of
 * `key` (the stage's input stream). Undefined when the library is there, or when it cannot be asked
 * (the reason already given stands).
 */
export async function functionsWaitReason(redis: Redis, stage: string, key: string): Promise<string | undefined> {
  const lib = library();
  const present = await libraryPresent(redis, lib, [key]).catch(() => true);
  if (present) return undefined;
  return `the Redis Functions library ${lib.name} is not loaded: stage ${stage}'s worker waits for it at start (its Redis user may not load it); run \`pipeline functions load\` as the admin (or \`pipeline acl --apply\`, which loads it too)`;
}
