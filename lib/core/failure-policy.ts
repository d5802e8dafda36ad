import { backoffMs } from './backoff.js';
import { BadRecordError, DecodeError, FunctionsMissingError, RouteError, TransientError } from './errors.js';
import { isReplyText } from './redis-replies.js';

/**
 * The one failure policy (docs/reliability.md "One failure policy"): every error from every
 * source (Redis replies and connections, Postgres, stage code, decoding) is classified here, and
 * what happens to a failed message is decided here. Nothing else keeps a list of error patterns
 * (Redis replies are recognised in lib/core/redis-replies.ts, whose patterns this module uses).
 *
 * - transient: an outage of something the message needs (Redis full or failing over, Postgres
 *   down, a socket reset), or a refusal no record can fix (a Redis user missing a permission, a
 *   Postgres role missing a grant or refused its credentials). Never the message's fault: waited
 *   out, no delivery counted. The refusals are configuration errors, not outages: start checks
 *   refuse them (`isPermissionRefusal`, `isPostgresRefusal`) instead of waiting.
 * - permanent: the message itself is bad (undecodable, invalid, unroutable). Retrying cannot
 *   help: dead-lettered at once.
 * - poison: anything else a stage throws. It may be the message: retried later with backoff,
 *   each try counted, dead-lettered after `maxDeliveries`.
 */
export type FailureClass = 'transient' | 'permanent' | 'poison';

/** Where a transient failure comes from, for logs and for the alerting metric `outageMetric` names. */
export type Outage =
  'redis_oom' | 'redis_misconf' | 'redis_unavailable' | 'redis_noperm' | 'postgres_unavailable' | 'postgres_noperm' | 'connection' | 'dependency';

export interface Classified {
  class: FailureClass;
  /** Set for transient failures. */
  outage?: Outage;
}

// Redis error replies (OOM; MISCONF: Redis cannot persist to disk and refuses every write until a
// save succeeds, the connection fine, so no reconnect; unavailable: LOADING, BUSY, ... anchored so `BUSYGROUP` is not `BUSY`;
// NOPERM: whatever the record, every call is refused until the users are applied again, the
// deployment's fault, so no record is dead-lettered for it; a Cluster moving a slot or failing
// over: MOVED/ASK/UNBLOCKED, routine, never the record's fault) are recognised in one module,
// lib/core/redis-replies.ts (`isReplyText`: the reply itself or inside ioredis' wrappings of it),
// which this policy classifies with.
// The socket or the client gave up on a command: the server may be fine, the link was not.
const CONNECTION =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|Connection is closed|Stream isn't writeable|aborted due to connection close|Command timed out|Reached the max retries per request/i;
// SQLSTATE classes worth retrying: 08 connection exception, 53 insufficient resources (too many
// connections, disk full), 57P01-3 admin/crash shutdown or cannot connect now, 57014 statement
// timeout, 40001 serialization failure, 40P01 deadlock. And the database refusing every write
// whatever the record, until someone acts (no record's fault, so no record is dead-lettered for
// it): 3D000 no such database, 25006 read-only (a demoted primary, a standby), 55P03 lock not
// available, 42P01 / 42703 the table or a column missing (the schema not migrated: `pipeline store migrate`).
const PG_SQLSTATE = /^(08|53|57P0[123]$|57014$|40001$|40P01$|3D000$|25006$|55P03$|42P01$|42703$)/;
// The database refusing the configured role: 42501 insufficient_privilege (a grant missing or
// revoked), 28 invalid authorization (28000 no such role / not allowed, 28P01 password refused).
// A configuration error, not an outage: the database is there. Waited out like one by workers
// (no record's fault), refused by start checks, said as such (the role, the table, the GRANT).
const PG_REFUSED = /^(28|42501$)/;
const PG_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|database system is (starting up|shutting down|in recovery mode)/i;
// Replies after which the connection itself should be dropped and reopened (ioredis reconnectOnError):
// REPLY_PATTERNS.reconnect of lib/core/redis-replies.ts (maxclients may answer the handshake; READONLY/LOADING: the node changed role or restarted).

const messageOf = (err: Error) => err.message ?? '';

/** Classify one error. Errors the pipeline raises on purpose carry their class; others are read from their reply or code. */
export function classify(err: unknown): Classified {
  if (err instanceof BadRecordError || err instanceof DecodeError || err instanceof RouteError) return { class: 'permanent' };
  // A missing Functions library this user may not load: its cause (FUNCTION LOAD refused) is expected, the library is what is out.
  if (err instanceof FunctionsMissingError) return { class: 'transient', outage: err.outage ?? 'redis_unavailable' };
  if (err instanceof TransientError) {
    const inner = err.cause !== undefined ? classify(err.cause) : undefined;
    return { class: 'transient', outage: inner?.outage ?? err.outage ?? 'dependency' };
  }
  if (!(err instanceof Error)) return { class: 'poison' };
  const outage = outageOf(err);
  return outage ? { class: 'transient', outage } : { class: 'poison' };
}

/** The outage an error reports, or undefined when it is not one. */
function outageOf(err: Error): Outage | undefined {
  const msg = messageOf(err);
  if (isReplyText('oom', msg)) return 'redis_oom';
  if (isReplyText('misconf', msg)) return 'redis_misconf';
  if (isReplyText('unavailable', msg)) return 'redis_unavailable';
  if (isReplyText('noPermission', msg)) return 'redis_noperm';
  if (isReplyText('clusterMoving', msg)) return 'redis_unavailable';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && PG_REFUSED.test(code)) return 'postgres_noperm';
  if (typeof code === 'string' && PG_SQLSTATE.test(code)) return 'postgres_unavailable';
  if (PG_MESSAGE.test(msg)) return 'postgres_unavailable';
  if (typeof code === 'string' && CONNECTION.test(code)) return 'connection';
  if (CONNECTION.test(msg)) return 'connection';
  if (err instanceof AggregateError) {
    // Node's happy-eyeballs connect: one AggregateError of several ECONNREFUSED.
    for (const e of err.errors) if (e instanceof Error && outageOf(e)) return outageOf(e);
  }
  return undefined;
}

/** True for failures that retrying later can fix without counting a delivery. */
export function isTransient(err: unknown): boolean {
  return classify(err).class === 'transient';
}

/** True when the message itself is bad: dead-lettered at once. */
export function isPermanent(err: unknown): boolean {
  return classify(err).class === 'permanent';
}

/**
 * True when Redis refused this user a command or key (NOPERM): waited out in place by workers,
 * never charged to a record; the CLI exits 13 on it (not retried: only `pipeline acl --apply` fixes it).
 */
export function isPermissionRefusal(err: unknown): boolean {
  return classify(err).outage === 'redis_noperm';
}

/** True for Redis-side or connection outages (the hand-off, the producer and the CLI retry these; not a permission refusal). */
export function isTransientRedisError(err: unknown): boolean {
  const o = classify(err).outage;
  return o === 'redis_oom' || o === 'redis_misconf' || o === 'redis_unavailable' || o === 'connection';
}

/**
 * True when Redis refused a write whole, before any of it was done: OOM (at `maxmemory`; our
 * functions without `allow-oom` are refused at their start) or MISCONF (cannot persist; every
 * function of ours writes, so Redis refuses it at its start). Nothing was written: a submit says
 * "not taken", not "outcome unknown".
 */
export function isWriteRefused(err: unknown): boolean {
  const o = classify(err).outage;
  return o === 'redis_oom' || o === 'redis_misconf';
}

/**
 * True when PostgreSQL refused the configured role (42501 a privilege missing, 28 credentials or
 * role refused): a configuration error. Workers wait it out (never charged to a record); start
 * checks (`pipeline up`, the store's start) and commands refuse it naming the fix.
 */
export function isPostgresRefusal(err: unknown): boolean {
  return classify(err).outage === 'postgres_noperm';
}

/** True when a pg / network error means "the database is unreachable or busy", not "this data is wrong" (nor "this role may not": `isPostgresRefusal`). */
export function isTransientPgError(err: unknown): boolean {
  const o = classify(err).outage;
  return o === 'postgres_unavailable' || o === 'connection';
}

/** True for replies after which a Redis connection should be dropped and reopened. */
export function shouldReconnect(err: Error): boolean {
  return isReplyText('reconnect', messageOf(err));
}

/**
 * The counter an alert should watch for this failure: `redis.oom` (Redis is full: raise maxmemory
 * or drain), `redis.misconf` (Redis cannot persist to disk, MISCONF: free the disk, see its log),
 * `redis.unavailable` (loading, failing over, busy, cluster down), `redis.noperm` (a user
 * missing a permission: `pipeline acl --apply`), `postgres.unavailable`, `postgres.noperm` (the
 * store's database role refused: a GRANT, docs/data-store.md),
 * `network.unavailable` (a socket dropped or timed out), `dependency.unavailable`; undefined for failures that are not outages.
 */
export function outageMetric(err: unknown): string | undefined {
  switch (classify(err).outage) {
    case 'redis_oom':
      return 'redis.oom';
    case 'redis_misconf':
      return 'redis.misconf';
    case 'redis_unavailable':
      return 'redis.unavailable';
    case 'redis_noperm':
      return 'redis.noperm';
    case 'postgres_unavailable':
      return 'postgres.unavailable';
    case 'postgres_noperm':
      return 'postgres.noperm';
    case 'connection':
      return 'network.unavailable';
    case 'dependency':
      return 'dependency.unavailable';
    default:
      return undefined;
  }
}

const DEPENDENCY_NAMES: Record<Outage, string> = {
  redis_oom: 'Redis (out of memory)',
  redis_misconf: 'Redis (cannot persist to disk)',
  redis_unavailable: 'Redis',
  redis_noperm: 'Redis',
  postgres_unavailable: 'PostgreSQL',
  postgres_noperm: 'PostgreSQL',
  connection: 'a network connection',
  dependency: 'a dependency of the stage',
};

/**
 * What a transient failure waits for, named for a person (the consumer's liveness record, `pipeline
 * top`, `status`, `health`): the `dependency` a TransientError in the chain names, else what its
 * raiser said is out (`outage`: the Postgres sink's `postgres_unavailable` over its cause's socket
 * error), else what `classify` reads from the error; undefined for a failure that is not an outage.
 */
export function dependencyOf(err: unknown): string | undefined {
  if (!isTransient(err)) return undefined;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof TransientError && e.dependency) return e.dependency;
    if (e instanceof TransientError && e.outage) return DEPENDENCY_NAMES[e.outage];
  }
  const o = classify(err).outage;
  return o ? DEPENDENCY_NAMES[o] : undefined;
}

/** What happens to one failed message. */
export type Decision =
  /** Try again after `delayMs`; `attempt` is the delivery number it will carry (unchanged for an outage). */
  | { action: 'retry_later'; attempt: number; delayMs: number; class: FailureClass }
  /** To the dead-letter stream with this reason. */
  | { action: 'dead_letter'; reason: 'permanent_error' | 'max_deliveries'; class: FailureClass };

export interface RetryPolicy {
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/**
 * The fate of one message that failed on delivery `attempt`: transient → retry later without
 * counting a delivery; permanent → dead-letter now; poison → retry later counting the delivery,
 * dead-letter once `maxDeliveries` were used.
 */
export function decide(err: unknown, attempt: number, p: RetryPolicy, random = Math.random): Decision {
  const c = classify(err).class;
  if (c === 'permanent') return { action: 'dead_letter', reason: 'permanent_error', class: c };
  if (c === 'poison' && attempt >= p.maxDeliveries) return { action: 'dead_letter', reason: 'max_deliveries', class: c };
  return {
    action: 'retry_later',
    attempt: c === 'transient' ? attempt : attempt + 1,
    delayMs: backoffMs(attempt, p.retryBaseMs, p.retryMaxMs, random),
    class: c,
  };
}

/**
 * Whole-batch decision after a stage call: when every message failed with a transient error the
 * batch waits in place (same entries, no delivery counted, nothing new read), unless the process
 * is stopping. `failures` holds each message's error, or undefined when it succeeded.
 */
export function waitInPlace(failures: readonly (unknown | undefined)[], stopping: boolean): boolean {
  return !stopping && failures.length > 0 && failures.every((e) => e !== undefined && isTransient(e));
}

/**
 * A call that failed for a whole batch of `size`: should each message be tried alone, so that one
 * bad message fails only itself? Not for an outage (it would fail them all, one call at a time).
 */
export function isolateEach(err: unknown, size: number): boolean {
  return size > 1 && !isTransient(err);
}
