import { errorMessage } from './errors.js';

/**
 * Redis error replies, recognised in one place (docs/reliability.md "Redis replies, recognised in
 * one place"). `lib/core/failure-policy.ts` classifies errors with the patterns below,
 * `lib/redis/diagnose.ts` names them for a person with them; every other module that must tell one
 * reply from another (a missing group is no failure for a status read, a refused sibling stream adds
 * no names) asks the predicates here instead of matching messages itself.
 * Each takes any thrown value (a non-Error never matches) and reads its message as ioredis gives it:
 * the reply's first word is its code (Redis 7 keeps it inside a script or function, adding
 * ` script: <name>, on @user_function:<line>.`), so a pattern is anchored at the start of the reply,
 * or of the reply inside one of ioredis' own wrappings (`CLIENT_WRAPPING`): a message that merely
 * quotes a code (a script's error about a record, `ERR unknown command 'NOPERM'`) is none of them.
 * `test/redis/redis-replies.test.ts` checks each against replies provoked on a real redis-server.
 */
export const REPLY_PATTERNS = {
  /** Redis at its memory limit. */
  oom: /^OOM\b/,
  /**
   * Redis unable to persist (a failed RDB save: a full disk, a read-only volume, a killed bgsave
   * child; or a failed AOF write): with `stop-writes-on-bgsave-error` (the default) or AOF it refuses
   * every write, PING too, until a save succeeds again. Neither a record's fault nor a connection's.
   */
  misconf: /^MISCONF\b/,
  /**
   * The server cannot take this now (restart, failover, script, maxclients), not "this command is
   * wrong": a reply of `notServing`, a refusal at maxclients, or a Cluster client out of redirections
   * (whatever its last error: a redirect or a closed connection mid-failover).
   */
  unavailable: /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS)\b|^ERR max number of clients reached\b|Too many Cluster redirections/,
  /** The replies of a server up but not serving this now (loading, a failover, a busy script, a replica, too few replicas). Anchored: `BUSYGROUP` is not `BUSY`. */
  notServing: /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS)\b/,
  /**
   * The ACL refusing this user a command or a key: the command's NOPERM; inside a script or function,
   * Redis 7.0 says "ERR The user executing the script can't run this command ..." (or "can't access
   * at least one of the keys ..."), 7.2 "ERR ACL failure in script: ...".
   */
  noPermission: /^NOPERM\b|^ERR The user executing the script can't (run|access)\b|^ERR ACL failure in script: /,
  /** A Cluster moving a slot or failing over: a redirect that reached us, or a blocked read whose stream moved away. */
  clusterMoving: /^(MOVED|ASK|UNBLOCKED)\b/,
  /** The node behind the address changed role or restarted, or refused the connection at maxclients: reopen the connection. */
  reconnect: /^ERR max number of clients reached\b|^READONLY\b|^LOADING\b/,
  /** The server at `maxclients` refusing a new connection (its greeting, before any command). */
  maxClients: /^ERR max number of clients reached\b/,
  /** The credentials refused: a wrong user or password (WRONGPASS), none given to a server that wants one (NOAUTH), a Redis before 6 refusing the password. */
  auth: /^(WRONGPASS|NOAUTH)\b|^ERR invalid password\b/,
  /** SELECT of a database the server does not have (the number after the port of a URL past `databases`). */
  dbOutOfRange: /^ERR DB index is out of range\b/,
} as const;

/**
 * ioredis' own messages that carry a reply after their text: a connection's ready check
 * (`Ready check failed: NOPERM ...` for a user without INFO), a Cluster client out of redirections
 * (`Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN ...`), a round over the
 * sentinels (`All sentinels are unreachable. Retrying from scratch after 10ms. Last error: WRONGPASS ...`).
 */
const CLIENT_WRAPPING =
  /^(?:Ready check failed: |Too many Cluster redirections\. Last error: |All sentinels are unreachable[^:]*? Last error: )(?:ReplyError: )?/;

/** The reply an error message carries: the message, or the reply inside ioredis' wrappings of it (`CLIENT_WRAPPING`). */
export function replyText(message: string): string {
  let text = message;
  for (let w = CLIENT_WRAPPING.exec(text); w; w = CLIENT_WRAPPING.exec(text)) text = text.slice(w[0].length);
  return text;
}

/** Whether `message` (an error's message, as ioredis gives it) is the reply `kind` of `REPLY_PATTERNS`, itself or inside ioredis' wrappings. */
export function isReplyText(kind: keyof typeof REPLY_PATTERNS, message: string): boolean {
  return matches(REPLY_PATTERNS[kind], message);
}

const matches = (re: RegExp, message: string) => re.test(message) || re.test(replyText(message));

/** Whether an error is an answer of the server (ioredis' ReplyError): the connection, its TLS and the credentials worked. */
export const isServerReply = (err: unknown): boolean => err instanceof Error && err.name === 'ReplyError';

/** Whether the first line a plain (RESP, no TLS) connection got for its PING is a Redis answer (`+PONG`, or an error such as NOAUTH; MISCONF: a Redis that cannot persist refuses PING too), its `-` stripped. */
export const isPlainPingAnswer = (line: string): boolean => /^\+?(PONG|NOAUTH|ERR|WRONGPASS|MISCONF)/.test(line);

const test = (re: RegExp) => (err: unknown) => err instanceof Error && matches(re, err.message ?? '');

/**
 * NOGROUP: a group command (XREADGROUP, XPENDING, XAUTOCLAIM, XCLAIM, XINFO CONSUMERS, XGROUP
 * CREATECONSUMER/SETID/DELCONSUMER, a script's `redis.call` of one) for a group or stream that does
 * not exist (Redis restarted without persistence, the group was deleted). Anchored like the others:
 * Redis 7 keeps the code first inside a script (`NOGROUP No such key 's' or consumer group 'g' script:
 * <sha>, on @user_script:1.`); a reply that only quotes the word (a script's error about a record
 * naming "NOGROUP") is no missing group. XACK of a missing group is no error (it answers 0).
 */
export const isNoGroup = test(/^NOGROUP\b/);

/**
 * `ERR no such key`: XINFO (STREAM, GROUPS, CONSUMERS) of a stream nobody wrote to yet. A NOGROUP
 * reply says "No such key" too (`NOGROUP No such key 's' or consumer group 'g'`). Anchored at the
 * code, as the others: a reply that only quotes "no such key" is neither.
 */
export const isNoSuchKey = test(/^(ERR|NOGROUP) no such key\b/i);

/** The stream or its group does not exist (NOGROUP, or `no such key` of XINFO CONSUMERS / XPENDING): nothing to read yet, not a failure. */
export const isMissingGroup = (err: unknown): boolean => isNoGroup(err) || isNoSuchKey(err);

/** BUSYGROUP: XGROUP CREATE of a group that exists already. */
export const isGroupExists = test(/BUSYGROUP/);

/** The ACL refused this user a command or key (NOPERM, or a function's "user executing the script can't ..."). The cause-chain aware check is `isPermissionRefusal`. */
export const isNoPermission = test(REPLY_PATTERNS.noPermission);

/** The command's own NOPERM reply (a refusal inside a script or function, `ERR The user executing the script can't ...`, is not one). */
export const isNoPermReply = test(/^NOPERM\b/);

/** A NOPERM for the keys a script declares (checked by Redis before the script runs: nothing was written). */
export const isKeyPermissionRefusal = test(/^NOPERM\b.*keys/);

/** WRONGTYPE: the key holds another type (a status kept in a hash by an older release). */
export const isWrongType = test(/^WRONGTYPE\b/);

/** OOM: Redis at its `maxmemory` refused a write. */
export const isOutOfMemory = test(/^OOM /);

/** MISCONF: Redis cannot persist to disk (RDB or AOF) and refuses every write until a save succeeds. */
export const isMisconf = test(REPLY_PATTERNS.misconf);

/** READONLY: a write reached a replica (a failover demoted the node behind the address). */
export const isReadOnly = test(/^READONLY\b/);

/** LOADING: the server is loading its data set after a restart. */
export const isLoading = test(/^LOADING\b/);

/** CLUSTERDOWN: a slot without a master (mid-failover) or the cluster in `fail` state. */
export const isClusterDown = test(/^CLUSTERDOWN\b/);

/** TRYAGAIN: a multi-key command during a slot migration. */
export const isTryAgain = test(/^TRYAGAIN\b/);

/** A MOVED or ASK redirect reply (`MOVED 12349 127.0.0.1:7205`), as a client that did not follow it sees it. */
export const isRedirectReply = test(/^(MOVED|ASK) \d+ \S+/);

/** A redirect that reached us, or a Cluster client out of redirections mid-failover: refresh the slot map and try again. */
export const isRedirectOrExhausted = test(/^(MOVED|ASK) |Too many Cluster redirections/);

/** FCALL of a function the server does not have (its library not loaded: `pipeline functions load`). */
export const isFunctionNotFound = test(/Function not found/i);

/** FUNCTION LOAD of a library that exists already (without REPLACE): `ERR Library 'x' already exists` (a BUSYGROUP says "already exists" too). */
export const isLibraryExists = test(/Library \S+ already exists/i);

/** XRANGE/XADD/XCLAIM given an id Redis cannot parse (out of range: `99999999999999999999999-0`). */
export const isInvalidStreamId = (err: unknown): boolean => /^ERR Invalid stream ID/.test(errorMessage(err));

/** The server at `maxclients` refused the connection (`ERR max number of clients reached`). */
export const isMaxClients = test(REPLY_PATTERNS.maxClients);

/** The credentials refused (WRONGPASS, NOAUTH). */
export const isAuthRefused = test(REPLY_PATTERNS.auth);

/** SELECT of a database the server does not have. */
export const isDbOutOfRange = test(REPLY_PATTERNS.dbOutOfRange);
