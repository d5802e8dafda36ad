/**
 * The webhook-lag scenario (test/webhooks/webhooks-lag.test.ts, test/topologies/cluster-webhook-lag.test.ts):
 * a sharded pipeline with webhook `app`, whose receiver answers 503 (a real `Webhooks` runner reads
 * it), and webhook `late`, configured but never run (no group); completions written; `pipeline
 * monitor`, a real process, sending StatsD to a real UDP listener.
 */
import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { pairs } from '../../lib/core/reply-pairs.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Shards } from '../../lib/redis/shard.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { webhookGroup } from '../../lib/stream/webhook-groups.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { cli, exited, FAST, writeConfig } from './pipeline.js';
import { randomPipeline, waitFor } from './redis.js';
import { listener, type Line } from './statsd.js';
import { receiver } from './webhook-receiver.js';

const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const HOOK = { secretEnv: 'HOOK_SECRET', blockMs: 50, checkIntervalMs: 100 };

/** The group's lag as Redis reports it (XINFO GROUPS), summed over the streams. */
export async function reportedLag(redis: Redis, streams: readonly string[], group: string): Promise<number> {
  let sum = 0;
  for (const s of streams) {
    const row = ((await redis.xinfo('GROUPS', s)) as unknown[][]).map(pairs).find((g) => g.get('name') === group);
    if (!row) throw new Error(`no group ${group} on ${s}`);
    sum += Number(row.get('lag'));
  }
  return sum;
}

export interface WebhookLagSeen {
  pipeline: string;
  /** The lag of `app`'s group, as Redis reports it, summed over the shards. */
  lag: number;
  /** Its entries read and not acked (in retry), summed over the shards. */
  pending: number;
  /** Every StatsD line the monitor sent. */
  lines: Line[];
  /** Requests the receiver answered 503. */
  refused: number;
  /** The monitor's exit code after SIGTERM, and its output. */
  exit: number | null;
  output: string;
}

export interface WebhookLagOptions {
  shards: number;
  /** @defaultValue a random name */
  pipeline?: string;
  /** Completions written, over the shards. @defaultValue 60 */
  completions?: number;
  /** How long each wait may take. @defaultValue 20000 */
  timeoutMs?: number;
}

/** Run the scenario until the monitor's last `webhooks.lag` for `app` equals the group's lag (or a wait times out: it throws). */
export async function webhookLagSeen(redis: Redis, url: string, o: WebhookLagOptions): Promise<WebhookLagSeen> {
  const { shards, pipeline = randomPipeline('whl'), completions = 60, timeoutMs = 20_000 } = o;
  const rx = await receiver(() => 503);
  const statsd = await listener();
  const app = { ...HOOK, name: 'app', url: rx.url };
  const late = { ...HOOK, name: 'late', url: rx.url };
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 50, gaugeIntervalMs: 200 };
  const file = writeConfig(pipeline, FAST, { shards, webhooks: [app, late], metrics });
  const config = resolveConfig({ ...RAW, pipeline, defaults: FAST, shards, webhooks: [app] } as PipelineConfig, 'test', { env: { REDIS_URL: url } });
  const hooks = new Webhooks({ config, secrets: new Map([['app', 'k']]), logger: silentLogger, metrics: memoryMetrics() });
  await hooks.ready();
  hooks.start();
  const keys = new Shards(pipeline, shards);
  const dones = keys.all.map((k) => k.done);
  const monitor = cli(['--config', file, 'monitor'], url);
  try {
    await recordCompletions(
      redis,
      keys,
      Array.from({ length: completions }, (_, i) => ({ key: `k${i}`, status: 'stored', stage: 'store' })),
      { maxLen: 1000, statusTtlMs: 60_000 },
    );
    await waitFor('the receiver answered 503 on every shard', () => rx.received.length >= shards, timeoutMs);
    // The reader holds its first batch in retry: the rest waits in the group, and the lag stays put.
    const sent = () => statsd.lines.filter((l) => l.name === 'webhooks.lag' && l.tags.webhook === 'app').at(-1)?.value;
    await waitFor('a webhooks.lag gauge equal to the group’s lag', async () => sent() === (await reportedLag(redis, dones, webhookGroup('app'))), timeoutMs);
    const lag = await reportedLag(redis, dones, webhookGroup('app'));
    const pending = await Promise.all(dones.map(async (d) => ((await redis.xpending(d, webhookGroup('app'))) as [number])[0]));
    monitor.kill('SIGTERM');
    const exit = await exited(monitor);
    return {
      pipeline,
      lag,
      pending: pending.reduce((a, n) => a + n, 0),
      lines: [...statsd.lines],
      refused: rx.received.length,
      exit,
      output: monitor.output(),
    };
  } finally {
    monitor.kill('SIGKILL');
    await hooks.stop();
    await rx.close();
    statsd.socket.close();
  }
}
