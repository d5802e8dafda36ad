/** Base class: every error the pipeline raises on purpose is one of these. */
export class PipelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The pipeline config is invalid; `where` names the offending path (e.g. `routes.classify[2].to`). */
export class ConfigError extends PipelineError {
  constructor(readonly where: string, reason: string) {
    super(`config error at ${where}: ${reason}`);
  }
}

/** A stream entry or input line that cannot be decoded into an envelope or record. */
export class DecodeError extends PipelineError {}

/** A record that fails validation (wrong types, missing fields, oversized). Permanent: retrying will not help. */
export class BadRecordError extends PipelineError {}

/** A stage output matched no routing rule and the stage has no default. */
export class RouteError extends PipelineError {}

/** A stage failed on one message; retried with backoff up to the stage's limit, then dead-lettered. */
export class StageError extends PipelineError {}

/** A Redis script returned an error code the runtime knows. */
export class ScriptError extends PipelineError {}

/** redis-server could not be started (binary missing, port taken, ...). */
export class RedisServerError extends PipelineError {}

/**
 * A dependency outage, not a fault of the message (the sink is unreachable, a connection timed
 * out, the database is restarting). The consumer retries the batch in place with backoff and does
 * not count it toward `maxDeliveries`, so an outage never dead-letters good records.
 */
export class TransientError extends PipelineError {}

/**
 * The pipeline's Redis Functions library (lib/redis/functions.ts) is not on the server and this
 * connection's user may not load it: an admin must (`pipeline acl --apply`). Waited out, like an outage.
 */
export class FunctionsMissingError extends TransientError {}

/** True for failures that retrying the same batch later can fix without counting a delivery. */
export function isTransient(err: unknown): boolean {
  return err instanceof TransientError;
}

/** True for errors where retrying the same call later can succeed (connection loss, server limits, timeouts). */
export function isTransientRedisError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof FunctionsMissingError) return true;
  const msg = err.message;
  return (
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Connection is closed|Stream isn't writeable|aborted due to connection close/i.test(msg) ||
    /max number of clients|LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|Too many Cluster redirections/.test(msg) ||
    /Command timed out|Reached the max retries per request/i.test(msg)
  );
}

/** Permanent per-message failures go straight to the dead-letter stream; others are retried. */
export function isPermanent(err: unknown): boolean {
  return err instanceof BadRecordError || err instanceof DecodeError || err instanceof RouteError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
