import type { Redis } from 'ioredis';
import { PERMISSION_FIX, PostgresRefusalError } from '../core/errors.js';
import { isPermissionRefusal, isPostgresRefusal } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import { explainRefusal } from '../redis/noperm.js';

/** A step of a consumer waiting for a permission (published on its liveness record as `waiting`). */
export type PermissionWait = RedisPermissionWait | PostgresPermissionWait;

/** A step waiting for a permission its Redis user lacks. */
export interface RedisPermissionWait {
  cause: 'noperm';
  /** The step refused: `stage` (the stage's own commands, e.g. the store's upsert), `loop` (read, hand-off), `reclaim.<step>`. */
  where: string;
  user: string;
  /** The refused command, and its keys when known (filled in once explained). */
  command: string;
  keys: string[];
  /** What to run. */
  fix: string;
  /** When the step was first refused (ms). */
  since: number;
}

/** The store's sink waiting for a privilege (or a login) PostgreSQL refuses its database role (stages/sinks/privileges.ts). */
export interface PostgresPermissionWait {
  cause: 'postgres_noperm';
  /** `stage`: the stage's own writes (the sink). */
  where: string;
  role: string;
  /** The role, what it lacks on which table (or why its login was refused), what to run. */
  line: string;
  /** The GRANT statements, when a grant fixes it. */
  fix?: string;
  since: number;
}

export interface PermissionNoticeOptions {
  /** The connection's Redis user (ACL WHOAMI at start; the URL's user before). */
  user: string;
  /** The command connection: a refused function's declared keys are narrowed on it (lib/redis/noperm.ts). */
  redis: () => Redis;
  logger: Logger;
}

/**
 * One consumer's Redis ACL refusals (NOPERM), said once each: the first refusal of a step logs
 * `redis.noperm` (error) naming the user, the command, its keys and the fix (`pipeline acl
 * --apply`); while it lasts its repeats are only counted (`redis.noperm`, by the caller's outage
 * metric), never a line per retry; `redis.noperm_resolved` says when the step goes through again.
 * What is waited on is on the liveness record (`waiting`), which `pipeline health` and `pipeline
 * top` read. A PostgreSQL refusal of the store's role (`postgres_noperm`, said by the sink itself as
 * `postgres.permission_denied`) is tracked here too, unlogged, so the record shows it with its GRANT.
 */
export class PermissionNotice {
  private readonly waits = new Map<string, PermissionWait>();
  /** The Redis user named in the lines (set from ACL WHOAMI once the worker has asked). */
  user: string;

  constructor(private readonly o: PermissionNoticeOptions) {
    this.user = o.user;
  }

  /** If `err` is an ACL refusal: note that `where` waits for it (logged the first time) and return true; else false. */
  report(where: string, err: unknown): boolean {
    if (!isPermissionRefusal(err)) return false;
    if (this.waits.has(where)) return true;
    const wait: RedisPermissionWait = { cause: 'noperm', where, user: this.user, command: '?', keys: [], fix: PERMISSION_FIX, since: Date.now() };
    this.waits.set(where, wait);
    void explainRefusal(err, { user: this.user, client: this.o.redis() })
      .catch(() => undefined)
      .then((e) => {
        if (e) Object.assign(wait, { command: e.command, keys: [...e.keys], fix: e.fix });
        this.o.logger.error('redis.noperm', { where, user: wait.user, command: wait.command, keys: wait.keys, fix: wait.fix, err: e ?? err });
      });
    return true;
  }

  /**
   * If `err` is PostgreSQL refusing the store's role: note that `where` waits for it and return true
   * (unlogged: the sink said it, `postgres.permission_denied`; the line is refreshed, a GRANT may
   * have changed what is missing); else false.
   */
  reportPostgres(where: string, err: unknown): boolean {
    if (!isPostgresRefusal(err)) return false;
    const key = `postgres:${where}`;
    const known = err instanceof PostgresRefusalError ? err : undefined;
    const since = this.waits.get(key)?.since ?? Date.now();
    const line = known?.line ?? (err instanceof Error ? err.message : String(err));
    this.waits.set(key, { cause: 'postgres_noperm', where, role: known?.role ?? '?', line, ...(known?.fix ? { fix: known.fix } : {}), since });
    return true;
  }

  /** `where` went through: its wait, if any, is over (`postgres`: the PostgreSQL one, which the sink says is over). */
  clear(where: string, on: 'redis' | 'postgres' = 'redis'): void {
    if (on === 'postgres') {
      this.waits.delete(`postgres:${where}`);
      return;
    }
    const wait = this.waits.get(where);
    if (!wait || wait.cause !== 'noperm') return;
    this.waits.delete(where);
    this.o.logger.info('redis.noperm_resolved', { where, user: wait.user, command: wait.command, waitedMs: Date.now() - wait.since });
  }

  /** The oldest wait now, undefined when nothing waits for a permission. */
  get waiting(): PermissionWait | undefined {
    let oldest: PermissionWait | undefined;
    for (const w of this.waits.values()) if (!oldest || w.since < oldest.since) oldest = w;
    return oldest;
  }
}
