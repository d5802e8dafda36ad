import type { FastifyInstance } from 'fastify';
import { requireRole } from './auth.js';
import { GrantMissing } from './errors.js';
import { errorMessage } from '../core/errors.js';
import { isPermissionRefusal } from '../core/failure-policy.js';
import { FIELD_ERROR, NO_QUERY, stageParams } from './strict-schemas.js';
import { audit } from '../ops/audit.js';
import { UnknownStageError } from '../ops/pause.js';
import { NoStageGroupError, purgeBounds, purgeStage, StagePurgeError, countWaiting, type PurgeSummary } from '../ops/stage-purge.js';
import { reportPurge } from '../ops/stage-purge-report.js';
import { configShards } from '../redis/shard.js';
import { compareIds } from '../stream/stream-id.js';

/** The largest `chunk` a purge request takes: each chunk is one script call that holds Redis for its entries. */
export const PURGE_CHUNK_MAX = 5_000;
/** The largest `count` a purge request takes. */
export const PURGE_COUNT_MAX = 1_000_000_000;

const PARAMS = stageParams('a stage of the config');
const UNTIL = {
  type: 'object',
  description: "per input stream key, the last entry id the purge may take: the dry run's `until`",
  maxProperties: 4096,
  propertyNames: { maxLength: 1000 },
  additionalProperties: { type: 'string', pattern: '^[0-9]{1,20}-[0-9]{1,20}$' },
} as const;
/** The body `POST /v1/stages/:stage/purge` takes (every field optional; /openapi.json documents it). */
export const PURGE_BODY = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    dryRun: { type: 'boolean', description: 'purge nothing: answer how many entries wait and the `until` that bounds a purge to them' },
    count: { type: 'integer', minimum: 1, maximum: PURGE_COUNT_MAX, description: 'at most this many entries, oldest first (default: all)' },
    chunk: { type: 'integer', minimum: 1, maximum: PURGE_CHUNK_MAX, description: 'entries per atomic step (default 500)' },
    shard: { type: 'integer', minimum: 0, maximum: 4095, description: 'only this shard (default: every shard)' },
    until: UNTIL,
  },
} as const;
const SHARDS = {
  type: 'array',
  items: { type: 'object', properties: { shard: { type: 'integer' }, stream: { type: 'string' }, purged: { type: 'integer' } } },
} as const;
const ANSWER = {
  type: 'object',
  properties: {
    stage: { type: 'string' },
    waiting: { type: 'integer', description: 'dry run: the entries waiting now' },
    atLeast: {
      type: 'boolean',
      description:
        'dry run: Redis could not tell the lag and `waiting` is what was counted (1000 per shard), more may wait; `until` stops at the last entry counted there, so a purge sent it takes those',
    },
    until: { type: 'object', additionalProperties: { type: 'string' } },
    purged: { type: 'integer' },
    shards: SHARDS,
    stopped: { type: 'boolean', description: 'the server was closing: the purge ended after `purged` entries (send it again to go on)' },
    seconds: { type: 'number' },
  },
} as const;

interface PurgeBody {
  dryRun?: boolean;
  count?: number;
  chunk?: number;
  shard?: number;
  until?: Record<string, string>;
}

/** A stream id's parts (ms, sequence) are below this. */
const ID_PART_LIMIT = 2n ** 64n;

const badField = (field: string, message: string) => ({ error: 'bad_request', message, field });

/**
 * The admin's `POST /v1/stages/:stage/purge` (the console's Purge button): the stage's waiting
 * entries dead-lettered with reason `purged` (lib/ops/stage-purge.ts, as `pipeline purge`),
 * audited (`stage_purge`), counted and logged as other dead letters (lib/ops/stage-purge-report.ts).
 * `{"dryRun": true}` purges nothing and answers `waiting` and `until`; a purge sent that `until`
 * takes at most those entries (records taken after the dry run wait for the stage as usual). The
 * API's Redis user may not create a stage's group: a stage no worker has read yet is a 409. The
 * server closing ends a purge after its chunk in hand (`stopped`).
 */
export function registerStagePurge(app: FastifyInstance): void {
  const { config, redis, keys, logger, metrics } = app.pipeline;
  // A closing server waits for requests in flight: a purge ends after its chunk in hand, not its backlog.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.post<{ Params: { stage: string }; Body: PurgeBody | null }>(
    '/v1/stages/:stage/purge',
    {
      onRequest: requireRole('admin'),
      schema: {
        summary:
          "dead-letter a stage's waiting entries (read by no consumer yet) with reason purged, never delete them (`pipeline dlq replay --all --reason purged` puts them back); pending ones stay",
        params: PARAMS,
        querystring: NO_QUERY,
        body: PURGE_BODY,
        response: { 200: ANSWER, 400: FIELD_ERROR, 404: FIELD_ERROR, 409: FIELD_ERROR },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const stage = req.params.stage;
      const known = config.stages.find((s) => s.name === stage);
      if (!known)
        return reply.code(404).send({
          error: 'not_found',
          message: new UnknownStageError(
            stage,
            config.stages.map((s) => s.name),
            false,
          ).message,
          field: 'stage',
        });
      const space = configShards(config);
      if (body.shard !== undefined && body.shard >= space.count)
        return reply.code(400).send(badField('shard', `no shard ${body.shard}: the pipeline has ${space.count} (0-${space.count - 1})`));
      const streams = (body.shard === undefined ? space.all : [space.shard(body.shard)]).map((k) => k.stream(known.input));
      const stray = Object.keys(body.until ?? {}).find((s) => !streams.includes(s));
      if (stray !== undefined)
        return reply.code(400).send(badField('until', `until names ${JSON.stringify(stray)}, not an input stream of ${stage} here (${streams.join(', ')})`));
      // The schema checks the form; Redis refuses a part of 2^64 or more, with no word of the field.
      const huge = Object.entries(body.until ?? {}).find(([, id]) => id.split('-').some((part) => BigInt(part) >= ID_PART_LIMIT));
      if (huge !== undefined)
        return reply.code(400).send(badField('until', `until ${JSON.stringify(huge[0])}: ${huge[1]} is no stream id (each part is below 2^64)`));

      if (body.dryRun) {
        const until = await purgeBounds(redis, config, stage, body.shard);
        const { waiting, atLeast, noGroup, lastCounted } = await countWaiting(redis, config, stage, body.shard);
        // Where Redis could not tell the lag, `until` stops at the last entry counted: a purge sent it takes those, shard by shard.
        for (const [stream, last] of lastCounted) if (compareIds(last, until.get(stream) ?? last) < 0) until.set(stream, last);
        // Said before a confirmation, not after: the purge would be refused (the user may not create the group).
        if (noGroup.length) return reply.code(409).send({ error: 'conflict', message: new NoStageGroupError(stage, noGroup[0]!).message, field: 'stage' });
        return { stage, waiting, ...(atLeast ? { atLeast } : {}), until: Object.fromEntries(until) };
      }
      const by = `api:${req.principal!.name}`;
      const t0 = Date.now();
      // `error`: what stopped a purge part way; a stopped one without it was stopped by the server closing.
      const done = async (summary: PurgeSummary, stopped: boolean, error?: unknown) => {
        reportPurge(metrics, logger, summary, by, stopped);
        await audit(redis, keys, logger, {
          action: 'stage_purge',
          by: req.principal!.name,
          requestId: req.id,
          stage,
          purged: summary.purged,
          ...(stopped ? { stopped: true } : {}),
          ...(error === undefined ? {} : { error: errorMessage(error) }),
        });
      };
      try {
        const summary = await purgeStage(redis, config, stage, {
          by,
          createGroup: false,
          stop: () => closing,
          ...(body.until ? { until: new Map(Object.entries(body.until)) } : {}),
          ...(body.count === undefined ? {} : { count: body.count }),
          ...(body.chunk === undefined ? {} : { chunk: body.chunk }),
          ...(body.shard === undefined ? {} : { shard: body.shard }),
        });
        await done(summary, summary.stopped === true);
        return { ...summary, seconds: (Date.now() - t0) / 1000 };
      } catch (err) {
        if (!(err instanceof StagePurgeError)) throw err;
        // What was dead-lettered before the error is counted and audited; a purge sent again goes on from there.
        if (err.done.purged > 0) await done(err.done, true, err.cause);
        if (err.cause instanceof NoStageGroupError) return reply.code(409).send({ error: 'conflict', message: err.message, field: 'stage' });
        if (isPermissionRefusal(err.cause)) throw new GrantMissing('a stage purge (stage-purge-N.lua)', err.cause);
        throw err.cause;
      }
    },
  );
}
