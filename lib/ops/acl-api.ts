import type { ResolvedConfig } from '../config/types.js';
import { Keys } from '../redis/keys.js';
import { DATA_LOST_COMMANDS, EPOCH_COMMANDS, KEY_READ_COMMANDS, type KeyGrant } from './acl-grants.js';

/** The env var that hands the API user's URL to `pipeline serve` and `pipeline up --serve` (scripts/commands/serve.ts). */
export const API_REDIS_URL_ENV = 'PIPELINE_API_REDIS_URL';

/**
 * What the API and the console only read (lib/api/, lib/console/): stream and group state for the
 * sampler, the status lookups, the producer's backpressure reads, XREAD of the completion stream
 * `{p}:done`, the DLQ, review and log views, stored products, the liveness keys; TIME for a review
 * decision's version. Read-only commands: the user's root key permission covers them.
 */
export const API_READ_COMMANDS = [...KEY_READ_COMMANDS, 'xread', 'exists', 'time'];

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** The API user's grants: key patterns its root (read commands, FCALL) may touch, and its write selectors. */
export interface ApiGrants {
  /** Read-only for the root's read commands: every shard's `{p:N}:*` and the pipeline's own `{p}:*`. */
  readKeys: string[];
  /** Root key patterns for FCALL: every key the functions the server calls declare. */
  scriptKeys: string[];
  /** The writes, each on its own keys. */
  selectors: KeyGrant[];
  /** For humans (`pipeline acl`). */
  summary: string;
}

/**
 * The grants of the user `pipeline serve` runs as (`<pipeline>-api`), found by running the server
 * and the console under MONITOR while exercising every route and console action:
 * - submit (lib/api/submit.ts, `submit-N.lua`): XADD to the input stream, SET of the id statuses
 *   `{p}:status:*`, EXISTS/SET of the request's marker `<input>:submit:*`;
 * - the console's own keys `{p}:console:*` (the sampler's lease and series, the audit stream, the
 *   review lists and the trimmed-review record), the review stream's `console` group (XGROUP
 *   CREATE/SETID, XREADGROUP, XACK), the decisions `{p}:reviewed:*` and the labels `{p}:labels`;
 * - pausing and resuming a stage (`POST /v1/stages/:stage/pause|resume`, the console's button): HSET,
 *   HDEL and DEL of the paused flags `{p}:paused:*` (lib/ops/pause.ts);
 * - revoking an id (`POST /v1/products/{id}/revoke`, `revoke-4.lua`): XADD, XTRIM and PEXPIRE of each
 *   shard's revokes stream `{p}:revokes`, DEL of the id's reprocess marker `{p}:reprocess:<id>` (the
 *   status and the input stream's last id are reads of the root);
 * - acknowledging a data loss (`POST /v1/data-loss/ack`, the console's Acknowledge): HSET of the
 *   `acked` field of each shard's record `{p}:data-lost` (lib/ops/data-loss.ts; reading it is a read of the root);
 * - the server's data-loss watch (lib/api/server-data-loss-watch.ts): SET (NX) of each shard's marker
 *   `{p}:epoch` (GET is a read of the root) and HSETNX/HSET/HINCRBY of its record `{p}:data-lost`;
 * - DLQ replay and a review decision: XADD to any stage's input stream (`dlq-replay-2.lua`,
 *   `review-decide-N.lua`); DLQ purge and replay: XDEL of dead letters;
 * - a stage purge (`POST /v1/stages/:stage/purge`, the console's Purge; `stage-purge-N.lua`):
 *   XADD of the dead letters to `{p}:dlq` and of each record's completion to `{p}:done` (so
 *   status reads, webhooks and SSE see its end), SET of its status (granted above), and XGROUP
 *   SETID of the stage's group on its input stream, which moves the group past the purged entries.
 *   SETID cannot be granted for that use only: this user may move any stage's group on its input
 *   stream, to skip entries without dead-lettering them (they stay in the stream) or to deliver
 *   them again; no more than XDEL of dead letters and XADD to every stage stream let it do already.
 *   XADD to `{p}:done` is new reach: whoever holds this user's password can write completions that
 *   webhooks and SSE pass on (as it could already write any id's status).
 *   Not CREATE: a stage no worker has read yet is purged by the admin's `pipeline purge`.
 * Not: XGROUP CREATE/DESTROY of a stage's group, XTRIM, DEL, FUNCTION, CONFIG, FLUSHALL.
 * Sharded, every grant names each shard's keys and the pipeline's own `{p}:*` too.
 */
export function apiGrants(config: ResolvedConfig): ApiGrants {
  const own = new Keys(config.pipeline);
  const spaces = config.shards > 1 ? [...Keys.shards(config.pipeline, config.shards), own] : [own];
  const each = (f: (keys: Keys) => string[]) => uniq(spaces.flatMap(f));
  const readKeys = each((k) => [`${k.tag}:*`]);
  const inputs = each((k) => [k.stream(config.input)]);
  const stageStreams = each((k) => uniq(config.stages.map((s) => k.stream(s.input))));
  const review = each((k) => [k.stream('review')]);
  const dlq = each((k) => [k.dlq]);
  const done = each((k) => [k.done]);
  const submitMarkers = inputs.map((i) => `${i}:submit:*`);
  const statuses = each((k) => [k.status('*')]);
  const consoleKeys = each((k) => [k.extra('console:*')]);
  const reviewed = each((k) => [k.reviewed('*')]);
  const labels = each((k) => [k.extra('labels')]);
  const paused = each((k) => [k.paused('*')]);
  // The shards' only (configShards: a sharded pipeline's records, and so its revokes, are on the shards).
  const revokes = Keys.shards(config.pipeline, config.shards).map((k) => k.revokes);
  const reprocessMarkers = Keys.shards(config.pipeline, config.shards).map((k) => k.reprocess('*'));
  // The shards' records only (configShards: a sharded pipeline's own {p}:data-lost is never written).
  const dataLost = Keys.shards(config.pipeline, config.shards).map((k) => k.dataLost);
  const epochs = Keys.shards(config.pipeline, config.shards).map((k) => k.epoch);
  const scriptKeys = uniq([
    ...stageStreams,
    ...inputs,
    ...submitMarkers,
    ...statuses,
    ...dlq,
    ...done,
    ...review,
    ...consoleKeys,
    ...reviewed,
    ...labels,
    ...revokes,
    ...reprocessMarkers,
  ]);
  const selectors: KeyGrant[] = [
    // Submit, DLQ replay, a review decision: what the producer and the admin's `dlq replay` write.
    { keys: uniq([...inputs, ...stageStreams]), mode: 'w', commands: ['xadd'] },
    { keys: statuses, mode: 'w', commands: ['set'] },
    { keys: submitMarkers, mode: 'rw', commands: ['exists', 'set'] },
    // DLQ purge and replay (dlq-purge-1.lua, dlq-replay-2.lua).
    { keys: dlq, mode: 'rw', commands: ['xdel'] },
    // A stage purge (stage-purge-N.lua): the dead letters, the records' completions, the group moved past them.
    { keys: uniq([...dlq, ...done]), mode: 'w', commands: ['xadd'] },
    { keys: stageStreams, mode: 'rw', commands: ['xgroup|setid'] },
    // The review stream's `console` group (lib/console/review*.ts, review-unlisted-2.lua, review-ack-trimmed-2.lua).
    { keys: review, mode: 'rw', commands: ['xgroup|create', 'xgroup|setid', 'xreadgroup', 'xack'] },
    { keys: consoleKeys, mode: 'rw', commands: ['get', 'set', 'hset', 'hdel', 'hgetall', 'hmget', 'hincrby', 'xadd'] },
    { keys: reviewed, mode: 'rw', commands: ['hset'] },
    { keys: labels, mode: 'w', commands: ['xadd'] },
    { keys: paused, mode: 'rw', commands: ['hset', 'hdel', 'del'] },
    { keys: revokes, mode: 'rw', commands: ['xadd', 'xtrim', 'pexpire'] },
    { keys: reprocessMarkers, mode: 'w', commands: ['del'] },
    // The data-loss ack (DEL), and the server's own watch: the marker written if absent, a loss recorded.
    { keys: dataLost, mode: 'rw', commands: DATA_LOST_COMMANDS },
    { keys: epochs, mode: 'rw', commands: EPOCH_COMMANDS },
  ];
  const summary =
    `read-only on ${readKeys.join(', ')}; XADD to ${uniq([...inputs, ...stageStreams]).join(', ')} (submit, DLQ replay, review decisions); ` +
    `SET ${statuses.join(', ')}; XDEL ${dlq.join(', ')}; XADD ${uniq([...dlq, ...done]).join(', ')} and XGROUP SETID on ${stageStreams.join(', ')} (a stage purge); the console group of ${review.join(', ')}; writes ${[...consoleKeys, ...reviewed, ...labels].join(', ')}; HSET/HDEL/DEL ${paused.join(', ')} (pause, resume); XADD/XTRIM/PEXPIRE ${revokes.join(', ')} and DEL ${reprocessMarkers.join(', ')} (revoke); SET ${epochs.join(', ')} and HSETNX/HSET/HINCRBY ${dataLost.join(', ')} (its data-loss watch; HSET of its acked field: the data-loss ack) (pipeline serve: the HTTP API and the console)`;
  return { readKeys, scriptKeys, selectors, summary };
}
