import { hostname } from 'node:os';
import type { ResolvedStage } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { COMMAND, type Connections } from '../redis/connections.js';
import type { Keys } from '../redis/keys.js';
import { settleWithin } from '../core/periodic.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { Script } from '../redis/script.js';
import { registrationTtlMs } from './liveness-ttl.js';
import type { PermissionWait } from './permission-notice.js';
import type { DependencyWait } from './stage-runner.js';
import type { PauseRecord } from '../stream/pause-flag.js';

/** The beat: SET PX as a function that runs while Redis is full (lib/lua/liveness-3.lua, allow-oom). */
const liveness = new Script('liveness-3');

/** What a consumer's read loop is doing right now. */
export type Phase = 'idle' | 'reading' | 'processing' | 'committing';

/** What the watchdog watches: the consumer's progress, read without side effects. */
export interface ProgressSource {
  /** Last time the loop got a reply to a read (even an empty one) or finished a batch. */
  readonly lastProgressAt: number;
  readonly phase: Phase;
  /** Messages handed off so far. */
  readonly processed: number;
  /** Since when a stage call abandoned at its deadline has been hanging; undefined when none is. */
  readonly stuckSince?: number;
  /** A permission the consumer's Redis user lacks and a step of it waits for (lib/worker/permission-notice.ts). */
  readonly permissions?: { readonly waiting?: PermissionWait };
  /**
   * What the batch in flight waits for while it waits out a dependency outage (e.g. Postgres down),
   * and since when (lib/worker/stage-runner.ts); undefined when it does not (a permission refusal is `permissions.waiting`).
   */
  readonly outage?: DependencyWait;
  /** The stage's paused flag while the consumer holds still for it (lib/worker/pause-gate.ts): on the record as `paused`. */
  readonly paused?: PauseRecord;
}

export interface WatchdogOptions {
  /** The consumer's `blockMs`: a read may legitimately take this long. */
  blockMs: number;
  /** How often progress is checked and the liveness marker refreshed. @defaultValue 1000 (stage option `watchdogIntervalMs`) */
  intervalMs: number;
  /** Stalled = no progress for `blockMs` + this. @defaultValue 30000 (stage option `stallTimeoutMs`) */
  stallTimeoutMs: number;
  /**
   * Liveness key, refreshed with SET PX while the loop makes progress: `{p}:liveness:<stage>:<consumer>`.
   * Written through lib/lua/liveness-3.lua (allow-oom), so a full Redis does not let it expire.
   */
  key: string;
  /** Rewritten every `intervalMs` whatever the loop does, with this TTL (ms): the process is alive (lib/worker/liveness-handover.ts). */
  alive: { key: string; ttlMs: number };
  /** Written with the alive key, with this longer TTL (ms): that this consumer keeps one (lib/worker/liveness-handover.ts). */
  registration: { key: string; ttlMs: number };
  /** More keys of this consumer its clean stop removes with these (its hand-off and claim memories, Keys.livenessHandOff, Keys.livenessClaim). @defaultValue none */
  extraKeys?: readonly string[];
  /** Also rewrite this file (same JSON) while the loop makes progress, for exec probes. @defaultValue none (env PROGRESS_FILE) */
  file?: string;
  /** stop() waits this long for the liveness key's DEL. @defaultValue 1000 */
  stopTimeoutMs?: number;
  /**
   * Called once a stage call abandoned at `stageTimeoutMs` has hung for `limit`: the one stall
   * this process cannot recover from. @defaultValue nothing (the liveness marker and file stop; an
   * orchestrator's probe restarts the process)
   */
  onHung?: () => void;
  /** The reader connection's label in `connections`. @defaultValue "read" */
  readerLabel?: string;
  /** Fixed fields of the liveness record (stage, consumer, pid, host, fuses); `describe` adds to them. */
  identity: Record<string, string | number | readonly string[]>;
  connections: Connections;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
}

/**
 * Progress, not only liveness: a worker can be alive with its read loop stuck, e.g. an
 * XREADGROUP waiting forever on a half-open socket after a network blip (a known Celery failure).
 * Every `intervalMs` the watchdog refreshes the process's alive key (whatever the loop does: a
 * sibling hands over the entries of a consumer whose alive key is gone) and compares the loop's last
 * progress with `blockMs + stallTimeoutMs`. While the loop progresses it refreshes the liveness key (it expires by itself when progress
 * stops) and the optional file. When the loop is stalled it logs and counts, and recovers what it
 * can: stuck reading or handing off on a connection that believes it is up, it resets that
 * connection (the command is sent again on a fresh socket); stuck inside the stage, it can only
 * report, and the missing liveness marker lets the orchestrator restart the process.
 */
export class Watchdog {
  private timer?: NodeJS.Timeout;
  private offCommandBack?: () => void;
  private started = false;
  private lastActionAt = 0;
  private stalledSince?: number;
  private writing_liveness = false;
  private writing = false;
  private probing = false;
  /** Stalls detected and connections reset, for tests and logs. */
  stalls = 0;
  recoveries = 0;

  private identity: WatchdogOptions['identity'];

  constructor(
    private readonly target: ProgressSource,
    private readonly o: WatchdogOptions,
  ) {
    this.identity = o.identity;
  }

  /** Add to (or change) the fixed fields of the liveness record, from the next beat on. */
  describe(fields: WatchdogOptions['identity']): void {
    this.identity = { ...this.identity, ...fields };
  }

  /** How long stop() waits for Redis (the liveness key's DEL); the consumer's leaving its group shares it. */
  get stopTimeoutMs(): number {
    return this.o.stopTimeoutMs ?? 1_000;
  }

  private get limit(): number {
    return this.o.blockMs + this.o.stallTimeoutMs;
  }

  start(): void {
    if (this.timer) return;
    this.started = true;
    this.timer = setInterval(() => this.check(), this.o.intervalMs);
    this.timer.unref();
    // A check at once when the command connection is back: a Redis restarted empty has the marker again then, not up to intervalMs later.
    this.offCommandBack = this.o.connections.onCommandBack(() => this.check());
  }

  /**
   * Stop checking and remove the liveness key, the alive key, its registration and `extraKeys` (a consumer that stops cleanly
   * is not handed over by its siblings), waiting at most `stopTimeoutMs` for the DEL (on a
   * half-open connection it would never be answered; the keys then expire by themselves). A watchdog
   * never started removes nothing.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.offCommandBack?.();
    // Never started (a worker refused at start, e.g. by its permission check): it wrote no marker.
    // Its DEL had been refused too when the user may not touch the key: a NOPERM warning per shard.
    if (!this.started) return;
    const redis = this.o.connections.command();
    if (redis.status !== 'ready') return;
    const own = [this.o.key, this.o.alive.key, this.o.registration.key, ...(this.o.extraKeys ?? [])];
    const del = redis.del(...own).catch((err: unknown) => this.o.logger.warn('watchdog.cleanup_error', { err }));
    await settleWithin(del, this.stopTimeoutMs);
  }

  /** One check (the timer calls it; tests may too). */
  check(now = Date.now()): void {
    const { phase, stuckSince } = this.target;
    // A stage call abandoned at stageTimeoutMs that still has not returned `limit` later: the
    // process cannot recover it (it holds the stage's resources), so it counts as no progress,
    // however busy the loop is with other batches: the liveness marker stops, the probe goes red.
    const hung = stuckSince !== undefined && now - stuckSince > this.limit;
    // What the marker and the file publish: progress counted from the hang's start while a call
    // hangs, so both run out `limit` after it began, when `hung` turns true, not a period later.
    const progressAt = stuckSince !== undefined ? Math.min(this.target.lastProgressAt, stuckSince) : this.target.lastProgressAt;
    const lastProgressAt = hung ? progressAt : this.target.lastProgressAt;
    const idleMs = now - lastProgressAt;
    const progressing = idleMs <= this.limit;
    // The alive key on every check; the marker only while the loop progresses.
    this.beat(now, progressing ? progressAt : undefined);
    if (progressing) {
      if (this.stalledSince !== undefined) {
        this.o.logger.info('watchdog.progress_resumed', { stalledMs: now - this.stalledSince, phase });
        this.stalledSince = undefined;
      }
      // Waiting out a dependency outage is progress (liveness holds: a restart would not bring
      // Postgres back), but past `blockMs + stallTimeoutMs` this worker is not serving: readiness fails.
      // Waiting for a permission its user lacks, at once: it does not come back by itself (`pipeline acl --apply`).
      const outageSince = this.target.outage?.since;
      const waiting = (outageSince !== undefined && now - outageSince > this.limit) || this.target.permissions?.waiting !== undefined;
      this.writeFile(now, progressAt, false, waiting);
      return;
    }
    this.stalledSince ??= lastProgressAt;
    // Waiting for Redis to come back is not being stuck: keep the progress file fresh (marked),
    // so a file-age liveness probe does not restart every worker during a Redis outage. A hung
    // stage call is being stuck, whatever the connection.
    const waitingOn = phase === 'reading' ? (this.o.readerLabel ?? 'read') : COMMAND;
    if (!hung && this.o.connections.status(waitingOn) !== 'ready') this.writeFile(now, lastProgressAt, true);
    // Act once per stall period: a reset needs time to reconnect and re-send before it shows.
    if (now - Math.max(lastProgressAt, this.lastActionAt) <= this.limit) return;
    this.lastActionAt = now;
    this.stalls++;
    const { metrics, logger, tags } = this.o;
    metrics.increment('watchdog.stalls', 1, { ...tags, phase });
    const label = phase === 'reading' ? (this.o.readerLabel ?? 'read') : COMMAND;
    const status = this.o.connections.status(label);
    let action: string;
    if (hung) {
      action = this.o.onHung
        ? 'exit: a stage call abandoned at stageTimeoutMs has not returned and cannot be interrupted'
        : 'none: a stage call abandoned at stageTimeoutMs has not returned and cannot be interrupted; the liveness marker has stopped (restart the process)';
    } else if (status !== 'ready') {
      action = `none: connection ${label} is ${status ?? 'not open'}, reconnecting by itself`;
    } else if (phase === 'processing' || phase === 'idle') {
      // Inside the stage: its own work cannot be interrupted, but it may be waiting on the shared
      // command connection (a sink writing to Redis). A PING left unanswered says that link is half-open.
      this.probeCommand(phase);
      action = 'probing the command connection; a stage stuck in its own work cannot be interrupted, the liveness marker has stopped';
    } else {
      // The socket believes it is connected, yet no reply came: half-open. A fresh socket fixes it.
      this.recover(label, phase);
      action = `reset connection ${label}`;
    }
    logger.error('watchdog.stalled', { phase, sinceProgressMs: idleMs, limitMs: this.limit, action });
    if (hung) this.o.onHung?.();
  }

  private recover(label: string, phase: Phase): void {
    this.o.connections.reset(label);
    this.recoveries++;
    this.o.metrics.increment('watchdog.recoveries', 1, { ...this.o.tags, phase });
  }

  /** PING the command connection; reset it if no reply comes within `stallTimeoutMs` while it claims to be up. */
  private probeCommand(phase: Phase): void {
    if (this.probing) return;
    this.probing = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), this.o.stallTimeoutMs)));
    const ping = this.o.connections
      .command()
      .ping()
      .catch(() => 'error');
    void Promise.race([ping, late]).then((r) => {
      clearTimeout(timer);
      this.probing = false;
      if (r !== 'late' || this.o.connections.status(COMMAND) !== 'ready') return;
      this.o.logger.error('watchdog.command_unanswered', { phase, waitedMs: this.o.stallTimeoutMs, action: `reset connection ${COMMAND}` });
      this.recover(COMMAND, phase);
    });
  }

  /**
   * Refresh the alive key and its registration and, with `progressAt` (undefined while stalled), the liveness marker;
   * it expires `limit` (+ one interval) after `progressAt` unless refreshed again: the last progress, or the start of a stage call that hangs.
   */
  private beat(now: number, progressAt: number | undefined): void {
    const redis = this.o.connections.command();
    // Never queue liveness writes behind a connection that is down: a stale marker is the right answer then.
    if (this.writing_liveness || redis.status !== 'ready') return;
    const { phase, processed } = this.target;
    const ttl = progressAt === undefined ? 0 : Math.max(1, progressAt + this.limit + this.o.intervalMs - now);
    // `waiting`: a permission the user lacks (`pipeline health` fails naming it, `pipeline top` lists it).
    // `outage`: a dependency outage waited out (information: health passes with a note; top and status show it).
    const { waiting } = this.target.permissions ?? {};
    const { outage, paused } = this.target;
    const extra = { ...(waiting ? { waiting } : {}), ...(outage ? { outage } : {}), ...(paused ? { paused } : {}) };
    const body = JSON.stringify({ ...this.identity, phase, processed, progressAt, at: now, ...extra });
    this.writing_liveness = true;
    liveness
      .run(redis, [this.o.key, this.o.registration.key, this.o.alive.key], [body, ttl, this.o.registration.ttlMs, this.o.alive.ttlMs])
      .catch((err: unknown) => {
        this.o.metrics.increment('watchdog.errors', 1, this.o.tags);
        this.o.logger.warn('watchdog.beat_error', { err });
      })
      .finally(() => (this.writing_liveness = false));
  }

  /**
   * Rewrite the progress file (exec probes check its age): while the loop progresses, and while it
   * waits for a reconnecting Redis (`waitingForRedis: true`, which readiness treats as not ready);
   * `waitingForDependency: true` once a batch has waited out an outage longer than the stall limit,
   * or while a step waits for a permission the user lacks (then `waiting` says which); `outage` says
   * what a batch waiting out an outage waits for, from its first retry.
   * While a stage call hangs, the file's mtime is `progressAt` (when the hang began), so a file-age
   * probe fails `limit` after it began, as the marker does.
   */
  private writeFile(now: number, progressAt: number, waitingForRedis: boolean, waitingForDependency = false): void {
    if (!this.o.file || this.writing) return;
    const { phase, processed, stuckSince } = this.target;
    const waiting = this.target.permissions?.waiting;
    const { outage } = this.target;
    const body = JSON.stringify({
      ...this.identity,
      phase,
      processed,
      progressAt,
      at: now,
      waitingForRedis,
      waitingForDependency,
      ...(waiting ? { waiting } : {}),
      ...(outage ? { outage } : {}),
    });
    this.writing = true;
    writeFileAtomic(this.o.file, body + '\n', stuckSince !== undefined && !waitingForRedis ? progressAt : undefined)
      .catch((err: unknown) => {
        this.o.metrics.increment('watchdog.errors', 1, this.o.tags);
        this.o.logger.warn('watchdog.file_error', { err, file: this.o.file });
      })
      .finally(() => (this.writing = false));
  }
}

/** What `consumerWatchdog` needs from a consumer's dependencies. */
export interface ConsumerWatchdogDeps {
  stage: ResolvedStage;
  keys: Keys;
  consumer: string;
  connections: Connections;
  logger: Logger;
  metrics: Metrics;
  /** @defaultValue env PROGRESS_FILE, else none */
  progressFile?: string;
  /** Exit the process (code EXIT_HUNG) when a stage call hangs unrecoverably (WatchdogOptions.onHung). @defaultValue env EXIT_ON_HUNG is 1 or true */
  exitOnHung?: boolean;
}

/** The exit code of a worker that ended itself because a stage call hung (`EXIT_ON_HUNG=1`). */
export const EXIT_HUNG = 70;

/** Without a restart policy on failed probes (docker compose), a hung worker must end itself for `restart:` to start a new one. */
function exitWhenHung(logger: Logger): () => void {
  return () => {
    logger.error('worker.exit_hung', { exitCode: EXIT_HUNG });
    // No drain: the hung call holds the stage; its entries are reclaimed by the next worker after claimMinIdleMs.
    process.exit(EXIT_HUNG);
  };
}

/** The watchdog of one stage consumer, from its stage options; liveness key `{p}:liveness:<stage>:<consumer>`. */
export function consumerWatchdog(target: ProgressSource, d: ConsumerWatchdogDeps): Watchdog {
  return new Watchdog(target, {
    blockMs: d.stage.blockMs,
    intervalMs: d.stage.watchdogIntervalMs,
    stallTimeoutMs: d.stage.stallTimeoutMs,
    key: d.keys.liveness(d.stage.name, d.consumer),
    alive: { key: d.keys.livenessAlive(d.stage.name, d.consumer), ttlMs: d.stage.aliveTtlMs },
    registration: { key: d.keys.livenessRegistration(d.stage.name, d.consumer), ttlMs: registrationTtlMs(d.stage) },
    extraKeys: [d.keys.livenessHandOff(d.stage.name, d.consumer), d.keys.livenessClaim(d.stage.name, d.consumer)],
    file: d.progressFile ?? process.env.PROGRESS_FILE,
    ...((d.exitOnHung ?? ['1', 'true'].includes(process.env.EXIT_ON_HUNG ?? '')) ? { onHung: exitWhenHung(d.logger) } : {}),
    // fuses: the stages this consumer runs fused in its batches (lib/worker/process.ts says which): what views
    // apart from the workers (the console, `pipeline top`) show as fused (lib/ops/fusion-live.ts).
    identity: { stage: d.stage.name, consumer: d.consumer, host: hostname(), pid: process.pid, fuses: [] },
    connections: d.connections,
    logger: d.logger,
    metrics: d.metrics,
    tags: { stage: d.stage.name },
  });
}
