import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { REPO, type GlobalOptions } from './common.js';
import { collectOutcomes } from '../../training/eval/collect.js';
import { loadLabelled } from '../../training/eval/dataset.js';
import { fold, scoreCategories, scoreExact } from '../../training/eval/metrics.js';
import { waitIdle, withPipeline } from './job.js';

export interface EvalOptions extends GlobalOptions {
  input: string;
  limit?: string;
  gtinShare: string;
  badGtinShare: string;
  seed: string;
  timeout: string;
  json?: string;
  dump?: string;
}

const pct = (x: number) => x.toFixed(3);

/**
 * `pipeline eval`: runs a labelled set (default: the dev set) through the real pipeline (Redis,
 * every stage as a worker process) with titles only, then scores what came out: category
 * accuracy / macro-F1 / confusions, brand and MPN exact match where the value is in the title,
 * GTINs found and validated on augmented titles, invalid GTINs accepted, and throughput.
 */
export async function evalCommand(opts: EvalOptions): Promise<void> {
  const logger = createLogger({ component: 'eval' });
  const rows = loadLabelled(resolve(REPO, opts.input), {
    limit: opts.limit ? Number(opts.limit) : undefined,
    gtinShare: Number(opts.gtinShare),
    badGtinShare: Number(opts.badGtinShare),
    seed: Number(opts.seed),
  });
  const pipeline = `eval-${randomBytes(3).toString('hex')}`;
  const report = await withPipeline({ configPath: opts.config, pipeline, logger }, async (ctx) => {
    const { config, shards, redis } = ctx;
    // Titles only: category, brand and identifiers are what the pipeline must find.
    const jsonl = rows.map((r) => JSON.stringify({ id: r.id, title: r.title })).join('\n');
    const t0 = Date.now();
    const produced = await produce(redis, Readable.from([Buffer.from(jsonl)]), {
      stream: shards.all[0]!.stream(config.input), source: opts.input, maxRecordBytes: config.limits.maxRecordBytes,
      ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
    });
    const status = await waitIdle(ctx, Number(opts.timeout), 250);
    const seconds = (Date.now() - t0) / 1000;
    const review = config.streams.terminal[0] ?? 'review';
    const outcomes = await collectOutcomes(redis, shards, rows.map((r) => r.id), review);
    return { produced, status, seconds, outcomes, logFile: ctx.logFile };
  });

  const { outcomes } = report;
  const get = (id: string) => outcomes.get(id)?.summary ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const categories = scoreCategories(rows.map((r) => ({ truth: r.category, predicted: str(get(r.id).category) })));
  const brand = scoreExact(rows.map((r) => ({ title: r.title, truth: r.brand, predicted: str(get(r.id).brand) })));
  const mpn = scoreExact(rows.map((r) => ({ title: r.title, truth: r.mpn, predicted: str(get(r.id).mpn) })));
  const withGtin = rows.filter((r) => r.gtin);
  const gtinFound = withGtin.filter((r) => fold(str(get(r.id).gtin)) === r.gtin && get(r.id).gtinValid === true).length;
  const withBad = rows.filter((r) => r.badGtin);
  const badAccepted = withBad.filter((r) => get(r.id).gtinValid === true && fold(str(get(r.id).gtin)) === r.badGtin).length;
  const where = { stored: 0, review: 0, dlq: 0, missing: 0 };
  for (const r of rows) where[outcomes.get(r.id)?.where ?? 'missing']++;

  const lines = [
    `eval: ${rows.length} records from ${opts.input} (seed ${opts.seed}), ${report.seconds.toFixed(1)} s, ${(rows.length / report.seconds).toFixed(1)} records/s end to end`,
    `outcomes: stored ${where.stored}, review ${where.review}, dlq ${where.dlq}, missing ${where.missing}`,
    `category: accuracy ${pct(categories.accuracy)}, macro-F1 ${pct(categories.macroF1)}`,
    'per category (precision / recall / F1 / support):',
    ...Object.entries(categories.perLabel).map(([l, s]) => `  ${l.padEnd(22)} ${pct(s.precision)} / ${pct(s.recall)} / ${pct(s.f1)} / ${s.support}`),
    'top confusions (truth → predicted: count):',
    ...categories.confusions.map((c) => `  ${c.truth} → ${c.predicted}: ${c.count}`),
    `brand (value in title, n=${brand.n}): exact-match recall ${pct(brand.recall)}, precision ${pct(brand.precision)}`,
    `mpn (value in title, n=${mpn.n}): exact-match recall ${pct(mpn.recall)}, precision ${pct(mpn.precision)}`,
    `gtin (augmented valid, n=${withGtin.length}): found and validated ${pct(gtinFound / Math.max(1, withGtin.length))}`,
    `gtin (augmented invalid, n=${withBad.length}): invalid codes accepted ${badAccepted}`,
    `throughput: ${(rows.length / report.seconds).toFixed(1)} records/s`,
    `accuracy: ${pct(categories.accuracy)}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ records: rows.length, seconds: report.seconds, where, categories, brand, mpn, gtin: { n: withGtin.length, found: gtinFound, invalidN: withBad.length, invalidAccepted: badAccepted } }, null, 2));
  }
  if (opts.dump) {
    const out = rows.map((r) => JSON.stringify({ ...r, where: outcomes.get(r.id)?.where ?? 'missing', predicted: get(r.id) }));
    writeFileSync(opts.dump, out.join('\n') + '\n');
  }
  if (where.missing > 0) {
    process.stderr.write(`error: ${where.missing} records are neither stored, in review nor in the DLQ; worker logs: ${report.logFile}\n`);
    process.exitCode = 1;
  }
}

export const DEFAULT_EVAL_INPUT = join('..', 'shared', 'data', 'products', 'dev.jsonl');
