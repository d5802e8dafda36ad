import { createHash, type Hash } from 'node:crypto';
import type { RunState } from './run-state.js';

/** A closed batch of one lane: its records and where they sit in the run's records for the stream. */
export interface LaneBatch {
  /** How many of the run's records for this stream come before the batch (produce-batch-2.lua's start). */
  start: number;
  /** The fingerprint of the run's records for this stream up to the batch's end. */
  fingerprint: string;
  entries: [string, Buffer][];
  /** The entries' encoded size, what the lane's bound counts. */
  bytes: number;
}

/**
 * One input stream's (one shard's) part of a producer run: the batch being filled, its exactly-once
 * state (count and fingerprint of the run's records for the stream), and a queue of closed batches
 * that its own sender sends one after the other, in order (a batch's `start` must be in before the
 * next is sent). Lanes do not wait for each other: while one shard's master fails over, its lane's
 * batches wait and are retried while the other lanes go on. What a lane may hold is bounded
 * (`limitBytes`): the reader waits on `room()` before it adds more to a lane that is full.
 */
export class ProducerLane {
  readonly stateKey: string;
  /** The run's records for this stream read so far, the filling batch's included. */
  count = 0;
  /** A hash of those records' lines in order: the fingerprint produce-batch-2.lua keeps with the count. */
  readonly hash: Hash = createHash('sha1');
  /** The batch being filled by the reader. */
  batch: [string, Buffer][] = [];
  private batchBytes = 0;
  /** What an earlier run with this run id had added (read before the lane's first record); null: nothing; undefined: not read yet. */
  resume?: RunState | null;
  /** Closed batches not yet acknowledged; the first is the one being sent. */
  private readonly queue: LaneBatch[] = [];
  /** Bytes of the queued batches. */
  private queuedBytes = 0;
  private sending?: Promise<void>;
  private readonly waiters = new Set<() => void>();
  private failed = false;

  constructor(
    readonly stream: string,
    runId: string,
    /** Sends one batch until it is in (retrying within the run's retry policy); a rejection stops the lane. */
    private readonly send: (l: ProducerLane, b: LaneBatch) => Promise<void>,
    /** Called once when a send fails: the run stops. */
    private readonly onFail: (err: unknown) => void,
    /** True once the run stops (a failure in any lane or in the reader): no further batch is sent. */
    private readonly stopped: () => boolean,
  ) {
    this.stateKey = `${stream}:producer:${runId}`;
  }

  /** A record read for this lane (counted and hashed by the caller), into the filling batch. */
  add(key: string, envelope: Buffer): void {
    this.batch.push([key, envelope]);
    this.batchBytes += envelope.length;
  }

  /** Bytes of closed batches not yet acknowledged. */
  get held(): number {
    return this.queuedBytes;
  }

  /** The filling batch becomes the next one to send (after those queued); its sender starts if idle. */
  close(): void {
    if (this.batch.length === 0) return;
    const b: LaneBatch = { start: this.count - this.batch.length, fingerprint: this.hash.copy().digest('hex'), entries: this.batch, bytes: this.batchBytes };
    this.batch = [];
    this.batchBytes = 0;
    this.queue.push(b);
    this.queuedBytes += b.bytes;
    this.sending ??= this.drain();
  }

  /** Resolves once the closed batches hold less than `limitBytes` (at once when they do), or the lane or the run stopped. */
  async room(limitBytes: number): Promise<void> {
    while (this.queuedBytes >= limitBytes && !this.failed && !this.stopped()) {
      await new Promise<void>((res) => this.waiters.add(res));
    }
  }

  /** Wakes every `room()` waiter (a batch went in, or the run stopped). */
  wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Resolves once every closed batch is in, or the lane stopped at a failure. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failed && !this.stopped()) {
        const b = this.queue[0]!;
        try {
          await this.send(this, b);
        } catch (err) {
          this.failed = true;
          this.onFail(err);
          break;
        }
        this.queue.shift();
        this.queuedBytes -= b.bytes;
        this.wake();
      }
    } finally {
      this.sending = undefined;
      this.wake();
    }
  }
}
