import type { Redis } from 'ioredis';
import type { Message } from '../stream/codec.js';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';

/** One message's outcome: an output to route, or an error (retried, then dead-lettered). */
export type StageResult = { ok: true; output: Record<string, unknown> } | { ok: false; error: Error };

export const ok = (output: Record<string, unknown>): StageResult => ({ ok: true, output });
export const fail = (error: Error): StageResult => ({ ok: false, error });

/** What a stage may use: its config, the shared command connection, logs and metrics. */
export interface StageContext {
  config: ResolvedConfig;
  stage: ResolvedStage;
  keys: Keys;
  /** The process's shared (non-blocking) command connection. */
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
}

/**
 * What a stage does to a batch. `process` gets what one read returned and returns one result per
 * message, in order; a model stage runs the whole batch as one model call.
 */
export interface Stage {
  readonly kind: string;
  /** Model name, for logs and the stored record's provenance. */
  readonly model?: string;
  /** The model version its outputs name (`modelVersion`): kept in the worker's liveness marker, where `pipeline reprocess` reads it. */
  readonly modelVersion?: string;
  /** A sink writes its results itself (e.g. the store) and forwards nothing; it has no routes. */
  readonly sink?: boolean;
  /**
   * Batches of different shards may run in `process` at the same time, one per shard at most: each
   * shard's loop reads its next batch only after handing off the last (a call abandoned at
   * `stageTimeoutMs` runs on beside it, as with one shard); in a process of several stages, where
   * the stage before it also calls it fused from its loop of the same shard, each shard's calls are
   * queued. Without it a worker reading several shards, or a stage of a process of several,
   * queues its `process` calls, one batch at a time over all of them, as models and caches written
   * for one batch at a time need. Set it where the batches of two shards share no state and a batch
   * can wait on its own shard (a write to a master that does not answer): the store stage says it
   * when its sink does (Sink.concurrentShards). Read at each call, so it may change in `init`.
   * @defaultValue false
   */
  readonly concurrentShards?: boolean;
  /** Load models and warm up; called once before the first read. */
  init?(): Promise<void>;
  process(batch: readonly Message[]): Promise<StageResult[]>;
  close?(): Promise<void>;
}

export type StageFactory = (ctx: StageContext) => Stage;
