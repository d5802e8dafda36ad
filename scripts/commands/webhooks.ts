import { ConfigError } from '../../lib/core/errors.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { webhookSecrets } from '../../lib/config/webhooks.js';
import { createLogger } from '../../lib/observe/logger.js';
import { createMetrics } from '../../lib/observe/metrics.js';
import { WEBHOOKS_REDIS_URL_ENV } from '../../lib/ops/acl-webhooks.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { loadConfig, ownRedisUrl, refuseTlsMismatch, type GlobalOptions } from './common.js';

/**
 * `pipeline webhooks`: POST every completion to the config's webhooks (docs/webhooks.md) until
 * SIGTERM/SIGINT or its npm/npx is gone; several processes share the work. A missing secret or
 * no webhook configured is a config error at start.
 */
export async function webhooksCommand(opts: GlobalOptions & { parentPollMs?: string }): Promise<void> {
  const config = loadConfig(opts);
  if (config.webhooks.length === 0) throw new ConfigError('webhooks', 'no webhook configured: add { "name", "url", "secretEnv" } entries (docs/webhooks.md)');
  const secrets = webhookSecrets(config.webhooks);
  const redisUrl = ownRedisUrl(WEBHOOKS_REDIS_URL_ENV, config.redis.url);
  refuseTlsMismatch([redisUrl]);
  const logger = createLogger({ component: 'webhooks' });
  const metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
  const hooks = new Webhooks({ config, secrets, logger, metrics, redisUrl });
  await hooks.ready();
  hooks.start();
  logger.info('webhooks.started', { webhooks: config.webhooks.map((h) => h.name), shards: config.shards });
  await new Promise<void>((resolve) => {
    onShutdownSignal(
      async () => {
        await hooks.stop();
        await metrics.close();
        resolve();
      },
      logger,
      { parentPollMs: Number(opts.parentPollMs ?? PARENT_POLL_MS) },
    );
  });
}
