import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import type { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import { liveFusedRoutes } from '../ops/fusion-live.js';
import { isMissingGroup } from '../core/redis-replies.js';

export interface ConsumerView {
  name: string;
  /** The shard whose group it reads (sharded pipelines: a worker has one consumer per shard it reads). */
  shard?: number;
  /** ms since the consumer last read (XINFO CONSUMERS idle). */
  idleMs: number;
  /** Entries it holds (delivered, not acked). */
  pending: number;
  /** The oldest entries it holds: id, ms since delivery, deliveries. */
  holds: { id: string; idleMs: number; deliveries: number }[];
  /** Its watchdog's liveness record (phase, processed, progressAt), or null: no progress for blockMs + stallTimeoutMs, or gone. */
  watchdog: Record<string, unknown> | null;
  /**
   * False when its alive key (rewritten every `watchdogIntervalMs`, gone `aliveTtlMs` after the last beat) is gone
   * while its registration stays, as lib/worker/liveness-handover.ts reads them: a process killed or frozen, whose
   * liveness record outlives it by up to `blockMs + stallTimeoutMs`. True for a consumer that keeps no alive key (an older release).
   */
  alive: boolean;
}

export interface StageWorkers {
  stage: string;
  consumers: ConsumerView[];
  /** The worker process it runs in (config `process`, else its own name). */
  process: string;
  /** Stages of its process whose batches run it fused, as their workers report (lib/ops/fusion-live.ts): its own stream sees only the rest, so no consumer of its own is no sign of trouble. */
  fusedAfter: string[];
  /** Its liveness markers under the consumer names of the other stages of its process, when it has no consumer of its own. */
  markers: { consumer: string; shard?: number; watchdog: Record<string, unknown> }[];
}

export interface WorkersView {
  stages: StageWorkers[];
  /** Autoscaler decisions and watchdog events, newest first, from the log stream `{p}:logs` (config logs.stream). */
  events: Record<string, unknown>[];
  /** The log stream read for `events` and how many of its newest lines were read (0: empty, or nobody writes it). */
  logs: { key: string; scanned: number };
}

const pairs = (raw: unknown[]) => {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), raw[i + 1]);
  return m;
};

/** Log events the workers view shows. */
const EVENT = /^(autoscale\.|supervisor\.|watchdog\.)/;

const parseMarker = (marker: string): Record<string, unknown> => {
  try {
    return JSON.parse(marker) as Record<string, unknown>;
  } catch {
    return { raw: marker };
  }
};

/**
 * Consumers per stage (XINFO CONSUMERS) with idle time, what each holds (XPENDING per consumer,
 * the oldest `holdCount`) and its watchdog marker (`{p}:liveness:<stage>:<consumer>`); autoscaler,
 * supervisor and watchdog events from the newest `logScan` lines of `{p}:logs`. A stage that runs
 * fused in another's batch says so (`fusedAfter`, `process`) with the markers of its process.
 * Sharded (`space` with shards > 1): the consumers of every shard's group, each with its shard,
 * and its marker on that shard; the log stream is the pipeline's own (`logKeys`, `{p}:logs`).
 */
export async function workersView(
  redis: Redis,
  config: ResolvedConfig,
  space: Keys | Shards,
  logKeys: Keys = Shards.of(space).all[0]!,
  o: { holdCount?: number; logScan?: number } = {},
): Promise<WorkersView> {
  const shards = Shards.of(space);
  const fused = await liveFusedRoutes(redis, config, shards);
  const sharded = shards.count > 1;
  const stages = await Promise.all(
    config.stages.map(async (s): Promise<StageWorkers> => {
      const perShard = await Promise.all(shards.all.map((keys, shard) => stageConsumers(redis, keys, s, sharded ? shard : undefined, o.holdCount ?? 5)));
      const fusedAfter = fused.filter((r) => r.to === s.name).map((r) => r.from);
      return { stage: s.name, consumers: perShard.flat(), process: s.process, fusedAfter, markers: [] };
    }),
  );
  // A fused stage with no consumer of its own: its watchdog's markers under its process's consumer names (on their shards).
  for (const st of stages) {
    if (st.consumers.length || !st.fusedAfter.length) continue;
    const seen = new Set<string>();
    const names = stages
      .filter((o) => o.process === st.process)
      .flatMap((o) => o.consumers.map((c) => ({ consumer: c.name, shard: c.shard })))
      .filter((n) => !seen.has(`${n.shard}/${n.consumer}`) && !!seen.add(`${n.shard}/${n.consumer}`));
    const found = await Promise.all(names.map((n) => redis.get(shards.all[n.shard ?? 0]!.liveness(st.stage, n.consumer))));
    st.markers = names.flatMap((n, i) =>
      found[i] === null || found[i] === undefined
        ? []
        : [{ consumer: n.consumer, ...(n.shard === undefined ? {} : { shard: n.shard }), watchdog: parseMarker(found[i]!) }],
    );
  }
  const lines = (await redis.xrevrange(logKeys.extra('logs'), '+', '-', 'COUNT', o.logScan ?? 2000)) as [string, string[]][];
  const events: Record<string, unknown>[] = [];
  for (const [, fields] of lines) {
    const i = fields.indexOf('log');
    if (i < 0) continue;
    try {
      const rec = JSON.parse(fields[i + 1]!) as Record<string, unknown>;
      if (typeof rec.event === 'string' && EVENT.test(rec.event)) events.push(rec);
    } catch {
      // not JSON: not an event of ours
    }
    if (events.length >= 100) break;
  }
  return { stages, events, logs: { key: logKeys.extra('logs'), scanned: lines.length } };
}

/** One shard's consumers of a stage's group, with what each holds and its liveness marker. */
async function stageConsumers(
  redis: Redis,
  keys: Keys,
  s: { name: string; input: string },
  shard: number | undefined,
  holdCount: number,
): Promise<ConsumerView[]> {
  let raw: unknown[][] = [];
  try {
    raw = (await redis.xinfo('CONSUMERS', keys.stream(s.input), s.name)) as unknown[][];
  } catch (err) {
    if (!isMissingGroup(err)) throw err;
  }
  return Promise.all(
    raw.map(async (c) => {
      const m = pairs(c);
      const name = String(m.get('name'));
      const pending = Number(m.get('pending') ?? 0);
      const [holds, marker, beats] = await Promise.all([
        pending > 0
          ? (redis.xpending(keys.stream(s.input), s.name, '-', '+', holdCount, name) as Promise<[string, string, number, number][]>)
          : Promise.resolve([]),
        redis.get(keys.liveness(s.name, name)),
        redis.mget(keys.livenessAlive(s.name, name), keys.livenessRegistration(s.name, name)),
      ]);
      const watchdog = marker === null ? null : parseMarker(marker);
      return {
        name,
        ...(shard === undefined ? {} : { shard }),
        idleMs: Number(m.get('idle') ?? 0),
        pending,
        holds: holds.map(([id, , idle, n]) => ({ id, idleMs: Number(idle), deliveries: Number(n) })),
        watchdog,
        alive: beats[0] !== null || beats[1] === null,
      };
    }),
  );
}
