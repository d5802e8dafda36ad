import { errorMessage } from './errors.js';

/**
 * Redis error replies, recognised in one place (docs/reliability.md "Redis replies, recognised in
 * one place"). `lib/core/failure-policy.ts` classifies errors with the patterns below; every other
 * module that must tell one reply from another (a missing group is no failure for a status read, a
 * refused sibling stream adds no names) asks the predicates here instead of matching messages itself.
 * Each takes any thrown value (a non-Error never matches) and reads its message as ioredis gives it:
 * the reply's first word is its code, and inside a script or function Redis may wrap it
 * (`ERR Error running script ...: NOGROUP ...`, "The user executing the script can't ...").
 * `test/redis-replies.test.ts` checks each against replies provoked on a real redis-server.
 */
export const REPLY_PATTERNS = {
  /** Redis at its memory limit. */
  oom: /^OOM\b/,
  /** The server cannot take this now (restart, failover, script, maxclients), not "this command is wrong". Anchored: `BUSYGROUP` is not `BUSY`. */
  unavailable: /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS)\b|max number of clients|Too many Cluster redirections/,
  /** The ACL refusing this user a command or a key (NOPERM; inside a function, Redis 7.0 says "The user executing the script can't run this command ..."). */
  noPermission: /^NOPERM\b|no permissions to (run|access)|user executing the script can't (run|access)/i,
  /** A Cluster moving a slot or failing over: a redirect that reached us, or a blocked read whose stream moved away. */
  clusterMoving: /^(MOVED|ASK|UNBLOCKED)\b/,
  /** The node behind the address changed role or restarted, or refused the connection at maxclients: reopen the connection. */
  reconnect: /max number of clients|^READONLY\b|^LOADING\b/,
} as const;

const test = (re: RegExp) => (err: unknown) => err instanceof Error && re.test(err.message ?? '');

/**
 * NOGROUP: a group command (XREADGROUP, XPENDING, XACK, XAUTOCLAIM, a script's) for a group or
 * stream that does not exist (Redis restarted without persistence, the group was deleted). Found
 * anywhere in the message: a script's call may carry it after its own prefix.
 */
export const isNoGroup = test(/NOGROUP/);

/** `ERR no such key`: XINFO (STREAM, GROUPS, CONSUMERS) of a stream nobody wrote to yet. A NOGROUP reply says "No such key" too. */
export const isNoSuchKey = test(/no such key/i);

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
