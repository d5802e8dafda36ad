import { Command } from 'commander';
import { describe } from '../../lib/producer/backpressure.js';
import {
  decodeDeadLetter,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
  type DeadLetterEntry,
  type Selection,
} from '../../lib/ops/dlq.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Keys } from '../../lib/redis/keys.js';
import { configShards } from '../../lib/redis/shard.js';
import { DEAD_LETTER_REASONS } from '../../lib/stream/deadletter.js';
import { adminOnlyRefusal, cliRedis, loadConfig, type GlobalOptions } from './common.js';
import { oneOf, positiveInt } from './option-values.js';
import { warnIfNoPipeline } from './pipeline-hint.js';
import { counted } from '../../lib/core/counted.js';

export interface DlqSelectOptions {
  id?: string[];
  all?: boolean;
  count?: string;
  reason?: string;
}

export function selection(o: DlqSelectOptions): Selection {
  if (!o.id?.length && !o.all) throw new Error('name entries with --id ID... or pass --all');
  if (o.id?.length && o.all) throw new Error('--id and --all exclude each other');
  if (o.reason !== undefined && !o.all) throw new Error('--reason selects with --all');
  const count = o.count === undefined ? undefined : Number(o.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new Error(`--count: expected a positive integer, got ${o.count}`);
  return { ids: o.id, all: o.all, count, ...(o.reason === undefined ? {} : { reason: o.reason }) };
}

const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '-');

function row(e: DeadLetterEntry): string {
  const err = e.error.length > 80 ? `${e.error.slice(0, 77)}...` : e.error;
  return [e.id, e.stage, e.reason, String(e.deliveries), e.key ?? '-', iso(e.at), err].join('  ');
}

/**
 * A sharded pipeline has one DLQ per shard, so its dead letters are named `<shard>/<id>`
 * (`3/1712345678901-0`); an unsharded one keeps plain ids. Returns the shard's keys and the id.
 */
export function locate(config: ResolvedConfig, ref: string, lister = 'pipeline dlq list'): { keys: Keys; id: string } {
  const space = configShards(config);
  const m = /^(\d+)\/(.+)$/.exec(ref);
  if (space.count === 1) {
    if (m) throw new Error(`${ref}: pipeline ${config.pipeline} is not sharded, name dead letters by their id alone`);
    return { keys: space.all[0]!, id: ref };
  }
  if (!m) throw new Error(`${ref}: pipeline ${config.pipeline} has ${space.count} shards, name dead letters as <shard>/<id> (as \`${lister}\` prints them)`);
  return { keys: space.shard(Number(m[1])), id: m[2]! };
}

/** Each shard's keys with the part of a selection that concerns it (ids of that shard, or `all`). */
export function perShard(config: ResolvedConfig, sel: Selection, lister?: string): { keys: Keys; sel: Selection }[] {
  const space = configShards(config);
  if (sel.all) return space.all.map((keys) => ({ keys, sel }));
  const byShard = new Map<Keys, string[]>();
  for (const ref of sel.ids ?? []) {
    const { keys, id } = locate(config, ref, lister);
    byShard.set(keys, [...(byShard.get(keys) ?? []), id]);
  }
  return [...byShard].map(([keys, ids]) => ({ keys, sel: { ids } }));
}

/** Prefix a shard's ids with `<shard>/` (sharded pipelines only). */
export const shardId = (keys: Keys, id: string) => (keys.shard === undefined ? id : `${keys.shard}/${id}`);

/**
 * The `--id`s asked for that `done` lacks (not in the DLQ: a typo, or replayed or purged since),
 * each named on stderr as `<id>: <why>`; returns how many, so that the command exits 1 and a
 * script does not take it for done.
 */
export function nameMissing(keys: Keys, asked: string[] | undefined, done: Iterable<string>, why: string): number {
  const have = new Set(done);
  let missing = 0;
  for (const id of new Set(asked ?? []))
    if (!have.has(id)) {
      process.stderr.write(`${shardId(keys, id)}: ${why}\n`);
      missing++;
    }
  return missing;
}

export async function withRedis<T>(
  global: GlobalOptions,
  fn: (redis: ReturnType<typeof cliRedis>, config: ReturnType<typeof loadConfig>) => Promise<T>,
): Promise<T> {
  const config = loadConfig(global);
  const redis = cliRedis(config.redis.url);
  try {
    return await fn(redis, config);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** `pipeline dlq list|show|replay|purge`: inspect dead letters, put them back on their stage stream, or delete them. */
export function dlqCommand(global: () => GlobalOptions, run: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void): Command {
  const out = (s: string) => process.stdout.write(s + '\n');
  const dlq = new Command('dlq').description('dead letters: list, show, replay onto their stage stream, purge');

  dlq
    .command('list')
    .description('dead letters, oldest first: id, stage, reason, deliveries, key, time, last error')
    .option('--count <n>', 'at most n entries', positiveInt, '100')
    .option('--reason <reason>', `only this reason (${DEAD_LETTER_REASONS.join(', ')})`, oneOf(DEAD_LETTER_REASONS))
    .option('--stage <stage>', 'only from this stage')
    .option('--json', 'one JSON object per line')
    .action(
      run((o: { count: string; reason?: string; stage?: string; json?: boolean }) =>
        withRedis(global(), async (redis, config) => {
          const count = Number(o.count);
          // Every shard's oldest `count`, merged by time: the oldest `count` of the pipeline.
          const all = await Promise.all(
            configShards(config).all.map(async (keys) =>
              (await listDeadLetters(redis, keys, { count, reason: o.reason, stage: o.stage })).map((e) => ({ ...e, id: shardId(keys, e.id) })),
            ),
          );
          const entries =
            all.length === 1
              ? all[0]!
              : all
                  .flat()
                  .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id))
                  .slice(0, count);
          for (const e of entries) out(o.json ? JSON.stringify({ ...e, payload: undefined, payloadBytes: e.payload?.length ?? 0 }) : row(e));
          if (!o.json) process.stderr.write(`${counted(entries.length, 'dead letter')}\n`);
          // An empty list is as often a mistyped PIPELINE: said as status, produce and export say it.
          if (entries.length === 0) await warnIfNoPipeline(redis, config);
          // A mistyped --stage lists nothing, as if that stage had none; a stage since removed from the config may still have some.
          if (o.stage !== undefined && !config.stages.some((st) => st.name === o.stage))
            process.stderr.write(
              `warning: no stage ${JSON.stringify(o.stage)} in pipeline ${config.pipeline} (stages: ${config.stages.map((st) => st.name).join(', ')}): only dead letters of a stage removed from the config match it\n`,
            );
        }),
      ),
    );

  dlq
    .command('show')
    .description('one dead letter in full, with its envelope decoded (or why it does not decode)')
    .argument('<id>', 'DLQ entry id (<shard>/<id> when the pipeline is sharded)')
    .action(
      run((id: string) =>
        withRedis(global(), async (redis, config) => {
          const where = locate(config, id);
          const found = await getDeadLetter(redis, where.keys, where.id);
          if (!found) throw new Error(`no dead letter ${id}`);
          const e = { ...found, id };
          const { envelope, error } = decodeDeadLetter(e);
          const raw = e.payload ? { payloadBytes: e.payload.length, payloadHex: e.payload.subarray(0, 64).toString('hex') } : {};
          out(JSON.stringify({ ...e, payload: undefined, at: iso(e.at), ...(envelope ? { envelope } : { decodeError: error, ...raw }) }, null, 2));
        }),
      ),
    );

  dlq
    .command('replay')
    .description('put dead letters back on their original stage stream (atomically removed from the DLQ); prints the count')
    .option('--id <id...>', 'these DLQ entry ids (<shard>/<id> when the pipeline is sharded, as `dlq list` prints them)')
    .option('--all', 'every dead letter present now (oldest first)')
    .option('--count <n>', 'with --all: at most n (per shard, when the pipeline is sharded)', positiveInt)
    .option('--reason <reason>', `with --all: only this reason (${DEAD_LETTER_REASONS.join(', ')})`, oneOf(DEAD_LETTER_REASONS))
    .action(
      run((o: DlqSelectOptions) =>
        withRedis(global(), async (redis, config) => {
          let replayed = 0;
          let skipped = 0;
          const refused = async (err: unknown) => {
            throw await adminOnlyRefusal(err, 'pipeline dlq replay', "puts dead letters back on their stage's stream", config.redis.url);
          };
          for (const part of perShard(config, selection(o))) {
            // The producer's backpressure rule: wait while the target stage is behind or Redis is full.
            let said = false;
            const r = await replayDeadLetters(redis, config, part.sel, part.keys, {
              backpressure: { pollMs: 500, onWait: (p) => void (said || ((said = true), process.stderr.write(`dlq replay: waiting: ${describe(p)}\n`))) },
            }).catch(refused);
            for (const s of r.skipped) process.stderr.write(`${shardId(part.keys, s.id)}: not replayed: ${s.why}\n`);
            replayed += r.replayed.length;
            skipped += r.skipped.length;
          }
          out(`replayed: ${replayed}`);
          if (skipped) {
            // Not all it was asked (an id not in the DLQ, an entry it cannot replay): a script must not take it for done.
            out(`skipped: ${skipped}`);
            process.exitCode = 1;
          }
        }),
      ),
    );

  dlq
    .command('purge')
    .description('delete dead letters for good; prints the count')
    .option('--id <id...>', 'these DLQ entry ids (<shard>/<id> when the pipeline is sharded, as `dlq list` prints them)')
    .option('--all', 'every dead letter present now')
    .option('--reason <reason>', `with --all: only this reason (${DEAD_LETTER_REASONS.join(', ')})`, oneOf(DEAD_LETTER_REASONS))
    .action(
      run((o: DlqSelectOptions) =>
        withRedis(global(), async (redis, config) => {
          let purged = 0;
          let missing = 0;
          for (const part of perShard(config, selection(o))) {
            const gone = await purgeDeadLetters(redis, part.keys, part.sel).catch(async (err: unknown) => {
              throw await adminOnlyRefusal(err, 'pipeline dlq purge', 'deletes dead letters', config.redis.url);
            });
            purged += gone.length;
            missing += nameMissing(part.keys, part.sel.ids, gone, 'not purged: not in the DLQ');
          }
          out(`purged: ${purged}`);
          if (missing) {
            out(`not found: ${missing}`);
            process.exitCode = 1;
          }
        }),
      ),
    );

  return dlq;
}
