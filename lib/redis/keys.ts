/**
 * Key names. Every key of a pipeline shares one hash tag (`{products}`), so a Lua script may
 * touch several streams and the store's keys, also on Redis Cluster. A sharded pipeline (config
 * `shards` > 1, lib/redis/shard.ts) has one full set per shard, each under its own tag (`{products:3}`).
 */
export class Keys {
  readonly tag: string;
  /** @param shard this shard's number; undefined = the unsharded pipeline (`{products}`). */
  constructor(
    readonly pipeline: string,
    readonly shard?: number,
  ) {
    this.tag = shard === undefined ? `{${pipeline}}` : `{${pipeline}:${shard}}`;
  }

  /** Every shard's Keys: `[{p}]` for one shard (today's names), else `{p:0}` .. `{p:n-1}`. */
  static shards(pipeline: string, n: number): Keys[] {
    return n <= 1 ? [new Keys(pipeline)] : Array.from({ length: n }, (_, i) => new Keys(pipeline, i));
  }
  /** A stream by its config name (`classify` → `{products}:classify`). */
  stream(name: string): string {
    return `${this.tag}:${name}`;
  }
  get dlq(): string {
    return `${this.tag}:dlq`;
  }
  /** Hash holding one stored product. */
  product(key: string): string {
    return `${this.tag}:product:${key}`;
  }
  /** Set of every stored product key. */
  get products(): string {
    return `${this.tag}:products`;
  }
  /** Set of stored product keys in one category. */
  category(name: string): string {
    return `${this.tag}:category:${name}`;
  }
  /**
   * The progress watchdog's liveness marker of one consumer of `stage` (lib/worker/watchdog.ts). The stage
   * is in the name so a stage's ACL user can write its own markers only.
   */
  liveness(stage: string, consumer: string): string {
    return `${this.tag}:liveness:${stage}:${consumer}`;
  }
  /**
   * That a consumer of `stage` keeps an alive key (`livenessAlive`): written with it, with a longer TTL
   * (lib/lua/liveness-3.lua). A consumer registered whose alive key is gone stopped beating: its
   * siblings hand its pending entries over (lib/worker/liveness-handover.ts). Under the marker's
   * prefix, so the stage's ACL user may write it; no consumer name holds a `:`.
   */
  livenessRegistration(stage: string, consumer: string): string {
    return `${this.liveness(stage, consumer)}${REGISTERED}`;
  }
  /**
   * A consumer's "process alive" key: rewritten by its watchdog every `watchdogIntervalMs` with a
   * TTL of `aliveTtlMs`, whatever its read loop does (lib/lua/liveness-3.lua); gone means the process
   * is (lib/worker/liveness-handover.ts). The stall marker (`liveness`) is what `pipeline health` reads.
   */
  livenessAlive(stage: string, consumer: string): string {
    return `${this.liveness(stage, consumer)}${ALIVE}`;
  }
  /**
   * A consumer's hand-off memory: its last hand-off's call id and reply (lib/lua/handoff-N.lua), so
   * a hand-off the client sends again after losing its reply is answered as the first was. Under
   * the marker's prefix, so the stage's ACL user may write it.
   */
  livenessHandOff(stage: string, consumer: string): string {
    return `${this.liveness(stage, consumer)}${HANDOFF}`;
  }
  /** A consumer's claim memory: its last claim's token and reply (lib/lua/claim-3.lua), for the same reason, under the same prefix. */
  livenessClaim(stage: string, consumer: string): string {
    return `${this.liveness(stage, consumer)}${CLAIM}`;
  }
  /**
   * The claim fence of a stage's group: a token that every claim of entries from another
   * consumer replaces in the same step (lib/lua/claim-3.lua), as does a hand-off of a read that
   * may have been lost in a failover (handoff-N.lua). A hand-off whose batch was read
   * after a fence value it sees unchanged knows none of its entries was claimed (handoff-N.lua).
   */
  fence(stage: string): string {
    return `${this.tag}:fence:${stage}`;
  }
  /**
   * The paused flag of a stage (lib/stream/pause-flag.ts): a small hash (`by`, `at`, `reason`)
   * whose presence pauses every consumer of the stage that reads under this tag; `pipeline pause`,
   * the HTTP API and the console write it on every shard's tag (lib/ops/pause.ts), on the slot of
   * the stage's fence and liveness keys, so each shard's workers read their own shard's copy.
   */
  paused(stage: string): string {
    return `${this.tag}:paused:${stage}`;
  }
  /**
   * The token bucket of a stage's `rateLimit` (lib/lua/rate-limit-1.lua): a small hash (`t` tokens,
   * `ts` server time in ms) with a TTL of twice the window (gone = full), one per shard tag, on the
   * slot of the stage's fence and paused flag: the limit holds per shard.
   */
  rateLimit(stage: string): string {
    return `${this.tag}:ratelimit:${stage}`;
  }
  /** The completion stream: one entry per product that reached an end (stored, review, dead-lettered), capped (lib/stream/done.ts). */
  get done(): string {
    return `${this.tag}:done`;
  }
  /** Completions `pipeline webhooks` gave up on (receiver refused them, or attempts ran out), beside `done` on its slot (lib/webhooks/). */
  get webhooksDlq(): string {
    return `${this.tag}:webhooks:dlq`;
  }
  /**
   * Revoked ids (`pipeline revoke`, lib/ops/revoke.ts): a stream, one entry per revoke (`k` id, `c`
   * cut-off, `b` who, `r` why), kept `limits.revokeTtlMs` (XADD MINID, PEXPIRE). Each shard has its
   * own, beside the input stream whose last id is the cut-off; its workers read it with the paused flag.
   */
  get revokes(): string {
    return `${this.tag}:revokes`;
  }
  /**
   * How many records ended `revoked` (a counter: INCR with each revoked completion, lib/stream/done.ts),
   * for `pipeline status`, `top`, the console and `/metrics`; no TTL. A worker that dies between a
   * revoked record's completion and its ack writes that completion again, and it is counted again.
   */
  get revokedCount(): string {
    return `${this.tag}:revoked`;
  }
  /** Small hash with one id's last known status (queued, stored, review, dead_lettered, revoked), with a TTL (lib/stream/done.ts). */
  status(key: string): string {
    return `${this.tag}:status:${key}`;
  }
  /**
   * `pipeline reprocess`'s in-flight marker of one product (lib/ops/reprocess.ts, reprocess-2.lua): a
   * small hash naming the stored version that was put back, with a TTL. Only the admin writes it;
   * the store stage deletes it once it stores the new version (upsert-product-5.lua, drop-reprocess-marker-1.lua).
   */
  reprocess(key: string): string {
    return `${this.tag}:reprocess:${key}`;
  }
  /**
   * The latest console decision on one product (lib/console/review-decide.ts, review-decide-N.lua):
   * a small hash of its version (`origin`), review entry, reviewer and time, kept with no TTL (one
   * per decided product). A review item of the product older than that version is closed, not applied.
   */
  reviewed(key: string): string {
    return `${this.tag}:reviewed:${key}`;
  }
  /**
   * The console's open review items of one product (lib/lua/review-listed-N.lua): a hash of review
   * entry id → the item's origin, written as the console lists them. A decision of the product acks
   * and removes those of its record (review-decide-N.lua), so they leave the list with it.
   */
  reviewOpen(key: string): string {
    return `${this.tag}:console:review-open:${key}`;
  }
  /**
   * Which product each listed review item is of (review entry id → product key), beside the
   * products' open-item hashes and emptied with them: acknowledging a trimmed item, whose entry (and
   * so its key) is gone, finds the open-item hash to clear through it.
   */
  get reviewListed(): string {
    return `${this.tag}:console:review-listed`;
  }
  /**
   * The last console listing's token and the review items it closed as superseded (a hash:
   * `call`, `closed`; lib/lua/review-listed-N.lua): the client's re-send of that listing, its reply
   * lost with the connection, names them as closed too.
   */
  get reviewListedCall(): string {
    return `${this.tag}:console:review-listed-call`;
  }
  /**
   * The data-loss marker (lib/stream/data-loss.ts): a random id and its creation time, written once
   * (SET NX) by the first worker. A worker that saw it and finds it gone or changed knows Redis lost data.
   */
  get epoch(): string {
    return `${this.tag}:epoch`;
  }
  /** The record of a data loss a worker saw (a hash: when, by whom, what), kept until an operator acknowledges it (`pipeline health --ack-data-loss`). */
  get dataLost(): string {
    return `${this.tag}:data-lost`;
  }
  /** Prefix for any other key a stage keeps (e.g. match vectors). */
  extra(name: string): string {
    return `${this.tag}:${name}`;
  }
}

const REGISTERED = ':registered';
const ALIVE = ':alive';
const HANDOFF = ':handoff';
const CLAIM = ':claim';
const NOT_MARKERS = [REGISTERED, ALIVE, HANDOFF, CLAIM];

/** Whether a key found under `{p}:liveness:*` is a consumer's marker, not its registration, alive key, hand-off or claim memory (Keys.livenessRegistration, Keys.livenessAlive, Keys.livenessHandOff, Keys.livenessClaim). */
export function isLivenessMarker(key: string): boolean {
  return !NOT_MARKERS.some((suffix) => key.endsWith(suffix));
}

/** Consumer name unique per process and reader: host-pid-n. */
export function consumerName(host: string, pid: number, n: number): string {
  return `${host}-${pid}-${n}`;
}
