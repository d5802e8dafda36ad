import type { FastifyInstance } from 'fastify';
import { requireRole } from './auth.js';
import { refuseBadProductId } from './errors.js';
import { FIELD_ERROR, NO_QUERY } from './strict-schemas.js';
import { audit } from '../ops/audit.js';
import { REVOKE_ID_MAX, REVOKE_REASON_MAX, revokeIds } from '../ops/revoke.js';

/**
 * The admin's `POST /v1/products/{id}/revoke` (body `{"reason": "...", "force": true}`, optional; lib/ops/revoke.ts):
 * 202 when marked (a version submitted before is acked unprocessed by the next stage that reads it,
 * its trip ending `revoked`; an id not seen yet is marked too), 409 with the status when the id's
 * trip had ended (nothing changes; with `force` it is marked: a version produced again since is revoked). Audited in `{p}:console:audit` (`product_revoke`, with `force` when given) with the token's name.
 */
export function registerRevoke(app: FastifyInstance): void {
  const { config, redis, keys, logger } = app.pipeline;
  app.post<{ Params: { id: string }; Body: { reason?: string; force?: boolean } | null }>(
    '/v1/products/:id/revoke',
    {
      onRequest: requireRole('admin'),
      preValidation: refuseBadProductId,
      schema: {
        summary:
          'revoke an id (Celery revoke): a version submitted before is acked unprocessed by the next stage that reads it, its trip ending revoked; 409 when its trip had ended',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: REVOKE_ID_MAX } } },
        querystring: NO_QUERY,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            reason: { type: 'string', maxLength: REVOKE_REASON_MAX },
            force: { type: 'boolean', description: 'revoke it even when its last trip ended: a version produced again since is revoked too' },
          },
        },
        response: {
          202: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              revoked: { type: 'boolean' },
              was: { type: 'string', description: 'its status then (unknown: none yet)' },
              cutoff: { type: 'string', description: "the input stream's last id: versions up to it are revoked" },
            },
          },
          400: FIELD_ERROR,
          409: {
            type: 'object',
            properties: { error: { type: 'string' }, message: { type: 'string' }, id: { type: 'string' }, status: { type: 'string' } },
          },
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const reason = req.body?.reason?.trim() || undefined;
      const force = req.body?.force === true;
      const [r] = await revokeIds(redis, config, [id], { by: `api:${req.principal!.name}`, reason, force });
      await audit(redis, keys, logger, {
        action: 'product_revoke',
        by: req.principal!.name,
        requestId: req.id,
        id,
        outcome: r!.outcome,
        ...(force ? { force } : {}),
        ...(reason ? { reason } : {}),
      });
      if (r!.outcome === 'ended')
        return reply
          .code(409)
          .send({ error: 'trip_ended', message: `product ${JSON.stringify(id)} has ended its trip: ${r!.status}; nothing revoked`, id, status: r!.status });
      return reply.code(202).send({ id, revoked: true, was: r!.was, cutoff: r!.cutoff });
    },
  );
}
