import type { FastifyInstance } from 'fastify';
import { requireRole } from './auth.js';
import { FIELD_ERROR, NO_BODY, NO_QUERY, stageParams } from './strict-schemas.js';
import { audit } from '../ops/audit.js';
import { pausedStages, pauseStages, resumeStages, UnknownStageError } from '../ops/pause.js';

/** The longest `reason` a pause takes (it is shown by status, top, health and the console). */
export const PAUSE_REASON_MAX = 500;

const PARAMS = stageParams('a stage of the config, or all');
const PAUSED = {
  type: ['object', 'null'],
  properties: { by: { type: 'string' }, at: { type: 'integer' }, reason: { type: 'string' } },
} as const;
const STAGES = { type: 'object', properties: { stages: { type: 'array', items: { type: 'string' } } } } as const;

/**
 * `GET /v1/stages` (read: every stage and its paused flag) and the admin's `POST
 * /v1/stages/:stage/pause` (body `{"reason": "..."}`, optional) and `/resume` (`all` for every
 * stage), which the console's Pause and Resume buttons call: the flag of lib/ops/pause.ts, audited
 * in `{p}:console:audit` with the token's name. An unknown stage is a 404 naming it (`field: "stage"`).
 */
export function registerStageControl(app: FastifyInstance): void {
  const { config, redis, keys, logger } = app.pipeline;
  const admin = requireRole('admin');
  const unknown = (err: unknown) => (err instanceof UnknownStageError ? { error: 'not_found', message: err.message, field: 'stage' } : undefined);

  app.get(
    '/v1/stages',
    {
      onRequest: requireRole('read'),
      schema: {
        summary: 'every stage and its paused flag (who paused it, when, why; null: running)',
        querystring: NO_QUERY,
        response: {
          200: {
            type: 'object',
            properties: { stages: { type: 'array', items: { type: 'object', properties: { stage: { type: 'string' }, paused: PAUSED } } } },
          },
        },
      },
    },
    async () => {
      const paused = await pausedStages(redis, config);
      return { stages: config.stages.map((s) => ({ stage: s.name, paused: paused.get(s.name) ?? null })) };
    },
  );

  app.post<{ Params: { stage: string }; Body: { reason?: string } | null }>(
    '/v1/stages/:stage/pause',
    {
      onRequest: admin,
      schema: {
        summary: 'pause a stage (or all): its workers finish the batch in hand, then process nothing until resumed; submits are still taken',
        params: PARAMS,
        querystring: NO_QUERY,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { reason: { type: 'string', maxLength: PAUSE_REASON_MAX } } },
        response: { 200: STAGES, 400: FIELD_ERROR, 404: FIELD_ERROR },
      },
    },
    async (req, reply) => {
      const reason = req.body?.reason?.trim() || undefined;
      const by = `api:${req.principal!.name}`;
      try {
        const stages = await pauseStages(redis, config, req.params.stage, { by, reason });
        await audit(redis, keys, logger, { action: 'stage_pause', by: req.principal!.name, requestId: req.id, stages, ...(reason ? { reason } : {}) });
        return { stages };
      } catch (err) {
        const nf = unknown(err);
        if (nf) return reply.code(404).send(nf);
        throw err;
      }
    },
  );

  app.post<{ Params: { stage: string } }>(
    '/v1/stages/:stage/resume',
    {
      onRequest: admin,
      schema: {
        summary: 'resume a paused stage (or all): its workers read again within pausePollMs; `stages` lists those that were paused',
        params: PARAMS,
        querystring: NO_QUERY,
        body: NO_BODY,
        response: { 200: STAGES, 400: FIELD_ERROR, 404: FIELD_ERROR },
      },
    },
    async (req, reply) => {
      try {
        const stages = await resumeStages(redis, config, req.params.stage);
        await audit(redis, keys, logger, { action: 'stage_resume', by: req.principal!.name, requestId: req.id, target: req.params.stage, stages });
        return { stages };
      } catch (err) {
        const nf = unknown(err);
        if (nf) return reply.code(404).send(nf);
        throw err;
      }
    },
  );
}
