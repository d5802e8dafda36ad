/**
 * The pipeline the operator-command tests (purge, revoke) act on, run in-process: `preprocess` (a
 * gated stage: records titled `hold` wait in it until `gate.open`, `slow` ones take 20 ms a batch;
 * every call is counted by key in `seen`) then store. holdThenPause leaves a batch of two in the
 * stage's hands and the stage paused, so what is produced next waits in its stream.
 */
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { resolveConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { pauseStages } from '../../lib/ops/pause.js';
import { silentLogger, type Logger } from '../../lib/observe/logger.js';
import type { Metrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, stageThenStore } from './pipeline.js';
import { waitFor } from './redis.js';

export interface HeldStartOptions {
  /** Stage options over FAST. @defaultValue batchSize 5 */
  options?: Record<string, unknown>;
  metrics?: Metrics;
  /** Each worker's logger. @defaultValue silent */
  logger?: (stage: string) => Logger;
}

export function heldStageRig(redis: Redis, redisUrl: string) {
  const gate = { open: true };
  const seen = new Map<string, number>();
  const gated: StageFactory = () => ({
    kind: 'gated',
    async process(batch) {
      for (const m of batch) seen.set(m.envelope.key, (seen.get(m.envelope.key) ?? 0) + 1);
      if (batch.some((m) => m.envelope.input.title === 'hold')) await waitFor('the gate', () => gate.open, 20_000, 10);
      if (batch.some((m) => m.envelope.input.title === 'slow')) await new Promise((r) => setTimeout(r, 20));
      return batch.map(() => ok({ passed: true }));
    },
  });

  /** `preprocess` (the gated kind, reading `in`) then store; a CLI run may use a rules-only config of the same name (same stage, same stream). */
  function start(pipeline: string, o: HeldStartOptions = {}) {
    const config = resolveConfig(stageThenStore(pipeline, { name: 'preprocess', kind: 'gated' }, { ...FAST, batchSize: 5, ...o.options }), 'test', {
      env: { REDIS_URL: redisUrl },
    });
    const workers = ['preprocess', 'store'].map(
      (stage) =>
        new Worker({ config, stage, stages: { ...STAGES, gated }, logger: o.logger?.(stage) ?? silentLogger, ...(o.metrics ? { metrics: o.metrics } : {}) }),
    );
    const runs = workers.map((w) => w.run());
    return {
      config,
      keys: new Keys(pipeline),
      stop: async () => {
        await Promise.all(workers.map((w) => w.stop()));
        await Promise.all(runs);
      },
    };
  }

  const records = (prefix: string, n: number, title = 'x') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title }));

  async function produceRecords(keys: Keys, list: object[]): Promise<void> {
    await produce(redis, Readable.from([list.map((r) => JSON.stringify(r)).join('\n')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  }

  /** The `preprocess` group's XINFO GROUPS row (name, pending, lag, ...). */
  const group = async (keys: Keys) =>
    ((await redis.xinfo('GROUPS', keys.stream('in'))) as unknown[][])
      .map((row) => new Map(Array.from({ length: row.length / 2 }, (_, i) => [String(row[2 * i]), row[2 * i + 1]])))
      .find((g) => g.get('name') === 'preprocess');

  /** The worker holds a batch of 2 (`h0`, `h1`: no read of its is in flight), then the stage is paused: what comes next waits. */
  async function holdThenPause(keys: Keys, config: ResolvedConfig): Promise<void> {
    gate.open = false;
    await produceRecords(keys, records('h', 2, 'hold'));
    await waitFor('2 pending', async () => Number((await group(keys))?.get('pending')) === 2);
    await pauseStages(redis, config, 'preprocess', { by: 'test' });
  }

  return { gate, seen, gated, start, records, produceRecords, group, holdThenPause };
}
