import type { Redis } from 'ioredis';
import { PERMISSION_FIX } from '../core/errors.js';
import { isPermissionRefusal } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import { explainRefusal } from '../redis/noperm.js';

/** A step of a consumer waiting for a permission its Redis user lacks (published on its liveness record as `waiting`). */
export interface PermissionWait {
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
 * top` read.
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
    const wait: PermissionWait = { cause: 'noperm', where, user: this.user, command: '?', keys: [], fix: PERMISSION_FIX, since: Date.now() };
    this.waits.set(where, wait);
    void explainRefusal(err, { user: this.user, client: this.o.redis() })
      .catch(() => undefined)
      .then((e) => {
        if (e) Object.assign(wait, { command: e.command, keys: [...e.keys], fix: e.fix });
        this.o.logger.error('redis.noperm', { where, user: wait.user, command: wait.command, keys: wait.keys, fix: wait.fix, err: e ?? err });
      });
    return true;
  }

  /** `where` went through: its wait, if any, is over. */
  clear(where: string): void {
    const wait = this.waits.get(where);
    if (!wait) return;
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
