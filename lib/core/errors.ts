/** Base class: every error the pipeline raises on purpose is one of these. */
export class PipelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The pipeline config is invalid; `where` names the offending path (e.g. `routes.classify[2].to`). */
export class ConfigError extends PipelineError {
  constructor(
    readonly where: string,
    readonly reason: string,
    /** The config file it came from, when there is one. */
    readonly file?: string,
  ) {
    super(`config error${file ? ` in ${file}` : ''} at ${where}: ${reason}`);
  }
}

/** A stream entry or input line that cannot be decoded into an envelope or record. */
export class DecodeError extends PipelineError {}

/** A record that fails validation (wrong types, missing fields, oversized). Permanent: retrying will not help. */
export class BadRecordError extends PipelineError {}

/** An entry id a caller gave (CLI argument, API body) that is not a whole stream id `<ms>-<seq>`. */
export class BadIdError extends PipelineError {}

/** A stage output matched no routing rule and the stage has no default. */
export class RouteError extends PipelineError {}

/** A stage failed on one message; retried with backoff up to the stage's limit, then dead-lettered. */
export class StageError extends PipelineError {}

/** A Redis script returned an error code the runtime knows. */
export class ScriptError extends PipelineError {}

/** redis-server could not be started (binary missing, port taken, ...). */
export class RedisServerError extends PipelineError {}

/** redis-server could not bind its port (another process took it between the pick and the bind). */
export class PortTakenError extends RedisServerError {}

/** The HTTP API could not bind its address: the message names it, why (port in use, below 1024, not this machine's) and the option that moves it. */
export class ListenError extends PipelineError {}

/**
 * A dependency outage, not a fault of the message (the sink is unreachable, a connection timed out, the database is restarting). The consumer
 * retries the batch in place with backoff and does not count it toward `maxDeliveries`, so an outage never dead-letters good records.
 */
export class TransientError extends PipelineError {
  /** What is out, when the raiser knows better than its cause says (lib/core/failure-policy.ts `Outage`). */
  readonly outage?:
    'redis_oom' | 'redis_misconf' | 'redis_unavailable' | 'redis_noperm' | 'postgres_unavailable' | 'postgres_noperm' | 'connection' | 'dependency';
  /**
   * What is out, named for a person (`Redis`, `the model server at ...`): what the consumer's liveness
   * record says it waits for (`pipeline top`, `status`, `health`). @defaultValue named from `outage` (lib/core/failure-policy.ts `dependencyOf`)
   */
  readonly dependency?: string;
  constructor(message: string, options?: { cause?: unknown; outage?: TransientError['outage']; dependency?: string }) {
    super(message, options);
    if (options?.outage) this.outage = options.outage;
    if (options?.dependency) this.dependency = options.dependency;
  }
}

/** A stage call did not return within `stageTimeoutMs`: abandoned, and the batch retried (counted as a delivery). */
export class StageTimeoutError extends PipelineError {}

/**
 * A message of a batch that was not run this time because another message of it (`hungId`) hung
 * past `stageTimeoutMs` first (lib/worker/stage-runner.ts). A TransientError (retried later, no
 * delivery counted), but not the message's fault: counted in `messages.deferred`, never in
 * `messages.errors`, and logged as `message.deferred` (info), not `message.retry`.
 */
export class NotRunError extends TransientError {
  constructor(
    readonly hungId: string,
    hung: StageTimeoutError,
  ) {
    super(`not run: message ${hungId} of the same batch hung first (${hung.message})`);
  }
}

/** A periodic pass over Redis got no answer in its time (Redis down: its commands wait for the reconnect): a gauge sample within `metrics.sampleTimeoutMs`, an autoscaler pass within its `timeoutMs`. */
export class SampleTimeoutError extends PipelineError {}

/**
 * A hand-off target stream cannot be written: the key holds another type (WRONGTYPE), or the
 * stage's ACL user may not write it (NOPERM: routes gained a target without `pipeline acl --apply`).
 * The hand-off script checks this before its first write, so nothing was acked; the messages
 * routed there are dead-lettered (`unwritable_target`) instead.
 */
export class UnwritableTargetError extends PipelineError {
  constructor(
    readonly key: string,
    readonly reason: 'WRONGTYPE' | 'NOPERM',
  ) {
    super(
      reason === 'WRONGTYPE'
        ? `${reason}: hand-off target ${key} holds a key of another type, not a stream`
        : `${reason}: this stage's Redis user may not write hand-off target ${key} (run \`pipeline acl --apply\` after changing routes)`,
    );
  }
}

/** The pipeline's Redis Functions library (lib/redis/functions.ts) is not on the server and this connection's user may not load it: an admin must (`pipeline acl --apply`). Waited out, like an outage. */
export class FunctionsMissingError extends TransientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, outage: 'redis_unavailable' });
  }
}

/**
 * A review item that may no longer be decided, closed (acked from the console's group) instead:
 * `stale`, a newer record of the product (another input) is stored since the item was queued;
 * `superseded`, a reviewer decided the product after the record the item shows (another item of
 * it). `version` names the newer stored version or the decision's.
 */
export class ReviewConflictError extends PipelineError {
  constructor(
    readonly reason: 'stale' | 'superseded',
    readonly key: string,
    readonly version: string,
    message: string,
    /** superseded: who decided, which review entry, when (ms). */
    readonly decision?: { by: string; entry: string; at: number },
    /** superseded: the item had been closed already (with that decision, or as a page listed it), not by this request. */
    readonly closedBefore = false,
  ) {
    super(message);
  }
}

/**
 * Redis refused a command for this user's ACL (NOPERM; inside a function "The user executing the
 * script can't ..."), explained for a person: which user, which command, which keys, and what to
 * run. A missing permission is the deployment's (users applied by an older release or from another
 * config), never a record's: waited out in place like an outage (`redis_noperm`), nothing is
 * dead-lettered for it; a worker that finds one at start refuses to start (exit 13).
 */
export class PermissionError extends TransientError {
  constructor(
    /** The Redis user (ACL WHOAMI, or the user of the URL). */
    readonly user: string,
    /** The refused command, upper-case (`XREADGROUP`; `FCALL upsert-product-5`; `XAUTOCLAIM in function claim-3`). */
    readonly command: string,
    /** The keys it was refused on, when known (the one refused when it could be told apart). */
    readonly keys: readonly string[],
    /** Redis's own reply. */
    readonly reply: string,
    /** What to do. @defaultValue run `pipeline acl --apply` as the admin */
    readonly fix = PERMISSION_FIX,
  ) {
    super(`Redis user ${user} may not run ${command}${keys.length ? ` on ${keys.join(', ')}` : ''}: ${fix} [${reply}]`, { outage: 'redis_noperm' });
  }
}

/**
 * PostgreSQL refused the store's database role (42501 a privilege missing, 28000 / 28P01 its
 * login), explained (stages/sinks/privileges.ts): the role, the line naming what it lacks, and the
 * GRANT to run. Waited out in place like an outage (`postgres_noperm`), nothing dead-lettered; the
 * consumer publishes the wait on its liveness record, which `pipeline health` and `top` show.
 */
export class PostgresRefusalError extends TransientError {
  constructor(
    /** The database role refused. */
    readonly role: string,
    /** One line: the role, what it lacks on which table (or why its login was refused), what to run. */
    readonly line: string,
    /** The GRANT statements to run as the tables' owner; undefined for a refused login (no GRANT fixes it). */
    readonly fix: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`postgres refused: ${line}`, { ...options, outage: 'postgres_noperm' });
  }
}

/** The fix of a stage, producer or observer user missing a permission. */
export const PERMISSION_FIX =
  'its ACL rules predate this release or come from another config: run `pipeline acl --apply` as the admin (REDIS_URL), nothing is lost meanwhile';

/**
 * `pipeline acl --apply` on a Cluster could not reach some nodes `CLUSTER NODES` lists (a node
 * down and not flagged failed, or not yet forgotten), or on Sentinel some replicas the sentinels
 * list: every node it reached has the users, these do not. The CLI: exit 10, this message naming both.
 */
export class AclNodesUnreachableError extends PipelineError {
  constructor(
    /** host:port of each node that got the users. */
    readonly applied: readonly string[],
    /** host:port of each node that could not be reached, with why. */
    readonly unreachable: readonly { address: string; error: string }[],
    /** Where they were listed (the message names it): CLUSTER NODES, or the sentinels. @defaultValue "cluster" */
    readonly listedBy: 'cluster' | 'sentinel' = 'cluster',
  ) {
    const c = listedBy === 'cluster';
    super(
      `ACL users applied to ${applied.length} of the ${applied.length + unreachable.length} ${c ? 'nodes CLUSTER NODES lists' : 'servers the sentinels list'} (${applied.join(', ') || 'none'}); not reached: ` +
        `${unreachable.map((u) => `${u.address} [${u.error}]`).join(', ')}: start ${unreachable.length === 1 ? 'it' : 'them'} again ` +
        `(or ${c ? 'CLUSTER FORGET a node' : 'SENTINEL RESET the master to forget a replica'} gone for good) and run \`pipeline acl --apply\` again: a ${c ? 'node' : 'replica'} without the users refuses them (WRONGPASS) once it ${c ? 'serves their slots' : 'is promoted'}`,
    );
  }
}

/**
 * A batch was not acknowledged by `waitReplicas` replicas within `retryForMs` (lib/producer/producer.ts):
 * produce stops, the batch may or may not survive a failover. The CLI: exit 16, this message
 * (lib/redis/diagnose.ts), not a connection error the client met on the way.
 */
export class ReplicationError extends PipelineError {}

/**
 * A single-node URL (`redis://`) points at a Redis Cluster node (lib/redis/cluster-node.ts): it
 * reaches that one node, and every key of another node's slots is answered MOVED. Not waited out:
 * the URL must change to `redis+cluster://`.
 */
export class ClusterNodeError extends PipelineError {
  constructor(
    /** host:port of the node. */
    readonly address: string,
    /** How it was found (INFO cluster_enabled:1, or the MOVED reply). */
    readonly found: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${address} is a Redis Cluster node (${found}): a redis:// URL reaches that one node only; use \`redis+cluster://${address}[,host:port...]\` in \`REDIS_URL\` (or REDIS_URL_<STAGE>)`,
      options,
    );
  }
}

/* What is transient, permanent or poison is decided in one place: lib/core/failure-policy.ts. */

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A producer run's state in Redis counts fewer of its records than it has sent: records it had
 * added are gone (Redis restarted without persistence, a failover lost writes, the state expired).
 * Nothing of the batch was written (produce-batch-2.lua).
 */
export class ProducerGapError extends PipelineError {
  constructor(
    readonly stream: string,
    readonly start: number,
    readonly recorded: number,
  ) {
    super(
      `${stream}: Redis has ${recorded} of the ${start} records this run had added before this batch (restarted without persistence, or a failover lost writes?): records may be missing`,
    );
  }
}

/** A producer lane's batch that was waiting (retried within `retryForMs`) when another lane failed: not sent again, the run stops with that error (lib/producer/lane.ts). */
export class ProduceStoppedError extends PipelineError {}

/** A producer run id resumed on an input that is not the one it was started on (produce-batch-2.lua's fingerprint). */
export class RunInputMismatchError extends PipelineError {}

/** A scan of the products set whose Redis changed process page after page (stages/sinks/export-redis.ts): it would never end. */
export class ScanRestartsError extends PipelineError {}

/** `pipeline reprocess` while live workers run another model than the files it sees (lib/ops/model-workers.ts): what it put back would be stored with the old one. */
export class OtherModelWorkersError extends PipelineError {}

/** A file a command reads or writes cannot be used (missing, a directory, no permission): named with its path, never taken for a Redis failure. */
export class FileError extends PipelineError {}

/**
 * `pipeline store migrate` ran as a role that may not create or alter the tables (42501: no CREATE
 * on the database or the schema, not the owner of `products`): typically the store workers' own
 * role, which is what the config's `postgresUrl` names. Says to run it as the tables' owner.
 */
export class MigrationRoleError extends PipelineError {
  constructor(
    readonly role: string,
    /** What it was doing: `apply migration 003_applied_entries`, `create the schema`. */
    readonly step: string,
    /** PostgreSQL's message. */
    readonly refused: string,
    options?: { cause?: unknown },
  ) {
    super(
      `database role "${role}" may not ${step} (${refused}): run \`pipeline store migrate\` as the tables' owner (a role with CREATE on the database), e.g. --database-url postgres://<owner>@<host>/<db>; the store workers' role needs only USAGE, SELECT, INSERT, UPDATE (docs/data-store.md)`,
      options,
    );
  }
}

/**
 * `pipeline store migrate` could not get a lock its migration needs within `lockWaitMs`
 * (stages/sinks/migrations/lock-wait.ts): other sessions held the schema's tables all along. Names
 * them; nothing was changed, and the store's writes went on between the attempts.
 */
export class MigrationLockError extends PipelineError {
  constructor(
    readonly migration: string,
    /** The sessions holding a table of the schema when it gave up (pid, user, application, state, query). */
    readonly holders: readonly string[],
    readonly waits: { lockTimeoutMs: number; lockWaitMs: number; attempts: number },
    options?: { cause?: unknown },
  ) {
    const who = holders.length ? `held by ${holders.join('; ')}` : 'held by another session';
    super(
      `migration ${migration} could not lock its table: ${waits.attempts} attempt(s) of ${waits.lockTimeoutMs} ms each over ${waits.lockWaitMs} ms (--lock-timeout, --lock-wait), ` +
        `${who}; nothing was changed and the store's writes went on meanwhile: end or wait for those sessions and run \`pipeline store migrate\` again`,
      options,
    );
  }
}

/** A worker process keeps crashing soon after it starts (the supervisor's crash loop): a job waiting for the pipeline stops instead of waiting it out. */
export class CrashLoopError extends PipelineError {
  constructor(
    /** The worker process kind (a config `process`, or the stage's name when it runs alone). */
    readonly unit: string,
    readonly stages: readonly string[],
    readonly crashes: number,
    readonly logFile: string,
  ) {
    const which = stages.length === 1 && stages[0] === unit ? `stage ${unit}` : `process ${unit} (stages ${stages.join(', ')})`;
    super(`the worker of ${which} crashed ${crashes} times in a row soon after starting (crash loop); worker logs: ${logFile}`);
  }
}

/** A model cannot be loaded (not found, threads invalid, transformers.js or ONNX Runtime failed); the message names the model. */
export class ModelLoadError extends PipelineError {
  constructor(
    readonly model: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot load model ${model}: ${message}`, options);
  }
}

/** A local model folder lacks a file transformers.js needs, or has one it cannot use (empty, not JSON): named with its path. */
export class ModelFilesError extends ModelLoadError {
  constructor(
    model: string,
    readonly file: string,
    readonly problem: string,
  ) {
    super(model, `${file}: ${problem}`);
  }
}
