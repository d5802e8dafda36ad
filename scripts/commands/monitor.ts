import { hostname } from 'node:os';
import { GaugeSampler, needsSampler } from '../../lib/ops/gauges.js';
import { ensureGroups } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { createMetrics } from '../../lib/observe/metrics.js';
import { Connections } from '../../lib/redis/connections.js';
import { consumerName } from '../../lib/redis/keys.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { adminOnlyRefusal, loadConfig, type GlobalOptions } from './common.js';

/**
 * `pipeline monitor`: the per-pipeline singleton for deployments without `pipeline up` (compose,
 * Kubernetes): creates every stage's consumer group if missing (KEDA's lag trigger needs it
 * before the stage first runs), then samples the backlog gauges every `metrics.gaugeIntervalMs`,
 * making a group again when a sample finds it gone (Redis lost its data: `gauges.groups_created`).
 * Run exactly one per pipeline, as the admin (REDIS_URL): a pipeline user refused the groups' creation
 * exits 13 saying so. SIGTERM stops it.
 */
export async function monitorCommand(opts: GlobalOptions): Promise<void> {
  const config = loadConfig(opts);
  const logger = createLogger({ component: 'monitor' });
  const metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
  const connections = new Connections({ url: config.redis.url, name: `monitor:${consumerName(hostname(), process.pid, 0)}`, logger });
  const redis = connections.command();
  // Creating the groups is a write no pipeline user may (XGROUP CREATE on every stage's stream): a refusal says to run it as the admin.
  const created = await ensureGroups(redis, config).catch(async (err: unknown) => {
    await connections.close();
    throw await adminOnlyRefusal(err, 'pipeline monitor', "creates the stages' consumer groups (XGROUP CREATE on every stage's stream)", config.redis.url);
  });
  logger.info('monitor.groups', { created, stages: config.stages.map((s) => s.name) });
  // Always sampling, with StatsD off too: a sample that finds a group gone makes it again.
  const sampler = new GaugeSampler({ redis, config, metrics, logger, createGroups: true });
  sampler.start();
  if (!config.metrics.enabled)
    logger.warn('monitor.metrics_off', { hint: 'set STATSD_HOST (or metrics.enabled) to send gauges', ageCaps: needsSampler(config) });
  logger.info('monitor.started', { intervalMs: sampler.intervalMs, statsd: config.metrics.enabled ? `${config.metrics.host}:${config.metrics.port}` : null });
  await new Promise<void>((resolve) =>
    onShutdownSignal(async () => {
      try {
        await sampler.stop();
        await metrics.close();
      } finally {
        await connections.close();
        resolve();
      }
    }, logger),
  );
}
