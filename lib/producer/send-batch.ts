import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { ProduceStoppedError, ReplicationError } from '../core/errors.js';
import { connectionDrops } from '../redis/connection-drops.js';
import { ReplicaLostError, type ReplicaWait } from '../redis/replicas.js';
import { Script } from '../redis/script.js';
import { appendBatchOnce, produceArgs, producedNow } from '../stream/handoff.js';
import type { LaneBatch } from './lane.js';
import { retryBudget, retryOrThrow, type RetrySettings } from './retry.js';

const produceScript = new Script('produce-batch-2');

/** What of ProduceOptions (lib/producer/producer.ts, there documented) sending a batch reads. */
export interface SendOptions extends Omit<RetrySettings, 'onRetry'> {
  waitTimeoutMs?: number;
  /** The replicas a batch waits for, per master (from `waitReplicas`; "auto" reads the master's). @defaultValue `waitReplicas` as a number, else none */
  replicas?: ReplicaWait;
  onRetry?: (err: unknown, retriedMs: number, budgetMs: number, stream?: string) => void;
  onBatch?: (recordKeys: readonly string[], stream: string) => void;
  /** `waitReplicas` "auto": a batch that waited for its master's lost replica goes on without WAIT, the loss believed after `dropAfterMs`. @defaultValue none */
  onReplicaLost?: (stream: string, dropAfterMs: number) => void;
}

/**
 * Send one lane's batch until it is acknowledged (and replicated, with waitReplicas), or the retry
 * budget is spent, or the run stopped (`stopped`: another lane failed; no re-send then). Returns
 * how many entries this run added (0: a producer of the same run id had).
 */
export async function sendLane(redis: Redis, stream: string, stateKey: string, b: LaneBatch, opts: SendOptions, stopped: () => boolean): Promise<number> {
  const { start, fingerprint, entries } = b;
  const fixed = typeof opts.waitReplicas === 'number' ? opts.waitReplicas : 0;
  let want = fixed;
  const budget = retryBudget(opts);
  const started = Date.now();
  const retry = { ...opts, onRetry: (err: unknown, ms: number, of: number) => opts.onRetry?.(err, ms, of, stream) };
  let failingSince: number | undefined;
  let added = 0;
  // An attempt that failed may have gone through: a re-send then adds nothing, yet the batch is this run's.
  let uncertain = false;
  // auto: the master's replica was lost while this batch waited (its re-send went without WAIT).
  let lost = false;
  const drops = connectionDrops(redis);
  for (let attempt = 1; ; attempt++) {
    let short: number | undefined;
    // auto, short because the master's replica count fell: waited out until believed (or the replica back), not cut by the budget.
    let deciding = false;
    const dropsBefore = drops();
    try {
      // Read at each attempt: a re-send after a reconnect may be on another master (auto: its own replica count).
      const wanted = opts.replicas ? await opts.replicas.forKey(redis, stream) : fixed;
      lost ||= wanted < want;
      want = wanted;
      if (want === 0) added += await appendBatchOnce(redis, stream, stateKey, start, entries, fingerprint);
      else {
        const r = await appendAndWait(redis, stream, stateKey, b, want, opts.waitTimeoutMs ?? 1_000);
        added += r.added;
        short = r.replicas;
      }
      // The connection dropped meanwhile: ioredis sent the batch again by itself, and a batch that had gone through adds nothing.
      if (drops() !== dropsBefore) uncertain = true;
      if (short === undefined || short >= want) break;
      uncertain = true; // a failover may yet lose it: the re-send puts it back
      // The lost-replica decision comes before the retry budget: a count read lower is waited out until it is believed.
      const now = opts.replicas ? await opts.replicas.recheck(redis, stream) : { wanted: want };
      deciding = now.wanted < want || now.believedAt !== undefined;
      const err =
        now.believedAt !== undefined
          ? new ReplicaLostError(stream, now.believedAt - Date.now(), opts.replicas!.dropAfterMs)
          : new ReplicationError(`batch of ${stream} reached ${short} of ${want} replicas`);
      retry.onRetry(err, Date.now() - started, Math.max(budget, (now.believedAt ?? 0) - started));
    } catch (err) {
      // The retry window runs from the first failure (an attempt that fails slowly, e.g. reconnects refused at maxclients, does not eat it).
      failingSince ??= Date.now();
      uncertain = true;
      if (stopped()) throw err;
      retryOrThrow(redis, err, failingSince, budget, retry);
    }
    if (short !== undefined && !deciding && Date.now() - started >= budget) {
      throw new ReplicationError(
        `records ${start + 1}-${start + entries.length} of ${stream} reached ${short} of ${want} replicas within ${budget} ms (is a replica down?); they are in the stream`,
      );
    }
    if (stopped())
      throw new ProduceStoppedError(`produce stopped: another shard's batch failed while records ${start + 1}-${start + entries.length} of ${stream} waited`);
    await sleep(backoffMs(attempt, opts.retryBaseMs ?? 50, opts.retryMaxMs ?? 1_000));
  }
  if (lost) opts.onReplicaLost?.(stream, opts.replicas?.dropAfterMs ?? 0);
  opts.onBatch?.(
    entries.map(([k]) => k),
    stream,
  );
  return uncertain && added === 0 ? entries.length : Math.min(added, entries.length);
}

/**
 * The batch and a WAIT in one pipeline, so both go on the same connection (WAIT counts replicas
 * that have this connection's writes; on a Cluster the pipeline goes to the slot's master). Returns
 * how many entries the script added and how many replicas acknowledged. On a re-send whose batch
 * had gone through, the script still writes (it refreshes its state key), so WAIT waits for this
 * master's replicas to have it too.
 */
async function appendAndWait(
  redis: Redis,
  stream: string,
  stateKey: string,
  { start, entries, fingerprint }: LaneBatch,
  replicas: number,
  timeoutMs: number,
): Promise<{ added: number; replicas: number }> {
  const args = produceArgs(start, entries, fingerprint);
  const keys = [stream, stateKey];
  const send = async () => {
    const replies =
      (await redis
        .pipeline()
        .fcall(produceScript.fn, 2, ...keys, ...args)
        .wait(replicas, timeoutMs)
        .exec()) ?? [];
    if (replies[0]?.[0]) throw replies[0][0]; // "Function not found": produceScript loads the library and sends again
    return replies;
  };
  const [script, wait] = await produceScript.withLibrary(redis, send, keys);
  if (!script || !wait) return { added: 0, replicas: 0 }; // no reply at all: not acknowledged, sent again
  if (script[0]) throw script[0];
  if (wait[0]) throw wait[0];
  return { added: producedNow(script[1] as [number, number], stream, start), replicas: Number(wait[1]) };
}
