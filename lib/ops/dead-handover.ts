import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/types.js';
import { SUPERVISOR_DEFAULTS } from '../config/defaults.js';
import { within } from '../core/io-deadline.js';
import type { Logger } from '../observe/logger.js';
import { noopMetrics, type Metrics } from '../observe/metrics.js';
import { Connections } from '../redis/connections.js';
import { consumerName } from '../redis/keys.js';
import { handOverConsumer } from '../stream/hand-over-dead.js';
import { configShards } from '../redis/shard.js';
import type { Redis } from 'ioredis';

export interface DeadHandoverOptions {
  config: ResolvedConfig;
  /** The stages the process ran (`pipeline worker a,b`); names not in the config are skipped. */
  stages: readonly string[];
  /** The process that is gone: its consumers are `<host>-<pid>-0` (lib/redis/keys.ts consumerName, what `worker.started` logs). */
  pid: number;
  /** `performance.now()` when its exit was seen: only entries idle at least that long since are touched. */
  exitedAt: number;
  /** How it exited, for the log line. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** The host the process ran on. @defaultValue os.hostname() (a supervisor's children run on its host) */
  host?: string;
  logger: Logger;
  /** Receives `supervisor.handed_over`. @defaultValue no-op */
  metrics?: Metrics;
  /** Given up after this long (Redis down): the entries then wait `claimMinIdleMs`. @defaultValue config `supervisor.handOverTimeoutMs` (5000) */
  timeoutMs?: number;
  /** Entries per script call. @defaultValue 500 */
  pageSize?: number;
}

/**
 * A worker process known to be dead (its supervisor saw it exit) hands its pending entries over
 * at once: in every group it read (each stage it ran, on each shard), its consumer's entries are
 * made claimable now (lib/lua/hand-over-dead-1.lua), and the next reclaimer pass of any consumer
 * of the group, a sibling or the restarted worker, claims them through claim-3.lua (fenced),
 * instead of after `claimMinIdleMs`. Delivery counts are kept. Each stage is reached as its own
 * Redis user (`stage.redisUrl`, as its workers). Returns how many entries were handed over; a
 * failure or a timeout is logged (`supervisor.hand_over_failed`), never thrown.
 */
export async function handOverDead(o: DeadHandoverOptions): Promise<number> {
  const consumer = consumerName(o.host ?? hostname(), o.pid, 0);
  const timeoutMs = o.timeoutMs ?? o.config.supervisor.handOverTimeoutMs ?? SUPERVISOR_DEFAULTS.handOverTimeoutMs;
  const byUrl = new Map<string, Connections>();
  const redisFor = (url: string): Redis => {
    let c = byUrl.get(url);
    if (!c) {
      c = new Connections({ url, name: `supervisor:${consumerName(hostname(), process.pid, 0)}:handover`, logger: o.logger });
      byUrl.set(url, c);
    }
    return c.command();
  };
  const counts = new Map<string, number>();
  const stages = o.config.stages.filter((s) => o.stages.includes(s.name));
  const work = (async () => {
    for (const stage of stages) {
      for (const keys of configShards(o.config).all) {
        const n = await handOverKey(redisFor(stage.redisUrl), keys.stream(stage.input), stage.name, consumer, stage.claimMinIdleMs, o);
        counts.set(stage.name, (counts.get(stage.name) ?? 0) + n);
      }
    }
    return true;
  })();
  const started = performance.now();
  const fields = { pid: o.pid, consumer, code: o.exit?.code, signal: o.exit?.signal };
  try {
    if ((await within(timeoutMs, work)) === undefined) o.logger.warn('supervisor.hand_over_failed', { ...fields, timeoutMs, err: 'timed out' });
  } catch (err) {
    o.logger.warn('supervisor.hand_over_failed', { ...fields, err });
  } finally {
    await Promise.all([...byUrl.values()].map((c) => c.close()));
  }
  let total = 0;
  for (const [stage, entries] of counts) {
    if (entries === 0) continue;
    total += entries;
    (o.metrics ?? noopMetrics).increment('supervisor.handed_over', entries, { stage });
    o.logger.info('supervisor.handed_over', { stage, ...fields, entries, ms: Math.round(performance.now() - started) });
  }
  return total;
}

/** One group's entries of the dead consumer (lib/stream/hand-over-dead.ts). */
async function handOverKey(redis: Redis, stream: string, group: string, consumer: string, claimMinIdleMs: number, o: DeadHandoverOptions): Promise<number> {
  // Connected before the time since the exit is read: this connection is new, and the time it takes
  // to come up (tens of ms on a busy host) would age a newer same-named reader's entries past it.
  await redis.ping();
  // Recomputed per call: the dead process touched nothing since its exit, so all its entries stay in.
  return handOverConsumer(redis, { stream, group, consumer, claimMinIdleMs, pageSize: o.pageSize, minIdleMs: () => performance.now() - o.exitedAt });
}
