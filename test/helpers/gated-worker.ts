/**
 * A one-stage pipeline (`work`: in → out) whose worker holds any batch with a record titled
 * `hold ...` until release(): the fence tests race other consumers against that held batch.
 * The worker never reclaims nor refreshes idle times itself (the test is the other consumer).
 */
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { FAST } from './pipeline.js';
import { randomPipeline } from './redis.js';

export function gatedWorkerRig(redis: Redis, redisUrl: string) {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const [input, out] = [keys.stream('in'), keys.stream('out')];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const gate: StageFactory = () => ({
    kind: 'gate',
    async process(batch) {
      if (batch.some((m) => m.envelope.input.title.startsWith('hold'))) await held;
      return batch.map(() => ok({ passed: true }));
    },
  });
  const raw = {
    pipeline,
    input: 'in',
    streams: { terminal: ['out'] },
    defaults: { ...FAST, batchSize: 10, claimMinIdleMs: 600_000, keepClaimedMs: 600_000 },
    stages: [{ name: 'work', kind: 'gate', input: 'in' }],
    routes: { work: [{ to: 'out' }] },
  };
  const metrics = memoryMetrics();
  /** The worker's log lines, parsed. */
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => logs.push(JSON.parse(l) as Record<string, unknown>));
  /** Starts the worker; stop it with `worker.stop()` then await `running`. */
  const start = () => {
    const worker = new Worker({
      config: resolveConfig(raw, 'test', { env: { REDIS_URL: redisUrl } }),
      stage: 'work',
      stages: { gate },
      logger,
      metrics,
    });
    return { worker, running: worker.run() };
  };
  const send = (lines: string[]) => produce(redis, Readable.from([lines.join('\n')]), { stream: input, source: 'test', maxRecordBytes: 65536 });
  /** How many times each key arrived in `out`. */
  const arrivals = async () => {
    const n = new Map<string, number>();
    for (const [, fields] of await redis.xrange(out, '-', '+')) n.set(fields[1]!, (n.get(fields[1]!) ?? 0) + 1);
    return n;
  };
  return { keys, input, out, release: () => release(), metrics, logs, start, send, arrivals };
}
