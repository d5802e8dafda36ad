import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { encodeEnvelope, newEnvelope, newTraceId } from '../stream/codec.js';
import { BadRecordError, ConfigError, errorMessage, RunInputMismatchError } from '../core/errors.js';
import { readRunState } from './run-state.js';
import { readLines } from './jsonl.js';
import { validateRecord } from './record.js';
import { ProducerLane, type LaneBatch } from './lane.js';
import { sendLane } from './send-batch.js';
import { ReplicaWait } from '../redis/replicas.js';
import { DEFAULT_WAIT_REPLICAS, type WaitReplicas } from '../core/wait-replicas.js';

export { ReplicationError } from '../core/errors.js';

/** ProduceOptions.laneBufferBytes's default: what one lane may hold in batches not yet acknowledged before the reader waits for it. */
export const DEFAULT_LANE_BUFFER_BYTES = 16 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface Reject {
  source: string;
  line: number;
  reason: 'empty' | 'oversized' | 'invalid_utf8' | 'invalid_json' | 'invalid_record';
  error: string;
  /**
   * The whole line as read, so that it can be fixed and produced again (from stdin, the only copy):
   * a line that is not UTF-8 as Latin-1, one character per byte (`Buffer.from(raw, 'latin1')` gives
   * its bytes back); none for an oversized line, which is measured, never held.
   */
  raw?: string;
}

/** C0 and C1 control characters: a JSON.parse message quotes the input around its error, an ESC sequence included. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A rejected line as `produce` and `start` print it, `file:line: rejected (reason): why`, its control
 * characters written as `\u001b` escapes: printed raw, an ESC sequence in a bad line drove the terminal.
 */
export function rejectLine(r: Reject): string {
  const text = `${r.source}:${r.line}: rejected (${r.reason}): ${r.error}`;
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface ProduceOptions {
  /** Target stream key (`{products}:in`). */
  stream: string;
  /**
   * A sharded pipeline: the input stream of a record's shard, by record key
   * (`(k) => shards.keysFor(k).stream('in')`). Each shard gets its own exactly-once batches.
   * @defaultValue `stream` for every record
   */
  streamFor?: (recordKey: string) => string;
  /** Name for messages (file path or "stdin"). */
  source: string;
  /** Largest accepted line / record in bytes. */
  maxRecordBytes: number;
  /** XADDs sent per pipeline round trip. @defaultValue 500 */
  batchSize?: number;
  /** Write each rejected line here as JSONL (created on the first reject). @defaultValue none */
  rejectsFile?: string;
  /** Called for each rejected line (e.g. print to stderr). */
  onReject?: (r: Reject) => void;
  /** Called after each batch with running totals. */
  onProgress?: (produced: number, rejected: number) => void;
  /**
   * A batch counts as produced only once this many replicas of the master that took it have it
   * (WAIT, sent on the connection that wrote the batch: on a Redis Cluster, each shard's master).
   * Fewer within `waitTimeoutMs`, or a connection lost meanwhile: the batch is sent again (a no-op
   * when it is still there, re-applied when a failover lost it) and waited for again, up to
   * `retryForMs`. Closes the window where a failover loses writes the producer saw acknowledged.
   * `"auto"` (the default, as `pipeline produce --wait-replicas` and the API's
   * `submitWaitReplicas`): 1 when the batch's master has a connected replica (INFO replication,
   * read per connection every `replicaCheckMs`), else 0 (no WAIT: a standalone Redis is sent
   * none). 0 = don't wait. @defaultValue "auto"
   */
  waitReplicas?: WaitReplicas;
  /** With `waitReplicas` "auto": how often a master's replica count is read again on the same connection. @defaultValue 5000 */
  replicaCheckMs?: number;
  /**
   * With `waitReplicas` "auto": a lower replica count read on the same connection is believed once
   * it has lasted this long (lib/redis/replicas.ts); a batch short of replicas meanwhile waits it out
   * whatever `retryForMs`, then goes on without WAIT (`onReplicaLost`). @defaultValue 30000
   */
  replicaDropMs?: number;
  /** WAIT timeout of one attempt. @defaultValue 1000 */
  waitTimeoutMs?: number;
  /**
   * A batch that failed with a transient Redis error (connection lost, CLUSTERDOWN or a closed
   * master during a cluster failover, Redis full: OOM), or that too few replicas acknowledged, is
   * sent again for up to this long (from the batch's first failure; safe: batches are
   * exactly-once), then produce fails.
   * @defaultValue 30000 (as `pipeline produce --retry-for`); 0 with `waitReplicas: 0` (the first error fails produce)
   */
  retryForMs?: number;
  /** First delay before a batch is sent again; doubles (jittered) up to `retryMaxMs`. @defaultValue 50 */
  retryBaseMs?: number;
  /** @defaultValue 1000 */
  retryMaxMs?: number;
  /**
   * Name of this producer run, for its exactly-once state (`<input>:producer:<runId>`: how many
   * of the run's records are in, and a hash of them). Produce the same input again with the same
   * `runId` after a crash (any batch size), and the records that had gone through are skipped:
   * the run resumes where it stopped, nothing twice. An input whose first records are not those
   * the run added is refused (RunInputMismatchError) before anything of it is written. The state
   * lives 7 days after the run's last batch. @defaultValue a random id (no resume)
   */
  runId?: string;
  /**
   * Called before a batch is sent again after a transient error (within `retryForMs`): what
   * failed, how long this batch has been retried so far, and the stream (shard) it is for.
   * @defaultValue none
   */
  onRetry?: (err: unknown, retriedMs: number, budgetMs: number, stream?: string) => void;
  /**
   * Awaited before each batch of `stream` is sent, in that stream's lane only: backpressure
   * (lib/producer/backpressure.ts `waitUntilClear`, per shard) holds that shard's batches here while
   * it is behind or Redis is full; the other shards' lanes go on. @defaultValue none
   */
  beforeBatch?: (stream: string) => Promise<void>;
  /**
   * Each stream (shard) has its own lane: its batches are sent one after the other, in order, and
   * not with the other lanes', so a shard whose writes wait (its master failing over, retried
   * within `retryForMs`) does not hold the others. The reader reads ahead of what is acknowledged:
   * a lane holds at most this many bytes of encoded records in closed batches not yet acknowledged
   * (plus the batch being filled, up to `batchSize` records); a record for a full lane makes the
   * reader wait until that lane's next batch is in. Memory: about lanes × (this + one batch).
   * @defaultValue 16777216 (16 MiB)
   */
  laneBufferBytes?: number;
  /** Called as a batch is sent, after `beforeBatch` and before any answer: how many records, the stream, and the records' keys. @defaultValue none */
  onSend?: (records: number, stream: string, recordKeys: readonly string[]) => void;
  /**
   * With `waitReplicas` "auto": called when a batch that waited for its master's replica goes on
   * without WAIT, the replica lost (the master's replica count fell to 0 and stayed there for
   * `replicaDropMs`, which that batch waits out whatever `retryForMs`): the stream. @defaultValue none
   */
  onReplicaLost?: (stream: string, replicaDropMs: number) => void;
  /** Called with the keys of records skipped unsent: an earlier run with this `runId` had added them. @defaultValue none */
  onSkipped?: (recordKeys: readonly string[], stream: string) => void;
  /** Called when a batch is acknowledged (and replicated, with `waitReplicas`): its record keys and stream. */
  onBatch?: (recordKeys: readonly string[], stream: string) => void;
}

export interface ProduceSummary {
  /** Records added to the input stream by this run. */
  produced: number;
  /** Records an earlier run with the same `runId` (or a concurrent one) had already added (skipped). */
  skipped: number;
  rejected: number;
  lines: number;
  seconds: number;
}

/** Only ASCII spaces, tabs and line ends: a byte such as 0xA0 (not UTF-8 alone) makes the line a record to reject, not a blank. */
function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) return false;
  return true;
}

/** A run id (`runId`, `produce --run-id`): it names the run's state key. */
export const RUN_ID = /^[\w.:-]{1,128}$/;
export const RUN_ID_TEXT = '1-128 characters of [A-Za-z0-9_.:-]';

/**
 * Read JSONL, validate each record, and XADD it as an envelope in pipelined batches (one round trip
 * per batch, bounded memory). Bad lines are reported with their line number and reason, kept in
 * the rejects file, counted, and skipped; the run goes on.
 */
export async function produce(redis: Redis, input: Readable, opts: ProduceOptions): Promise<ProduceSummary> {
  const t0 = Date.now();
  const batchSize = opts.batchSize ?? 500;
  let rejects: WriteStream | undefined;
  let rejectsError: Error | undefined;
  let produced = 0;
  let skipped = 0;
  let rejected = 0;
  let lines = 0;
  const runId = opts.runId ?? newTraceId();
  if (!RUN_ID.test(runId)) throw new ConfigError('produce.runId', `expected ${RUN_ID_TEXT}, got ${JSON.stringify(runId)}`);
  const limitBytes = opts.laneBufferBytes ?? DEFAULT_LANE_BUFFER_BYTES;
  // The run stops at the first failure of a lane: the reader stops, the other lanes send no
  // further batch, and produce rejects with it once every lane is idle.
  let failure: { err: unknown } | undefined;
  const stopped = () => failure !== undefined;
  const fail = (err: unknown) => {
    failure ??= { err };
    for (const l of lanes.values()) l.wake();
  };
  const sendOpts = {
    ...opts,
    replicas: new ReplicaWait(opts.waitReplicas ?? DEFAULT_WAIT_REPLICAS, { checkMs: opts.replicaCheckMs, dropAfterMs: opts.replicaDropMs }),
  };
  const send = async (l: ProducerLane, b: LaneBatch) => {
    await opts.beforeBatch?.(l.stream);
    opts.onSend?.(
      b.entries.length,
      l.stream,
      b.entries.map(([k]) => k),
    );
    const mine = await sendLane(redis, l.stream, l.stateKey, b, sendOpts, stopped);
    produced += mine;
    skipped += b.entries.length - mine; // a producer of the same run id, running at the same time, had added them
    opts.onProgress?.(produced, rejected);
  };
  // A named run may be a resumed one: each lane reads its state itself, in the background (a shard
  // whose master is down at the start holds its own lane only), and skips what is in, unsent.
  const readState = opts.runId
    ? (l: ProducerLane) => readRunState(redis, l.stateKey, { ...opts, onRetry: (e, ms, of) => opts.onRetry?.(e, ms, of, l.stream) })
    : undefined;
  // Each batch goes in as one idempotent script call (produce-batch-2.lua): a batch re-sent after
  // a dropped connection is not produced twice. Sharded: one lane (batches, state key, sender) per shard stream.
  const lanes = new Map<string, ProducerLane>();
  const lane = (stream: string): ProducerLane => {
    let l = lanes.get(stream);
    if (!l)
      lanes.set(
        stream,
        (l = new ProducerLane(stream, runId, {
          send,
          onFail: fail,
          stopped,
          readState,
          onSkip: (n, keys) => ((skipped += n), opts.onSkipped?.(keys, stream)),
        })),
      );
    return l;
  };
  /** Records in the lanes' filling batches: at `batchSize`, every lane's batch is closed (as one batch of all shards had been sent). */
  let inBatch = 0;
  const closeAll = () => {
    for (const l of lanes.values()) l.close();
    inBatch = 0;
  };
  const settle = async () => {
    await Promise.all([...lanes.values()].map((l) => l.idle()));
    if (failure) throw failure.err;
  };

  const reject = (r: Reject) => {
    rejected++;
    opts.onReject?.(r);
    if (opts.rejectsFile) {
      // A rejects file that cannot be written fails the run at its end (after the good lines are in): never silent.
      rejects ??= createWriteStream(opts.rejectsFile, { flags: 'a' }).on('error', (err) => (rejectsError ??= err));
      rejects.write(JSON.stringify(r) + '\n');
    }
  };

  /** Reads the input into the lanes; returns early when a lane failed (the run stops). */
  async function readAll(): Promise<void> {
    for await (const line of readLines(input, opts.maxRecordBytes)) {
      lines++;
      const at = { source: opts.source, line: line.lineNo };
      if (!line.bytes) {
        reject({ ...at, reason: 'oversized', error: `line is ${line.size} bytes, over the limit of ${opts.maxRecordBytes} (limits.maxRecordBytes)` });
        continue;
      }
      if (isBlank(line.bytes)) continue; // blank lines are not records
      let text: string;
      try {
        text = utf8.decode(line.bytes);
      } catch {
        reject({ ...at, reason: 'invalid_utf8', error: 'line is not valid UTF-8', raw: line.bytes.toString('latin1') });
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        reject({ ...at, reason: 'invalid_json', error: errorMessage(err), raw: text });
        continue;
      }
      try {
        const record = validateRecord(value, opts.maxRecordBytes, line.bytes.length);
        const l = lane(opts.streamFor ? opts.streamFor(record.id) : opts.stream);
        // A lane that holds its bound (its shard's writes wait): the reader waits for it, the other lanes send on.
        if (l.held >= limitBytes) {
          closeAll();
          await l.room(limitBytes);
        }
        if (failure) return;
        if (l.accept(record.id, line.bytes, () => encodeEnvelope(newEnvelope(record))) && ++inBatch >= batchSize) closeAll();
      } catch (err) {
        if (!(err instanceof BadRecordError)) throw err;
        reject({ ...at, reason: 'invalid_record', error: err.message, raw: text });
      }
    }
  }

  try {
    await readAll();
  } catch (err) {
    // The input failed (or is not the run's): the batches closed before it still go in, as they
    // had been sent before the reader went on; the one being filled does not.
    await settle();
    throw err;
  }
  closeAll();
  await settle();
  for (const l of lanes.values())
    if (l.resume && l.count < l.resume.count)
      throw new RunInputMismatchError(
        `run id ${runId}: this input has ${l.count} records for ${l.stream}, the run had added ${l.resume.count}: not the input it was started on; use a new --run-id, or none`,
      );
  if (rejects) await new Promise<void>((res) => rejects!.end(() => res()));
  if (rejectsError) throw new Error(`${rejected} rejected line(s) could not be kept in ${opts.rejectsFile}: ${rejectsError.message}`);
  return { produced, skipped, rejected, lines, seconds: (Date.now() - t0) / 1000 };
}
