import { ConfigError } from '../lib/errors.js';
import { fail, ok, type Stage, type StageContext } from '../lib/stage.js';
import { summarize } from './domain/summary.js';
import { createRedisSink } from './sinks/redis.js';
import type { Sink, StoredProduct } from './sinks/sink.js';

export type SinkFactory = (ctx: StageContext) => Sink;

/** Sinks by `settings.sink` name; other issues add theirs (e.g. postgres). */
export const SINKS: Record<string, SinkFactory> = {
  redis: (ctx) => createRedisSink(ctx.redis, ctx.keys),
};

/**
 * The last stage: upserts each product by key into the configured sink (default: redis), and is
 * acked only after the sink has it. A sink error fails the batch, which is retried; nothing is acked.
 */
export function createStore(ctx: StageContext): Stage {
  const sinkName = String(ctx.stage.settings.sink ?? 'redis');
  const factory = SINKS[sinkName];
  if (!factory) throw new ConfigError(`stages.${ctx.stage.name}.settings.sink`, `unknown sink ${JSON.stringify(sinkName)} (known: ${Object.keys(SINKS).join(', ')})`);
  const sink = factory(ctx);
  return {
    kind: 'store',
    sink: true,
    async process(batch) {
      const now = Date.now();
      const products: StoredProduct[] = batch.map((m) => {
        const env = m.envelope;
        const s = summarize(env);
        const { category, ...fields } = s;
        return {
          key: env.key,
          entryId: m.id,
          traceId: env.traceId,
          category: typeof category === 'string' && category ? category : 'uncategorized',
          fields,
          doc: { key: env.key, input: env.input, outputs: env.outputs, route: [...env.hops.map((h) => h.stage), ctx.stage.name], producedAt: env.producedAt, hops: env.hops },
          storedAt: now,
        };
      });
      try {
        await sink.write(products);
        return products.map(() => ok({ stored: true, sink: sink.name }));
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        return products.map(() => fail(error));
      }
    },
    close: () => sink.close(),
  };
}
