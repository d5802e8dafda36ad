import type { FastifyInstance } from 'fastify';
import { requireRole } from './auth.js';
import { assertRedisReady } from './errors.js';
import { NO_BODY, NO_QUERY } from './strict-schemas.js';
import { audit } from '../ops/audit.js';
import { ackDataLoss, readDataLoss } from '../ops/data-loss.js';

/** One record of `{p}:data-lost` (lib/stream/data-loss.ts DataLossRecord). */
const RECORD = {
  type: 'object',
  properties: {
    tag: { type: 'string', description: "the shard's hash tag ({products}, {products:3})" },
    at: { type: 'integer', description: 'first report, ms since the epoch' },
    what: { type: 'string', enum: ['group_vanished', 'marker_gone', 'marker_changed', 'unrecorded'] },
    stage: { type: 'string' },
    consumer: { type: 'string' },
    stream: { type: 'string', description: 'the stream whose group vanished, or the marker key' },
    seen: { type: 'string', description: "the marker the reporter had seen ('' if none yet)" },
    reports: { type: 'integer' },
    lastAt: { type: 'integer' },
  },
} as const;
const RECORDS = { type: 'array', items: RECORD } as const;

/**
 * `GET /v1/data-loss` (read: the data losses the workers recorded, one per shard, `[]` when none) and
 * the admin's `POST /v1/data-loss/ack` (marks them acknowledged, as `pipeline health --ack-data-loss`; audited
 * in `{p}:console:audit` as `data_loss_ack` with the token's name), which the console's red banner
 * and its Acknowledge button call (lib/ops/data-loss.ts, docs/reliability.md "Redis restarts").
 */
export function registerDataLoss(app: FastifyInstance): void {
  const { config, redis, keys, logger } = app.pipeline;

  app.get(
    '/v1/data-loss',
    {
      onRequest: requireRole('read'),
      schema: {
        summary: 'the data losses workers recorded (Redis restarted empty, a failover that lost writes), one per shard; [] when none',
        querystring: NO_QUERY,
        response: { 200: RECORDS },
      },
    },
    async () => {
      assertRedisReady(redis);
      return readDataLoss(redis, config);
    },
  );

  app.post(
    '/v1/data-loss/ack',
    {
      onRequest: requireRole('admin'),
      schema: {
        summary:
          'acknowledge the data losses (after re-producing what was lost): marks the records acknowledged (a late report of the same loss does not list it again, a new loss does); `acknowledged` lists them, `at` is when',
        querystring: NO_QUERY,
        body: NO_BODY,
        response: { 200: { type: 'object', properties: { acknowledged: RECORDS, at: { type: 'integer' } } } },
      },
    },
    async (req) => {
      assertRedisReady(redis);
      const acknowledged = await ackDataLoss(redis, config);
      const at = Date.now();
      await audit(redis, keys, logger, {
        action: 'data_loss_ack',
        by: req.principal!.name,
        requestId: req.id,
        records: acknowledged.map((r) => ({ tag: r.tag, at: r.at, what: r.what, stage: r.stage, consumer: r.consumer, reports: r.reports })),
      });
      return { acknowledged, at };
    },
  );
}
