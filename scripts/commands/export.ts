import { createWriteStream, lstatSync, renameSync, rmSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { RetrySettings } from '../../lib/producer/retry.js';
import { createLogger } from '../../lib/observe/logger.js';
import { configShards } from '../../lib/redis/shard.js';
import {
  findStoreStage,
  parseSince,
  postgresProducts,
  redisProducts,
  writeJsonl,
  type ExportedProduct,
  type ExportFilter,
  type GoneTally,
} from '../../stages/sinks/export.js';
import { createPool } from '../../stages/sinks/postgres.js';
import { checkWritable, cliRedis, loadConfig } from './common.js';
import { warnIfNoPipeline } from './pipeline-hint.js';
import { postgresOptionsForCli, type PostgresCliOptions } from './store.js';

export interface ExportOptions extends PostgresCliOptions {
  /** Write here instead of stdout: a regular file via FILE.partial, renamed when complete; an existing FIFO, device, symlink or other non-regular file directly. */
  out?: string;
  category?: string;
  /** ISO-8601: only products stored at or after. */
  since?: string;
  /** redis or postgres. @defaultValue the store stage's settings.sink */
  sink?: string;
  /** Products per SSCAN / page query. @defaultValue 500 */
  page: string;
}

/**
 * The stored products of the store stage's sink (`sink`: redis or postgres), with the sink's own
 * filters, one page in memory: what `pipeline export` writes and `pipeline reprocess` reads.
 * The redis sink is read through `redis`, the postgres one through a pool `close` ends; each page
 * is retried within `retry` when given (a failover or, postgres, a restart mid-scan).
 */
export function storedProducts(
  config: ResolvedConfig,
  opts: PostgresCliOptions,
  sink: string,
  filter: ExportFilter,
  page: number,
  redis?: Redis,
  retry?: RetrySettings,
  tally?: GoneTally,
): { products: AsyncIterable<ExportedProduct>; close: () => Promise<void> } {
  if (sink === 'redis') {
    if (!redis) throw new Error('the redis sink is read through a Redis connection');
    const onRescan = (tag: string) => process.stderr.write(rescanWarning(tag));
    return { products: redisProducts(redis, configShards(config), filter, page, retry, tally, onRescan), close: async () => {} };
  }
  if (sink !== 'postgres') throw new Error(`--sink: unknown sink ${JSON.stringify(sink)} (redis, postgres)`);
  const o = postgresOptionsForCli(findStoreStage(config, opts.stage), opts);
  const pool = createPool(o, createLogger({ component: 'export' }, 'warn'), 'pipeline:export');
  return { products: postgresProducts(pool, o.schema, filter, page, retry), close: () => pool.end() };
}

/**
 * The stderr line when `--category` / `--since` selected nothing (`export`, `reprocess`): an empty
 * result reads like "nothing stored", but is as often a mistyped filter (`--category Storage`,
 * categories being the classifier's lower-case labels). Undefined without a filter.
 */
export function noMatchWarning(sink: string, opts: { category?: string; since?: string }): string | undefined {
  const filters = [opts.category !== undefined ? `--category ${JSON.stringify(opts.category)}` : '', opts.since !== undefined ? `--since ${opts.since}` : '']
    .filter(Boolean)
    .join(' ');
  // Stored categories are the classifier's labels as written: "Tools" does not select "tools".
  const c = opts.category;
  const exact =
    c !== undefined && c !== c.trim().toLowerCase()
      ? ` (categories are compared exactly, case and spaces included: try ${JSON.stringify(c.trim().toLowerCase())})`
      : '';
  return filters ? `warning: no stored product in the ${sink} sink matched ${filters}${exact}\n` : undefined;
}

/** The stderr line when the scan passed over products set members without a stored hash (`export`, `reprocess`). */
export const goneWarning = (n: number): string =>
  `warning: ${n} member${n === 1 ? '' : 's'} of the products set had no stored product when read (removed since the scan listed ${n === 1 ? 'it' : 'them'}, or lost by Redis): not read\n`;

/** Stored products that could not be read (`export`, `reprocess`): how many, and the first few by key with why. */
export class UnreadableTally {
  count = 0;
  readonly named: string[] = [];
  constructor(private readonly nameAtMost = 5) {}
  add(key: string, why: string): void {
    if (++this.count <= this.nameAtMost) this.named.push(`${key}: ${why}`);
  }
  /** The stderr line (`what`: what was not done with them), or '' when there were none. */
  warning(what: string): string {
    if (this.count === 0) return '';
    const more = this.count > this.named.length ? `; and ${this.count - this.named.length} more` : '';
    return `warning: ${this.count} stored product${this.count === 1 ? '' : 's'} could not be read, ${what} (kept in the sink as stored): ${this.named.join('; ')}${more}\n`;
  }
}

/** Only the readable products; each unreadable one counted and named in `tally`. */
async function* readableOnly(products: AsyncIterable<ExportedProduct>, tally: UnreadableTally): AsyncGenerator<ExportedProduct> {
  for await (const p of products) {
    if (p.unreadable === undefined) yield p;
    else tally.add(p.key, p.unreadable);
  }
}

/** The stderr line when the redis sink's scan started a shard again (stages/sinks/export-redis.ts `redisProducts`). */
export const rescanWarning = (tag: string): string =>
  `warning: the Redis serving ${tag}'s products set changed during the scan (a restart or a failover): that set is scanned again from the start, so products read before may come twice (export: load the lines as an upsert by key; reprocess puts each back once)\n`;

/** `pipeline export`: stored products as JSONL, streamed from the redis or postgres sink. */
export async function exportCommand(opts: ExportOptions): Promise<void> {
  const config = loadConfig(opts);
  const stage = findStoreStage(config, opts.stage);
  const sink = opts.sink ?? String(stage.settings.sink ?? 'redis');
  const filter: ExportFilter = { category: opts.category, since: opts.since !== undefined ? parseSince(opts.since) : undefined };
  const page = Number(opts.page);
  if (!Number.isInteger(page) || page < 1) throw new Error(`--page: expected a positive integer, got ${opts.page}`);
  if (opts.out !== undefined) checkWritable(opts.out, `--out ${opts.out}`);

  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const progress = (n: number) => {
    if (tty) process.stderr.write(`\rexported ${n}  ${Math.round(n / Math.max(0.001, (Date.now() - t0) / 1000))}/s `);
  };

  const closers: (() => Promise<void>)[] = [];
  const redis = sink === 'redis' ? cliRedis(config.redis.url) : undefined;
  if (redis) closers.push(async () => redis.disconnect());
  const tally: GoneTally = { gone: 0 };
  const source = storedProducts(config, opts, sink, filter, page, redis, undefined, tally);
  closers.push(source.close);
  const unreadable = new UnreadableTally();
  const products = readableOnly(source.products, unreadable);

  const partial = opts.out !== undefined && !isSpecialFile(opts.out) ? `${opts.out}.partial` : undefined;
  const out: Writable = opts.out !== undefined ? createWriteStream(partial ?? opts.out) : process.stdout;
  const dropPartial = () => {
    if (opts.out !== undefined) out.destroy();
    if (partial) rmSync(partial, { force: true });
  };
  // Ctrl-C (or a stop) mid-export leaves no FILE.partial behind.
  const onSignal = (signal: NodeJS.Signals) => {
    dropPartial();
    process.stderr.write(`${tty ? '\n' : ''}export: stopped by ${signal}; ${opts.out ?? 'stdout'} not written\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const n = await writeJsonl(products, out, progress);
    if (opts.out !== undefined) {
      out.end();
      await finished(out);
      if (partial) renameSync(partial, opts.out);
    }
    if (tty) process.stderr.write('\n');
    // Nothing exported (an empty file, exit 0) is as often a mistyped PIPELINE: say so, naming the pipelines this Redis has;
    // or a mistyped filter: say which (it had said nothing, as reprocess did not).
    if (n === 0 && redis) await warnIfNoPipeline(redis, config);
    const unmatched = n === 0 ? noMatchWarning(sink, opts) : undefined;
    if (unmatched) process.stderr.write(unmatched);
    if (tally.gone > 0) process.stderr.write(goneWarning(tally.gone));
    process.stderr.write(unreadable.warning('not exported'));
    const gone = sink === 'redis' ? { gone: tally.gone, unreadable: unreadable.count } : {};
    process.stderr.write(
      JSON.stringify({ event: 'export.done', sink, exported: n, ...gone, out: opts.out ?? 'stdout', seconds: (Date.now() - t0) / 1000 }) + '\n',
    );
  } catch (err) {
    dropPartial();
    // A closed pipe (`pipeline export | head`) is the reader's choice, not a failure.
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    for (const close of closers) await close();
  }
}

/**
 * `--out` names an existing file that is not a regular one (a FIFO, a device such as /dev/null, a
 * symlink such as /dev/stdout): written directly (through the link), since writing FILE.partial
 * and renaming it over would replace it with a regular file.
 */
function isSpecialFile(path: string): boolean {
  try {
    return !lstatSync(path).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
