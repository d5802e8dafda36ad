import type { FastifyInstance, FastifyReply } from 'fastify';
import { requireRole } from '../api/auth.js';
import { BadRecordError, errorMessage, ReviewConflictError, RouteError } from '../core/errors.js';
import type { Logger } from '../observe/logger.js';
import { getDeadLetter, purgeDeadLetters, replayDeadLetters, type ReplayResult } from '../ops/dlq.js';
import { Backpressure, retryAfterFor } from '../producer/backpressure.js';
import { audit } from '../ops/audit.js';
import type { ConsoleOptions } from './options.js';
import { decideReview, decisionOf } from './review-decide.js';
import { ackTrimmed } from './review-trimmed.js';
import { REVIEW_FIELDS } from './review.js';
import type { StoredLookup } from './stored.js';
import { selectedByShard, unknownDlqReason, type DlqSelection, type unknownDlqStage } from './dlq-view.js';
import { NO_QUERY, queryOf } from '../api/strict-schemas.js';
import { boundOn, byShard, parseRef, REF_PATTERN, refOf } from './shard-ref.js';

const admin = requireRole('admin');
const UNDECODABLE = 'undecodable';
/** Why the console does not replay an undecodable dead letter. */
export const UNDECODABLE_WHY = 'undecodable: the same bytes would fail again and come straight back; purge it (pipeline dlq replay --id replays it anyway)';

/**
 * Which dead letters an action takes: ids, or every one of a reason and/or stage, or all (at most
 * maxBulk, of each shard); `until` bounds those to ids up to the newest one the operator saw (the console sends
 * it), so entries dead-lettered after the page was drawn are not purged with the ones confirmed.
 * Sharded pipelines name entries `<shard>/<id>` (lib/console/shard-ref.ts), in `ids` and `until`.
 */
type SelectionBody = DlqSelection;

const selectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ids: { type: 'array', items: { type: 'string', pattern: REF_PATTERN }, minItems: 1, maxItems: 10000 },
    reason: { type: 'string', minLength: 1 },
    stage: { type: 'string', minLength: 1 },
    all: { type: 'boolean' },
    until: { type: 'string', pattern: REF_PATTERN },
  },
} as const;

/**
 * The console's admin actions: replay and purge dead letters, decide review items, acknowledge
 * review items whose entries were trimmed. Each answers 401/403 without an admin token, 400 naming
 * the field for a bad body (or a query parameter), 404 for a stage naming none, 429 (Retry-After) while
 * the stage a record would go to is over its maxLag or Redis is full (the one backpressure rule),
 * and is audited with the token's name. Sharded: each entry is acted on in its shard's keys, and
 * the answers and the audit name entries as `<shard>/<id>`.
 */
export function registerActions(
  app: FastifyInstance,
  o: ConsoleOptions,
  log: Logger,
  stored: StoredLookup,
  unknownStage: (stage: string | undefined) => ReturnType<typeof unknownDlqStage>,
): void {
  const { config, keys, shards, redis, limits } = app.pipeline;
  // Per shard and stage stream: a replay goes to its entry's shard, whose lag decides.
  const pressure = new Map<string, Backpressure>();
  const pressureOf = (shard: number, stream: string): Backpressure | undefined => {
    const stage = config.stages.find((s) => s.input === stream);
    if (!stage) return undefined;
    const k = `${shard}\u0000${stream}`;
    let p = pressure.get(k);
    if (!p) pressure.set(k, (p = Backpressure.forStage(redis, stage, shards.shard(shard), limits.backpressureCacheMs, config, limits.backpressureStagesMs)));
    return p;
  };

  /**
   * Answers 429 when any of these stage streams is over its backpressure limit, and says so (true).
   * (It returned the reply, which is thenable: `await`ed, it read as undefined and the replay ran after the 429.)
   */
  const busy = async (shard: number, streams: Iterable<string>, reply: FastifyReply): Promise<boolean> => {
    for (const s of new Set(streams)) {
      const p = await pressureOf(shard, s)?.check();
      if (p && !p.clear) {
        await reply
          .code(429)
          .header('retry-after', String(retryAfterFor(p, limits.retryAfterSeconds, limits.retryAfterMaxSeconds)))
          .send({
            error: 'backpressure',
            message: `stream ${s}: ${p.reason === 'oom' ? 'Redis is at its memory limit' : p.stage && p.stage !== p.stages?.[0]?.stage ? `stage ${p.stage} after it has a lag of ${p.lag}, above its maxLag ${p.maxLag}` : `lag ${p.lag} is above maxLag ${p.maxLag}`}; try again later`,
            stream: s,
            ...(shards.count > 1 ? { shard } : {}),
            stage: p.stage,
            lag: p.lag,
            maxLag: p.maxLag,
          });
        return true;
      }
    }
    return false;
  };

  const selectionRoute = { onRequest: admin, schema: { querystring: NO_QUERY, body: selectionSchema } };
  const selected = (b: SelectionBody) => selectedByShard(redis, shards, b, o.maxBulk);
  /**
   * A selection the body names two ways (ids, and reason, stage, all or until: ids would win, the
   * rest ignored), a reason or a stage naming none: the 4xx refusing it, sent (true). An operator who ticked
   * "all" with ids selected had had the ids alone acted on, a typo in a stage 200 with nothing done.
   */
  const refused = async (b: SelectionBody, reply: FastifyReply): Promise<boolean> => {
    const also = (['reason', 'stage', 'all', 'until'] as const).filter((k) => b[k] !== undefined);
    if (b.ids && also.length) {
      await reply.code(400).send({
        error: 'bad_request',
        message: `body: ids names the dead letters, and so does ${also.join(', ')}: send ids alone, or reason and/or stage or all (with until) without ids`,
        field: 'ids',
      });
      return true;
    }
    const badReason = unknownDlqReason(b.reason);
    if (badReason) {
      await reply.code(400).send(badReason);
      return true;
    }
    const unknown = await unknownStage(b.stage);
    if (unknown) await reply.code(404).send(unknown);
    return !!unknown;
  };
  const ref = (shard: number, id: string) => refOf(shards, shard, id);
  const noSelection = (reply: FastifyReply) =>
    reply.code(400).send({ error: 'bad_request', message: 'body: name the dead letters with ids, or reason and/or stage, or all: true' });

  app.post<{ Body: SelectionBody }>('/console/api/dlq/replay', selectionRoute, async (req, reply) => {
    if (await refused(req.body, reply)) return reply;
    const selection = await selected(req.body);
    if (!selection) return noSelection(reply);
    if ([...selection.values()].every((ids) => ids.length === 0)) return { replayed: [], skipped: [] }; // a selection that matches nothing (purge answers 0 too)
    // Each shard's entries read first, and every shard's backpressure checked, before any is replayed.
    const plans = await Promise.all(
      [...selection].map(async ([shard, ids]) => {
        const entries = await Promise.all(ids.map((id) => getDeadLetter(redis, shards.shard(shard), id)));
        // An undecodable dead letter's bytes fail the same way again: replayed, it came straight back (a loop with "Replay all").
        const undecodable = new Set(entries.filter((e) => e?.reason === UNDECODABLE).map((e) => e!.id));
        const streams = entries.filter((e) => !!e && e.reason !== UNDECODABLE).map((e) => e!.stream);
        return { shard, undecodable, streams, replayable: ids.filter((id) => !undecodable.has(id)) };
      }),
    );
    for (const p of plans) if (await busy(p.shard, p.streams, reply)) return reply;
    const result: ReplayResult = { replayed: [], skipped: [] };
    for (const p of plans) {
      const r = p.replayable.length ? await replayDeadLetters(redis, config, { ids: p.replayable }, shards.shard(p.shard)) : { replayed: [], skipped: [] };
      result.replayed.push(...r.replayed.map((x) => ({ ...x, id: ref(p.shard, x.id) })));
      result.skipped.push(...r.skipped.map((x) => ({ ...x, id: ref(p.shard, x.id) })));
      result.skipped.push(...[...p.undecodable].map((id) => ({ id: ref(p.shard, id), why: UNDECODABLE_WHY })));
    }
    await audit(
      redis,
      keys,
      log,
      {
        action: 'dlq_replay',
        by: req.principal!.name,
        requestId: req.id,
        selection: req.body,
        replayed: result.replayed.length,
        skipped: result.skipped.length,
        ids: result.replayed.map((r) => r.id),
      },
      o.auditMaxLen,
    );
    return result;
  });

  app.post<{ Body: SelectionBody }>('/console/api/dlq/purge', selectionRoute, async (req, reply) => {
    if (await refused(req.body, reply)) return reply;
    const selection = await selected(req.body);
    if (!selection) return noSelection(reply);
    // The ids this call deleted (dlq-purge-1.lua), not those asked for: two operators purging the same entries had both been audited as removing them.
    const purged: string[] = [];
    for (const [shard, ids] of selection)
      if (ids.length) purged.push(...(await purgeDeadLetters(redis, shards.shard(shard), { ids })).map((id) => ref(shard, id)));
    await audit(
      redis,
      keys,
      log,
      { action: 'dlq_purge', by: req.principal!.name, requestId: req.id, selection: req.body, purged: purged.length, ids: purged },
      o.auditMaxLen,
    );
    return { purged: purged.length };
  });

  const fieldProps = Object.fromEntries(REVIEW_FIELDS.map((f) => [f, { type: 'string', maxLength: 200 }]));
  // `?shard=`: the item's shard (sharded pipelines, where two shards' review streams can hold the same id).
  app.post<{ Params: { id: string }; Querystring: { shard?: number }; Body: { category: string; fields?: Record<string, string> } }>(
    '/console/api/review/:id',
    {
      onRequest: admin,
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^\\d+-\\d+$' } } },
        querystring: queryOf({ shard: { type: 'integer', minimum: 0 } }),
        body: {
          type: 'object',
          required: ['category'],
          additionalProperties: false,
          properties: {
            category: { type: 'string', minLength: 1, maxLength: 100 },
            fields: { type: 'object', additionalProperties: false, properties: fieldProps },
          },
        },
      },
    },
    async (req, reply) => {
      const by = req.principal!.name;
      // The item's shard: its decision's Lua script acts on that shard's keys only (the product's shard).
      const at = parseRef(shards, req.params.id, req.query.shard);
      const item = shards.count > 1 ? { shard: at.shard } : {};
      try {
        const result = await decideReview(
          redis,
          config,
          at.keys,
          req.params.id,
          { category: req.body.category, fields: req.body.fields, reviewer: by },
          { stored },
        );
        if (!result) {
          // Another reviewer's decision of the same item came first: named, so the page can say whose.
          const decision = await decisionOf(redis, at.keys, req.params.id);
          return reply.code(409).send({
            error: 'conflict',
            message: decision
              ? `review entry ${req.params.id} was decided already, by ${decision.by} at ${new Date(decision.at).toISOString()}: this decision is not applied`
              : `review entry ${req.params.id} was decided already (or never listed by the console): this decision is not applied`,
            entry: req.params.id,
            ...item,
            ...(decision ? { decision } : {}),
          });
        }
        await audit(
          redis,
          keys,
          log,
          {
            action: 'review_decision',
            by,
            requestId: req.id,
            entry: req.params.id,
            ...item,
            key: result.label.id,
            decision: result.label.decision,
            category: result.label.category,
            predicted: result.label.predicted,
            sentTo: result.sentTo,
            closed: result.closed.map((c) => c.id),
          },
          o.auditMaxLen,
        );
        // The product's other items of the record, closed with the decision: each recorded as a closed item is.
        for (const c of result.closed)
          await audit(
            redis,
            keys,
            log,
            {
              action: 'review_closed',
              by,
              requestId: req.id,
              entry: c.id,
              ...item,
              key: c.key,
              reason: 'superseded',
              version: c.version,
              decision: { by, entry: req.params.id },
            },
            o.auditMaxLen,
          );
        return { ...result, closed: result.closed.map((c) => ({ ...c, ...item })) };
      } catch (err) {
        if (err instanceof ReviewConflictError) {
          // The item was closed without a decision: recorded, and answered 409 naming the newer version.
          const closed = {
            entry: req.params.id,
            ...item,
            key: err.key,
            reason: err.reason,
            version: err.version,
            ...(err.decision ? { decision: err.decision } : {}),
          };
          if (!err.closedBefore) await audit(redis, keys, log, { action: 'review_closed', by, requestId: req.id, ...closed }, o.auditMaxLen);
          return reply.code(409).send({ error: err.reason, message: err.message, ...closed });
        }
        if (err instanceof BadRecordError || err instanceof RouteError)
          return reply
            .code(err instanceof RouteError ? 422 : 400)
            .send({ error: err instanceof RouteError ? 'no_route' : 'bad_request', message: errorMessage(err) });
        throw err;
      }
    },
  );

  // Review items whose entries were trimmed: nothing left to review, so nothing to decide; acked
  // here (only those whose entries are gone), counted in {p}:console:review-trimmed and audited.
  app.post<{ Body: { ids?: string[]; all?: boolean; until?: string } }>(
    '/console/api/review/trimmed/ack',
    {
      onRequest: admin,
      schema: {
        querystring: NO_QUERY,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ids: selectionSchema.properties.ids,
            all: { type: 'boolean' },
            until: selectionSchema.properties.until,
          },
        },
      },
    },
    async (req, reply) => {
      const { ids, all, until } = req.body ?? {};
      // Both ways at once: ids had won and `all` was ignored, as for dead letters.
      if (ids && (all !== undefined || until !== undefined))
        return reply.code(400).send({ error: 'bad_request', message: 'body: send ids alone, or all: true (with until) without ids', field: 'ids' });
      if (!ids?.length && all !== true)
        return reply
          .code(400)
          .send({ error: 'bad_request', message: 'body: name the trimmed review items with ids, or all: true (with until, the newest one seen)' });
      // By shard: the references given, or every shard's trimmed items up to `until` (its place in the merged order).
      const bound = until === undefined ? undefined : parseRef(shards, until, undefined, 'until');
      const acknowledged: string[] = [];
      const work = ids?.length ? [...byShard(shards, ids)] : shards.all.map((_, i) => [i, undefined] as const);
      for (const [shard, list] of work) {
        const sel = list ? { ids: list } : { until: bound && boundOn(shard, bound) };
        acknowledged.push(...(await ackTrimmed(redis, shards.shard(shard), sel, o.maxBulk)).map((id) => ref(shard, id)));
      }
      await audit(
        redis,
        keys,
        log,
        { action: 'review_ack_trimmed', by: req.principal!.name, requestId: req.id, selection: req.body, acknowledged: acknowledged.length, ids: acknowledged },
        o.auditMaxLen,
      );
      return { acknowledged };
    },
  );
}
