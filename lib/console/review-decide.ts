import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { BadRecordError, ReviewConflictError, RouteError } from '../core/errors.js';
import { storeSink } from '../ops/inspect.js';
import { compareStreamIds, formatStreamId, parseStreamId, type StreamId } from '../stream/stream-id.js';
import { duringDrops } from '../redis/connection-drops.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { serverTimeMs } from '../redis/server-time.js';
import { configShards } from '../redis/shard.js';
import { parseGroups } from '../stream/category-groups.js';
import { decodeEnvelope, encodeEnvelope, entryFields, type Envelope } from '../stream/codec.js';
import { toEntries } from '../stream/entries.js';
import { asReviewed, REVIEW_FIELDS, REVIEW_STAGE } from '../stream/review-decision.js';
import { compileRules } from '../stream/router.js';
import { labelFields, REVIEW_GROUP, reviewView, type Decision, type DecisionResult, type Label } from './review.js';
import { storedLookup, type StoredLookup } from './stored.js';

const decide = new Script('review-decide-N');

/** How many times a decision computes its version again when another decision of the product came in between. */
const VERSION_TRIES = 5;

export interface DecideOptions {
  /** The review stream's name. @defaultValue 'review' */
  stream?: string;
  /** Reads the product as stored (the console's lookup, any sink). @defaultValue the Redis hash when the store's sink is redis, else none (no check for a newer record) */
  stored?: StoredLookup;
}

/**
 * Apply a reviewer's decision to review entry `id`: the corrected product re-enters the pipeline
 * where the routing table of the stage that sent it to review (`from`) sends a product of the
 * corrected category with confidence 1 (terminal streams such as review itself left out), with a
 * `review` hop and output (category, fields, reviewedBy) in its envelope; the decision is kept as a
 * label in `{p}:labels` and as the product's latest decision `{p}:reviewed:<key>` (all in `keys`: with
 * shards, the item's shard's, which is the product's: `{p:N}:labels`, read by readLabels). Ack, forward,
 * label and that record are one script (review-decide-N.lua), which also closes (acks) the
 * product's other listed items of records the decision covers (`closed`): they leave the list.
 *
 * Its version (origin) comes just after the newest the product has: the item's, the stored one's
 * and an in-flight reprocess's (two sequence numbers on, so a reprocess built from the stored
 * version while the decision is in flight is older too); a record of the product produced since,
 * not stored yet, is newer and wins over the decision in the store.
 *
 * Throws BadRecordError (unknown entry, empty category), RouteError (the table sends that
 * category nowhere but to terminal streams) and ReviewConflictError, the item closed (acked)
 * without a decision: `stale` when a newer record of the product (another input) is stored,
 * `superseded` when the product was decided since the record the item shows (`closedBefore`: it had
 * been closed already, with that decision or as a page listed it). Returns undefined
 * when another decision won the item.
 */
export async function decideReview(
  redis: Redis,
  config: ResolvedConfig,
  keys: Keys,
  id: string,
  d: Decision,
  o: DecideOptions = {},
): Promise<DecisionResult | undefined> {
  const category = d.category?.trim();
  if (!category) throw new BadRecordError('category: required (the confirmed or corrected category)');
  for (const f of Object.keys(d.fields ?? {}))
    if (!(REVIEW_FIELDS as readonly string[]).includes(f)) throw new BadRecordError(`fields.${f}: not a reviewable field (known: ${REVIEW_FIELDS.join(', ')})`);
  const key = keys.stream(o.stream ?? 'review');
  const [entry] = toEntries((await redis.xrangeBuffer(key, id, id)) as unknown as [Buffer, Buffer[] | null][]);
  if (!entry) throw new BadRecordError(`review entry ${id}: not in ${key}`);
  const { payload } = entryFields(entry.fields);
  if (!payload) throw new BadRecordError(`review entry ${id}: no envelope`);
  const env = decodeEnvelope(payload);
  const item = reviewView(id, env, 0);
  // A corrected category goes back through the table of the stage that set the category (its
  // extractor then runs for the new category): one sent to review further on (validate, for a
  // missing attribute) had been stored with the old category's extractor's fields.
  const changed = category !== item.category;
  const via = changed && item.categoryFrom && config.routes[item.categoryFrom] ? item.categoryFrom : item.from;
  const rules = config.routes[via];
  if (!rules) throw new RouteError(`review entry ${id}: stage ${JSON.stringify(via)} that sent it has no routing table in this config`);
  const inputs = new Set(config.stages.map((s) => s.input));
  const router = compileRules(via, rules, new Set([...inputs, ...config.streams.terminal]));
  const fields: Record<string, string> = { ...item.fields };
  for (const [f, v] of Object.entries(d.fields ?? {})) {
    if (v === undefined) continue;
    if (v.trim() === '') delete fields[f];
    else fields[f] = v.trim();
  }
  const prior = (env.outputs[via] ?? {}) as Record<string, unknown>;
  // A corrected product is routed by the group of its corrected category (it had gone to the old
  // group's extractor); the stages after it route it the same way (lib/stream/forwarder.ts).
  const groups = parseGroups(`stages.${via}.settings.groups`, config.stages.find((s) => s.name === via)?.settings.groups);
  const corrected = asReviewed(prior, { category, fields, reviewedBy: d.reviewer }, item.category, groups);
  const targets = router.route(corrected).targets.filter((t) => inputs.has(t) && !config.streams.terminal.includes(t));
  if (targets.length === 0)
    throw new RouteError(
      `routes.${via}: a product of category ${JSON.stringify(category)} goes to no stage (only to ${router.route(corrected).targets.join(', ')})`,
    );
  const floor = await versionFloor(redis, config, keys, env, o.stored ?? defaultLookup(redis, config));
  if (floor.newerRecord) {
    // Closed: deciding it would store the older input over the newer record. Whether it was open is
    // read first: when the connection drops during the ack, ioredis sends it again by itself, and
    // the re-send acks nothing where the first call closed the item.
    const open = ((await redis.xpending(key, REVIEW_GROUP, id, id, 1)) as unknown[]).length > 0;
    const {
      value: [acked],
      dropped,
    } = await duringDrops(redis, () =>
      Promise.all([redis.xack(key, REVIEW_GROUP, id), redis.hdel(keys.reviewOpen(env.key), id), redis.hdel(keys.reviewListed, id)]),
    );
    if (acked === 0 && !(dropped && open)) return undefined;
    const version = formatStreamId(floor.newerRecord);
    throw new ReviewConflictError(
      'stale',
      env.key,
      version,
      `review entry ${id}: a newer record of ${env.key} is stored (version ${version}, after this item's ${env.origin}): the item is closed, not applied; decide the newer record's item, if it has one`,
    );
  }
  const now = await serverTimeMs(redis);
  const decision = category === item.category && Object.keys(d.fields ?? {}).every((f) => (fields[f] ?? '') === (item.fields[f] ?? '')) ? 'confirm' : 'correct';
  const label: Label = {
    id: env.key,
    title: env.input.title,
    category,
    ...labelFields(fields, d.fields),
    source_category: item.category ?? '',
    source: 'console-review',
    decision,
    predicted: { category: item.category, confidence: item.confidence },
    reviewedBy: d.reviewer,
    reviewedAt: now,
  };
  let after = floor.newest;
  // Names this decision in the product's latest decision: the client's re-send of a call whose reply
  // was lost with the connection is answered as applied (it had found the item acked: "decided already").
  const token = randomUUID();
  for (let attempt = 1; ; attempt++) {
    const origin = after ? formatStreamId({ ms: after.ms, seq: after.seq + 2n }) : `${now}-0`;
    const next: Envelope = {
      ...env,
      origin,
      rebuilt: 'review',
      outputs: {
        ...env.outputs,
        [REVIEW_STAGE]: {
          category,
          ...fields,
          confidence: 1,
          reviewedBy: d.reviewer,
          decision,
          predicted: { category: item.category, confidence: item.confidence },
        },
      },
      hops: [...env.hops, { stage: REVIEW_STAGE, consumer: d.reviewer, readAt: Number(id.split('-')[0]), doneAt: now, batch: 1 }],
    };
    const r = await decide.run<number | (string | number | string[])[]>(
      redis,
      [key, keys.extra('labels'), keys.reviewed(env.key), keys.reviewOpen(env.key), keys.reviewListed, ...targets.map((t) => keys.stream(t))],
      [REVIEW_GROUP, id, env.key, encodeEnvelope(next), JSON.stringify(label), env.origin ?? '', origin, d.reviewer, String(now), token],
    );
    if (!Array.isArray(r)) return undefined;
    const [code, ...rest] = r;
    if (code === 1) {
      const [sent, closed] = rest as [string[], string[]];
      return {
        label,
        sentTo: targets.map((t, i) => ({ stream: t, id: String(sent[i]) })),
        closed: closed.map((c) => ({ id: String(c), key: env.key, version: origin })),
      };
    }
    if (code === 2 || code === 4) {
      const [version, entry, by, at] = rest.map(String) as [string, string, string, string];
      // Closed by a decision made through this very item: decided already (a conflict), not superseded.
      if (code === 4 && entry === id) return undefined;
      throw new ReviewConflictError(
        'superseded',
        env.key,
        version,
        `review entry ${id}: ${env.key} was decided since the record this item shows (by ${by}, review entry ${entry}, version ${version}): the item is closed, not applied`,
        { by, entry, at: Number(at) },
        code === 4,
      );
    }
    // Another decision of the product came in between with a version not older than ours: after it.
    if (attempt >= VERSION_TRIES) throw new Error(`review entry ${id}: ${env.key} is being decided by others at the same time; try again`);
    after = parseStreamId(String(rest[0])) ?? after;
  }
}

/**
 * Who decided review entry `id`, when a decision of it is the product's latest (`{p}:reviewed:<key>`
 * names that entry): said to a reviewer whose decision of the same item came second, rather than
 * only "decided already". Undefined when the entry is gone or another decision of the product came since.
 */
export async function decisionOf(redis: Redis, keys: Keys, id: string, stream = 'review'): Promise<{ by: string; entry: string; at: number } | undefined> {
  const [entry] = await redis.xrange(keys.stream(stream), id, id);
  const fields = entry?.[1] ?? [];
  const k = fields[fields.indexOf('k') + 1];
  if (!fields.includes('k') || !k) return undefined;
  const [entryId, by, at] = await redis.hmget(keys.reviewed(k), 'entry', 'by', 'at');
  return entryId === id && by ? { by, entry: id, at: Number(at) } : undefined;
}

/** The Redis hash of each product, when the store's sink is redis; no lookup for another sink. */
function defaultLookup(redis: Redis, config: ResolvedConfig): StoredLookup | undefined {
  if (storeSink(config) !== 'redis') return undefined;
  const shards = configShards(config);
  return storedLookup(
    'redis',
    (pid) => redis.hgetall(shards.keysFor(pid).product(pid)),
    async () => null,
  );
}

/**
 * The newest version the product has beside the item's: the item's origin, the stored version,
 * an in-flight reprocess's, the latest decision's; and `newerRecord`, the stored version when it
 * is newer than the item's and holds another input (the product was produced again since).
 */
async function versionFloor(
  redis: Redis,
  config: ResolvedConfig,
  keys: Keys,
  env: Envelope,
  lookup: StoredLookup | undefined,
): Promise<{ newest?: StreamId; newerRecord?: StreamId }> {
  const stored = lookup ? await lookup(env.key) : null;
  const storedVersion = parseStreamId(stored?.fields.version ?? '');
  const mine = parseStreamId(env.origin ?? '');
  if (storedVersion && mine && compareStreamIds(storedVersion, mine) > 0 && typeof stored?.doc?.input === 'object' && !sameRecord(stored.doc.input, env.input))
    return { newerRecord: storedVersion };
  const [reprocessing, decided] = await Promise.all([
    redis.hget(configShards(config).keysFor(env.key).reprocess(env.key), 'origin'),
    redis.hget(keys.reviewed(env.key), 'origin'),
  ]);
  const known = [mine, storedVersion, parseStreamId(reprocessing ?? ''), parseStreamId(decided ?? '')].filter((v): v is StreamId => !!v);
  return { newest: known.sort(compareStreamIds).at(-1) };
}

/** The same input record: equal as JSON whatever the key order (Postgres's jsonb reorders keys; NUL is stored as U+FFFD). */
export function sameRecord(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replaceAll('\u0000', '\uFFFD');
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .filter(([, x]) => x !== undefined)
          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
          .map(([k, x]) => [k.replaceAll('\u0000', '\uFFFD'), canon(x)]),
      );
    return v;
  };
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
