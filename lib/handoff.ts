import type { Redis } from 'ioredis';
import { Script } from './redis/script.js';

const script = new Script('handoff-N');

/** One message's hand-off: ack `id`, and (only if that ack removed it) add `fields` to each target. */
export interface Forward {
  id: string;
  /** Full stream keys; empty = ack only. */
  targets: readonly string[];
  fields: readonly (string | Buffer)[];
}

/**
 * Forward results and ack inputs in one script call per batch. Returns, per message, whether this
 * call acked it (false: another consumer already had, so nothing was forwarded twice).
 */
export async function handOff(redis: Redis, source: string, group: string, forwards: readonly Forward[]): Promise<boolean[]> {
  if (forwards.length === 0) return [];
  const keys = [source];
  const index = new Map<string, number>();
  const args: (string | Buffer | number)[] = [group, forwards.length];
  for (const f of forwards) {
    args.push(f.id, f.targets.length);
    for (const t of f.targets) {
      let i = index.get(t);
      if (i === undefined) {
        keys.push(t);
        i = keys.length; // Lua KEYS are 1-based
        index.set(t, i);
      }
      args.push(i);
    }
    args.push(f.fields.length / 2, ...f.fields);
  }
  const acked = await script.run<number[]>(redis, keys, args);
  return acked.map((n) => n === 1);
}
