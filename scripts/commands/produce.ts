import { closeSync, createReadStream, existsSync, openSync, rmSync } from 'node:fs';
import { newTraceId } from '../../lib/stream/codec.js';
import { FileError, ProducerGapError, RunInputMismatchError } from '../../lib/core/errors.js';
import { ReplicaLostError } from '../../lib/redis/replicas.js';
import { parseWaitReplicas } from '../../lib/core/wait-replicas.js';
import { refuseEvictingPolicy } from '../../lib/redis/policy.js';
import { produce, rejectLine, type Reject } from '../../lib/producer/producer.js';
import { configShards } from '../../lib/redis/shard.js';
import { capMaxLag, describe, shardLabel } from '../../lib/producer/backpressure.js';
import { ShardedBackpressure } from '../../lib/producer/backpressure-shards.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { checkReadable, cliRedis, explainRedisFailure, fatalAsync, loadConfig, warnEvictionPolicy, type GlobalOptions } from './common.js';
import { warnIfNoPipeline } from './pipeline-hint.js';
import { counted } from '../../lib/core/counted.js';
import type { FeedWaiter } from '../../lib/ops/feed-wait.js';
import { finishProduceWait, openProduceWait, type ProduceWaitOptions } from './produce-wait.js';
import { DEFAULT_WAIT_PROGRESS_MS } from './option-values.js';

/** `pipeline produce`'s default --retry-for: a batch waits this long for Redis (unreachable, full, at maxclients) before produce gives up. */
export const DEFAULT_RETRY_FOR_MS = 30_000;

export interface ProduceCliOptions extends GlobalOptions {
  rejects: string;
  batch: string;
  waitReplicas: string;
  /** ms; undefined = DEFAULT_RETRY_FOR_MS. */
  retryFor?: string;
  /** ms a lower replica count must last to be believed (ProduceOptions.replicaDropMs). @defaultValue 30000 */
  replicaDrop?: string;
  /** Stable run name for resuming (lib/producer/producer.ts `runId`). */
  runId?: string;
  /** ms between backpressure readings while waiting. @defaultValue 500 */
  backpressurePoll?: string;
  /** Bytes one shard's lane may hold unacknowledged before the reader waits (lib/producer/producer.ts `laneBufferBytes`). @defaultValue 16 MiB */
  laneBuffer?: string;
  /** Hold the backlog at this lag, below the stages' maxLag, so the API keeps room (capMaxLag). @defaultValue the stages' maxLag */
  maxLag?: string;
  /** After producing, wait until every record sent has reached an end (scripts/commands/produce-wait.ts). */
  wait?: boolean;
  /** With `wait`: ms to wait after the last record went in. @defaultValue none (no deadline) */
  waitTimeout?: string;
  /** With `wait` off a terminal: ms between progress lines; 0: none. @defaultValue DEFAULT_WAIT_PROGRESS_MS */
  progressEvery?: string;
  /** With `wait` off a terminal: the progress lines as JSON. */
  json?: boolean;
}

/**
 * `pipeline produce [file]`: JSONL from a file or stdin into the input stream. Exit 1 if any line
 * was rejected; with `--wait`, 4 if a record was dead-lettered, 5 if some were still in flight at
 * `--wait-timeout` (5 before 4 before 1).
 */
export async function produceCommand(fileArg: string | undefined, opts: ProduceCliOptions): Promise<void> {
  const config = loadConfig(opts);
  const file = fileArg === '-' ? undefined : fileArg;
  // Before Redis is contacted: an input that cannot be read is named as such (its path is no Redis failure).
  if (file) checkReadable(file);
  // Before the first record goes in: a rejects file that cannot be opened would otherwise fail the run at its first bad line.
  const rejectsExisted = existsSync(opts.rejects);
  try {
    closeSync(openSync(opts.rejects, 'a'));
  } catch (err) {
    throw new FileError(`--rejects ${opts.rejects}: cannot write there (${(err as Error).message})`, { cause: err });
  }
  const retryForMs = opts.retryFor !== undefined ? Number(opts.retryFor) : DEFAULT_RETRY_FOR_MS;
  const redis = cliRedis(config.redis.url, { reconnectForever: retryForMs > 0 });
  const shards = configShards(config);
  // Backpressure (limits.maxLag, Redis full), per shard: a lane waits before each batch while its
  // shard is over (each shard read against the same limits: maxLag applies per shard), the other
  // lanes go on; the message names the shard behind.
  const cap = opts.maxLag === undefined ? undefined : Number(opts.maxLag);
  const pressure = ShardedBackpressure.forInput(redis, cap === undefined ? config : capMaxLag(config, cap), shards.all, 0); // the input stage read fresh per batch (3 cheap commands), the stages after it at most once a second
  const pollMs = Number(opts.backpressurePoll ?? 500);
  const tty = process.stderr.isTTY;
  // Sharded, the waits of one shard's lane are said with the shard's name (the others' go on).
  const label = (stream?: string) => {
    const p = stream === undefined || shards.count === 1 ? undefined : pressure.of(stream)?.opts.shard;
    return p ? `${shardLabel(p)}: ` : '';
  };
  // While a lane's batch waits (Redis unreachable, full, at maxclients, a master failing over): one line per lane and cause, on stderr.
  const waiting = new Map<string, { cause: string; since: number }>();
  const explaining = new Set<string>();
  const onRetry = (err: unknown, retriedMs: number, budgetMs: number, stream = '') => {
    if (explaining.has(stream)) return;
    explaining.add(stream);
    // The lane's stream: its line names the master of its own slot, not the node another lane failed at.
    void explainRedisFailure(err, stream || undefined).then(
      (d) => {
        explaining.delete(stream);
        // Waiting cannot fix it (credentials, ACL, TLS, a database the server does not have): stop now, with its exit code.
        if (d && !d.retryable) return void fatalAsync(err);
        const cause = d?.cause ?? 'other';
        if (waiting.get(stream)?.cause === cause) return;
        waiting.set(stream, { cause, since: Date.now() - retriedMs });
        if (tty) process.stderr.write('\n');
        // A lost replica is waited out until believed (its message says how long), not to --retry-for.
        const until =
          err instanceof ReplicaLostError ? '' : `; retrying for up to ${Math.max(0, Math.round((budgetMs - retriedMs) / 1000))} s more (--retry-for)`;
        process.stderr.write(`waiting: ${label(stream)}${d ? d.line : String((err as Error)?.message ?? err)}${until}\n`);
      },
      () => explaining.delete(stream),
    );
  };
  // Records sent and not acknowledged yet: a run stopped meanwhile may have put them in (said when it stops).
  let unacknowledged = 0;
  // --wait: each id is waited for from as it is sent (opened before the first send).
  let waiter: FeedWaiter | undefined;
  const onSend = (n: number, _stream: string, keys: readonly string[]) => {
    unacknowledged += n;
    waiter?.add(keys);
  };
  // A lane's batch went in: its wait is over (a later outage is said again).
  const onBatch = (keys: readonly string[], stream: string) => {
    unacknowledged -= keys.length;
    const w = waiting.get(stream);
    if (!w) return;
    waiting.delete(stream);
    process.stderr.write(`${tty ? '\n' : ''}produce: ${label(stream)}going on after ${Math.round((Date.now() - w.since) / 1000)} s of waiting\n`);
  };
  const onReplicaLost = (stream: string, dropMs: number) =>
    process.stderr.write(
      `${tty ? '\n' : ''}produce: ${label(stream)}going on without WAIT: the master of ${stream} has had no replica for ${Math.round(dropMs / 1000)} s (--replica-drop, --wait-replicas auto); ` +
        'until one is back, a failover of it would lose what it takes\n',
    );
  const t0 = Date.now();
  let produced = 0;
  const progress = (n: number, bad: number) => {
    produced = n;
    if (!tty) return;
    const rate = Math.round(n / Math.max(0.001, (Date.now() - t0) / 1000));
    process.stderr.write(`\rproduced ${n}  rejected ${bad}  ${rate}/s `);
  };
  const onReject = (r: Reject) => {
    if (tty) process.stderr.write('\n');
    process.stderr.write(`${rejectLine(r)}\n`);
  };
  const lastSaid = new Map<string, number>();
  // A reading Redis cannot answer (unreachable, at maxclients) does not stop produce: the batch is
  // sent, and the send's own retry (--retry-for) waits and says why.
  const beforeBatch = (stream: string) =>
    (pressure.of(stream) ?? pressure)
      .waitUntilClear({
        pollMs,
        onWait: (p, ms) => {
          if (Date.now() - (lastSaid.get(stream) ?? 0) < 5_000 && ms > 0) return;
          lastSaid.set(stream, Date.now());
          process.stderr.write(`${tty ? '\n' : ''}produce: waiting: ${describe(p, cap)} (${Math.round(ms / 1000)} s so far)\n`);
        },
        onClear: (ms) => process.stderr.write(`produce: ${label(stream)}resumed after ${Math.round(ms / 1000)} s of backpressure\n`),
      })
      .catch((err: unknown) => {
        if (!isTransientRedisError(err)) throw err;
      });
  // The run's name: given, or made here so that a stopped run can say how to resume it.
  const runId = opts.runId ?? newTraceId();
  const resume = `pipeline produce ${file ?? '< <the same input>'} --run-id ${runId}`;
  // The produced count is of acknowledged batches: one sent without an answer yet may be in too (Redis has more than it says).
  const inFlight = () => (unacknowledged > 0 ? ` (${unacknowledged} more sent, not acknowledged yet: they may be in)` : '');
  const stopped = (why: string) =>
    process.stderr.write(
      `${tty ? '\n' : ''}produce: ${why} after ${counted(produced, 'record')} produced${inFlight()}; to resume (nothing twice): ${resume}\n`,
    );
  let producing = true;
  const onSignal = (signal: NodeJS.Signals) => {
    if (producing) stopped(`stopped by ${signal}`);
    else process.stderr.write(`${tty ? '\n' : ''}produce: stopped by ${signal} while waiting, ${counted(waiter?.waiting ?? 0, 'id')} still in flight\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    refuseEvictingPolicy(await warnEvictionPolicy(redis));
    // Records for a pipeline this Redis has never seen are read by no worker: a mistyped PIPELINE is
    // named before they go in (they still do: a first run before `pipeline up` is one too).
    // A first run (README: `pipeline up &` then `produce`, before the workers made their groups) warns too: say the records are kept.
    await warnIfNoPipeline(redis, config, undefined, '; the records go in all the same, and workers that start later (pipeline up) read them from the first');
    const waitOpts: ProduceWaitOptions = {
      tty,
      retryForMs,
      ...(opts.waitTimeout !== undefined ? { timeoutMs: Number(opts.waitTimeout) } : {}),
      progressEveryMs: opts.progressEvery !== undefined ? Number(opts.progressEvery) : DEFAULT_WAIT_PROGRESS_MS,
      json: opts.json === true,
      onRetry: (err, ms, budget) => onRetry(err, ms, budget),
      onResumed: (ms) => {
        waiting.delete('');
        process.stderr.write(`${tty ? '\n' : ''}produce: waiting for the records' ends again after ${Math.round(ms / 1000)} s\n`);
      },
    };
    if (opts.wait) waiter = await openProduceWait(redis, shards, waitOpts);
    const summary = await produce(redis, file ? createReadStream(file) : process.stdin, {
      stream: shards.all[0]!.stream(config.input),
      // Sharded: each record to its shard's input stream, by a stable hash of its id.
      ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
      retryForMs,
      onRetry,
      runId,
      source: file ?? 'stdin',
      maxRecordBytes: config.limits.maxRecordBytes,
      batchSize: Number(opts.batch),
      rejectsFile: opts.rejects,
      waitReplicas: parseWaitReplicas('--wait-replicas', opts.waitReplicas),
      ...(opts.replicaDrop !== undefined ? { replicaDropMs: Number(opts.replicaDrop) } : {}),
      onReject,
      onProgress: progress,
      beforeBatch,
      onSend,
      ...(waiter ? { onSkipped: (keys: readonly string[]) => waiter!.addEarlier(keys) } : {}),
      onBatch,
      onReplicaLost,
      ...(opts.laneBuffer !== undefined ? { laneBufferBytes: Number(opts.laneBuffer) } : {}),
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(JSON.stringify({ event: 'produce.done', ...summary, rejectsFile: summary.rejected ? opts.rejects : undefined }) + '\n');
    if (summary.rejected > 0) process.exitCode = 1;
    else if (!rejectsExisted) rmSync(opts.rejects, { force: true }); // no empty rejects file left behind
    producing = false;
    if (waiter) {
      const code = await finishProduceWait(waiter, waitOpts);
      if (code > 0) process.exitCode = code; // 4, 5: before 1 (the rejects are in the summary and the rejects file)
    }
  } catch (err) {
    if (!producing) {
      process.stderr.write(`${tty ? '\n' : ''}produce: stopped waiting (all records are in), ${counted(waiter?.waiting ?? 0, 'id')} still in flight\n`);
      throw err;
    }
    if (err instanceof ProducerGapError) stopped('Redis lost records of this run');
    else if (!(err instanceof RunInputMismatchError)) stopped('failed');
    throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await waiter?.close();
    // QUIT when the connection is up; a Redis that stayed away would hold a queued QUIT forever.
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  }
}
