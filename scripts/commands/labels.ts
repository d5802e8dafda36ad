import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { readLabels, writeLabelsJsonl } from '../../lib/console/labels.js';
import { configShards } from '../../lib/redis/shard.js';
import { checkWritable, cliRedis, loadConfig, type GlobalOptions } from './common.js';
import { warnIfNoPipeline } from './pipeline-hint.js';

/**
 * `pipeline labels export`: the console's review decisions ({p}:labels, and each shard's {p:N}:labels) as JSONL in the training
 * data's shape, latest decision per product; to stdout or --out. Unreadable entries are reported on stderr.
 */
export async function labelsExportCommand(opts: GlobalOptions & { out?: string }): Promise<void> {
  const config = loadConfig(opts);
  if (opts.out) checkWritable(opts.out, `--out ${opts.out}`);
  const redis = cliRedis(config.redis.url);
  try {
    const { labels, bad } = await readLabels(redis, configShards(config));
    for (const b of bad) process.stderr.write(JSON.stringify({ event: 'labels.bad_entry', id: b.id, why: b.why }) + '\n');
    if (opts.out) {
      const file = createWriteStream(opts.out);
      await writeLabelsJsonl(labels, file);
      file.end();
      await once(file, 'close');
    } else await writeLabelsJsonl(labels, process.stdout);
    process.stderr.write(JSON.stringify({ event: 'labels.exported', labels: labels.length, bad: bad.length, out: opts.out ?? 'stdout' }) + '\n');
    // No label at all is as often a mistyped PIPELINE: said as export, status and dlq list say it.
    if (labels.length === 0 && bad.length === 0) await warnIfNoPipeline(redis, config);
  } finally {
    redis.disconnect();
  }
}
