import { createHash, type Hash } from 'node:crypto';
import { checkFingerprint, type RunState } from './run-state.js';

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

/** What a lane does with the outside: sends, stops, reads its run's saved state. */
export interface LaneHooks {
  /** Sends one batch until it is in (retrying within the run's retry policy); a rejection stops the lane. */
  send: (l: ProducerLane, b: LaneBatch) => Promise<void>;
  /** Called once when a send (or the read of the run state) fails: the run stops. */
  onFail: (err: unknown) => void;
  /** True once the run stops (a failure in any lane or in the reader): no further batch is sent. */
  stopped: () => boolean;
  /**
   * Reads what an earlier run with this run id had added to the stream (retried like a batch), in
   * the background from the lane's creation: the lane's first batch is sent once it is known.
   * Absent: a new run, nothing to read.
   */
  readState?: (l: ProducerLane) => Promise<RunState | null>;
  /** Records of the run found already in (an earlier run had added them): counted, not sent; their keys. */
  onSkip: (n: number, keys: readonly string[]) => void;
}

/**
 * One input stream's (one shard's) part of a producer run: the batch being filled, its exactly-once
 * state (count and fingerprint of the run's records for the stream), and a queue of closed batches
 * that its own sender sends one after the other, in order (a batch's `start` must be in before the
 * next is sent). Lanes do not wait for each other: while one shard's master fails over, its lane's
 * batches wait and are retried while the other lanes go on; that holds for the read of a resumed
 * run's state too (the lane's own, in the background: the reader does not wait for it). What a
 * lane may hold is bounded (`limitBytes`): the reader waits on `room()` before it adds more to a
 * lane that is full.
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
  /** What an earlier run with this run id had added; null: nothing (or no run id); undefined: not read yet. */
  resume?: RunState | null;
  /**
   * While `resume` is not read yet: the fingerprint after each record read (SHA-1, 20 bytes each,
   * record n at (n - 1) * 20; `printsBytes` used), to check the run's at its last record.
   */
  private prints = Buffer.alloc(0);
  private printsBytes = 0;
  /** Settles once `resume` is known (or its read failed: the lane failed); the first batch is sent after it. */
  private readonly ready: Promise<void>;
  /** Closed batches not yet acknowledged; the first is the one being sent. */
  private readonly queue: LaneBatch[] = [];
  /** Bytes of the queued batches. */
  private queuedBytes = 0;
  private sending?: Promise<void>;
  private readonly waiters = new Set<() => void>();
  private failed = false;

  private readonly send: LaneHooks['send'];
  private readonly onFail: LaneHooks['onFail'];
  private readonly stopped: LaneHooks['stopped'];
  private readonly onSkip: LaneHooks['onSkip'];

  constructor(
    readonly stream: string,
    private readonly runId: string,
    hooks: LaneHooks,
  ) {
    this.stateKey = `${stream}:producer:${runId}`;
    ({ send: this.send, onFail: this.onFail, stopped: this.stopped, onSkip: this.onSkip } = hooks);
    if (!hooks.readState) {
      this.resume = null;
      this.ready = Promise.resolve();
      return;
    }
    this.ready = hooks
      .readState(this)
      .then((state) => this.resumeAt(state))
      .catch((err: unknown) => this.fail(err));
  }

  /**
   * A record read for this lane, counted and hashed: into the filling batch (true), or skipped
   * (false) when the earlier run of this run id had added it. At the last record that run had
   * added, the input so far must be the run's (RunInputMismatchError).
   */
  accept(key: string, line: Buffer, envelope: () => Buffer): boolean {
    this.count++;
    this.hash.update(line);
    if (this.resume === undefined) this.keepPrint();
    else if (this.resume && this.count <= this.resume.count) {
      this.onSkip(1, [key]);
      if (this.count === this.resume.count) checkFingerprint(this.stream, this.hash.copy().digest('hex'), this.resume, this.runId);
      return false;
    }
    const e = envelope();
    this.batch.push([key, e]);
    this.batchBytes += e.length;
    return true;
  }

  /**
   * The run state is known: what the reader had batched before that and the earlier run had
   * added is dropped unsent (counted as skipped), after the fingerprint check when the reader is
   * past the run's last record (nothing of the lane has been sent yet). Throws RunInputMismatchError.
   */
  private resumeAt(state: RunState | null): void {
    const prints = this.prints;
    this.prints = Buffer.alloc(0);
    this.printsBytes = 0;
    this.resume = state;
    if (!state) return;
    if (state.count > 0 && this.count >= state.count)
      checkFingerprint(this.stream, prints.toString('hex', (state.count - 1) * 20, state.count * 20), state, this.runId);
    const skipped: string[] = [];
    /** Drops the entries of `entries` (the first at position `start` of the run's records) that are in; returns their bytes. */
    const trim = (entries: [string, Buffer][], start: number): number => {
      const gone = entries.splice(0, Math.max(0, Math.min(entries.length, state.count - start)));
      for (const [k] of gone) skipped.push(k);
      return gone.reduce((sum, [, e]) => sum + e.length, 0);
    };
    for (const b of this.queue) {
      const before = b.entries.length;
      const bytes = trim(b.entries, b.start);
      b.start += before - b.entries.length;
      b.bytes -= bytes;
      this.queuedBytes -= bytes;
    }
    const left = this.queue.filter((b) => b.entries.length > 0);
    this.queue.splice(0, this.queue.length, ...left);
    this.batchBytes -= trim(this.batch, this.count - this.batch.length);
    this.onSkip(skipped.length, skipped);
    this.wake();
  }

  /** The fingerprint after the record just read, into `prints` (grown by doubling). */
  private keepPrint(): void {
    if (this.printsBytes + 20 > this.prints.length) {
      const grown = Buffer.alloc(Math.max(4096, this.prints.length * 2));
      this.prints.copy(grown, 0, 0, this.printsBytes);
      this.prints = grown;
    }
    this.printsBytes += this.hash.copy().digest().copy(this.prints, this.printsBytes);
  }

  private fail(err: unknown): void {
    this.failed = true;
    this.onFail(err);
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

  /** Resolves once the run state is known and every closed batch is in, or the lane stopped at a failure. */
  async idle(): Promise<void> {
    await this.ready;
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    try {
      await this.ready; // what is in already is dropped from the batches first (resumeAt)
      while (this.queue.length > 0 && !this.failed && !this.stopped()) {
        const b = this.queue[0]!;
        try {
          await this.send(this, b);
        } catch (err) {
          this.fail(err);
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
