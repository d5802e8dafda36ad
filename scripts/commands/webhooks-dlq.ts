import { webhookSecret } from '../../lib/config/webhooks.js';
import { createLogger, stderrSink } from '../../lib/observe/logger.js';
import { createMetrics } from '../../lib/observe/metrics.js';
import { configShards } from '../../lib/redis/shard.js';
import { deleteWebhookDeadLetters, selectWebhookDeadLetters, type WebhookDeadLetter } from '../../lib/webhooks/dlq.js';
import { redeliverWebhookDeadLetters } from '../../lib/webhooks/redeliver.js';
import { adminOnlyRefusal, type GlobalOptions } from './common.js';
import { nameMissing, perShard, selection, shardId, withRedis, type DlqSelectOptions } from './dlq.js';

/*
 * `pipeline webhooks dlq list|redeliver|purge` (options in webhooks-program.ts): the webhook dead
 * letters (`{p}:webhooks:dlq`, every shard's), listed, POSTed again to their webhook (deleted on a
 * 2xx), or deleted. Redeliver and purge delete from the DLQ, which only the admin may (as `pipeline
 * dlq replay|purge`); ids are `<shard>/<id>` on a sharded pipeline, as `list` prints them.
 */

const LISTER = 'pipeline webhooks dlq list';
const out = (s: string) => process.stdout.write(s + '\n');
const ids = (entries: WebhookDeadLetter[]) => entries.map((e) => e.id);
const NOT_FOUND = "not in the webhook DLQ (gone already, or not --webhook's)";

function age(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
}

function row(e: WebhookDeadLetter): string {
  const err = e.error.length > 60 ? `${e.error.slice(0, 57)}...` : e.error;
  return [e.id, e.webhook, e.eventId, e.key ?? '-', e.reason, String(e.attempts), e.status === undefined ? '-' : String(e.status), err, age(e.at)].join('  ');
}

export async function webhooksDlqList(global: GlobalOptions, o: { webhook?: string; count: string; json?: boolean }): Promise<void> {
  await withRedis(global, async (redis, config) => {
    const count = Number(o.count);
    const all = await Promise.all(
      configShards(config).all.map(async (keys) =>
        (await selectWebhookDeadLetters(redis, keys, { all: true, webhook: o.webhook, count })).map((e) => ({ ...e, id: shardId(keys, e.id) })),
      ),
    );
    // Every shard's oldest `count`, merged by time: the oldest `count` of the pipeline.
    const entries = all
      .flat()
      .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id))
      .slice(0, count);
    for (const e of entries) out(o.json ? JSON.stringify(e) : row(e));
    if (!o.json) process.stderr.write(`${entries.length} webhook dead letters\n`);
    // A mistyped --webhook lists nothing, as if it had none; one since removed from the config may still have some.
    if (o.webhook !== undefined && !config.webhooks.some((h) => h.name === o.webhook))
      process.stderr.write(
        `warning: no webhook ${JSON.stringify(o.webhook)} in pipeline ${config.pipeline} (webhooks: ${config.webhooks.map((h) => h.name).join(', ') || 'none'}): only dead letters of a webhook removed from the config match it\n`,
      );
  });
}

export async function webhooksDlqRedeliver(global: GlobalOptions, o: DlqSelectOptions & { webhook?: string }): Promise<void> {
  await withRedis(global, async (redis, config) => {
    const logger = createLogger({ component: 'webhooks-dlq' }, undefined, stderrSink);
    const metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
    const refused = async (err: unknown) => {
      throw await adminOnlyRefusal(err, 'pipeline webhooks dlq redeliver', 'deletes webhook dead letters', config.redis.url);
    };
    let delivered = 0;
    let failed = 0;
    let unknown = 0;
    try {
      for (const part of perShard(config, selection(o), LISTER)) {
        // May this user delete from the DLQ? Asked first (XDEL of an id no auto-id entry has, deleting
        // nothing): refused only after a 2xx, the receiver would have the entry and the DLQ still hold it.
        await redis.xdel(part.keys.webhooksDlq, '0-1').catch(refused);
        const entries = await selectWebhookDeadLetters(redis, part.keys, { ...part.sel, webhook: o.webhook }).catch(refused);
        // Named and counted, as `pipeline dlq replay` does its unknown ids: the ones found are still sent.
        unknown += nameMissing(part.keys, part.sel.ids, ids(entries), NOT_FOUND);
        const secret = (h: (typeof config.webhooks)[number]) => webhookSecret(config.webhooks, h);
        const r = await redeliverWebhookDeadLetters({ redis, keys: part.keys, hooks: config.webhooks, secret, logger, metrics }, entries).catch(refused);
        for (const f of r.failed)
          process.stderr.write(`${shardId(part.keys, f.entry.id)} (webhook ${f.entry.webhook}, event ${f.entry.eventId}): not delivered: ${f.why}\n`);
        delivered += r.delivered.length;
        failed += r.failed.length;
      }
    } finally {
      await metrics.close();
    }
    out(`redelivered: ${delivered}`);
    if (failed) out(`failed: ${failed} (left in the DLQ)`);
    if (unknown) out(`not found: ${unknown}`);
    if (failed || unknown) process.exitCode = 1;
  });
}

export async function webhooksDlqPurge(global: GlobalOptions, o: DlqSelectOptions & { webhook?: string }): Promise<void> {
  await withRedis(global, async (redis, config) => {
    const refused = async (err: unknown) => {
      throw await adminOnlyRefusal(err, 'pipeline webhooks dlq purge', 'deletes webhook dead letters', config.redis.url);
    };
    let purged = 0;
    let unknown = 0;
    for (const part of perShard(config, selection(o), LISTER)) {
      const entries = await selectWebhookDeadLetters(redis, part.keys, { ...part.sel, webhook: o.webhook }).catch(refused);
      const gone = await deleteWebhookDeadLetters(redis, part.keys, ids(entries)).catch(refused);
      purged += gone.length;
      unknown += nameMissing(part.keys, part.sel.ids, gone, NOT_FOUND);
    }
    out(`purged: ${purged}`);
    if (unknown) {
      out(`not found: ${unknown}`);
      process.exitCode = 1;
    }
  });
}
