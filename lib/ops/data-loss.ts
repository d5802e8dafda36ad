import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import { configShards } from '../redis/shard.js';
import { API_WITNESS, parseDataLoss, type DataLossRecord } from '../stream/data-loss.js';

/**
 * The data losses workers (and the API server: lib/api/server-data-loss-watch.ts) recorded (`{p}:data-lost`, one per shard: lib/stream/data-loss.ts), as
 * `pipeline status` and `pipeline health` show them until an operator acknowledges them
 * (`pipeline health --ack-data-loss`, which marks the records acknowledged).
 */

type PipelineRef = { pipeline: string; shards?: number };

/** Every shard's unacknowledged record, in shard order ([] when Redis lost nothing the workers saw). */
export async function readDataLoss(redis: Redis, config: PipelineRef): Promise<DataLossRecord[]> {
  const all = configShards(config).all;
  const found = await Promise.all(all.map(async (k) => parseDataLoss(k.tag, await redis.hgetall(k.dataLost))));
  return found.filter((r): r is DataLossRecord => r !== undefined);
}

/**
 * What a probe adds to its answer (`/readyz`, `pipeline health --stage`): the records and their sentence
 * (`dataLost`, `degraded`) while any is unacknowledged; `dataLossUnread` (why) when they could not be
 * read, so a failed read is not taken for "nothing lost"; nothing otherwise. A probe still passes on them.
 */
export async function dataLossFields(redis: Redis, config: PipelineRef): Promise<{ dataLost?: DataLossRecord[]; degraded?: string; dataLossUnread?: string }> {
  try {
    const lost = await readDataLoss(redis, config);
    return lost.length ? { dataLost: lost, degraded: dataLossSentence(lost) } : {};
  } catch (err) {
    return { dataLossUnread: errorMessage(err) };
  }
}

/**
 * Acknowledge: mark every shard's record acknowledged (`acked`, the time), no longer listed; returns
 * the records that were there. Kept, not deleted: a worker that sees the same loss only after this
 * (it reads the marker every `dataLossCheckMs`) reports the marker seen before it, as the record
 * holds, and the alarm stays off; a loss after it is recorded anew (lib/stream/data-loss.ts).
 */
export async function ackDataLoss(redis: Redis, config: PipelineRef, now = Date.now()): Promise<DataLossRecord[]> {
  const records = await readDataLoss(redis, config);
  const byTag = new Map(configShards(config).all.map((k) => [k.tag, k]));
  for (const r of records) await redis.hset(byTag.get(r.tag)!.dataLost, 'acked', String(now));
  return records;
}

const SIGNS: Record<DataLossRecord['what'], string> = {
  group_vanished: 'its consumer group vanished',
  marker_gone: 'the data-loss marker was gone',
  marker_changed: 'the data-loss marker had changed',
  unrecorded: 'Redis lost data (the details of the report were not written)',
};

/**
 * One sentence for people: when, who saw what, and what to do. Undefined when there is nothing to say.
 * `Redis lost data at 2026-12-06T03:10:00.000Z: a classify worker (host-1-0) saw that its consumer group vanished on {p}:classify (3 reports) ...`
 */
export function dataLossSentence(records: readonly DataLossRecord[]): string | undefined {
  if (records.length === 0) return undefined;
  const each = records.map(
    (r) =>
      `at ${new Date(r.at).toISOString()} ${witnessName(r)} saw that ${SIGNS[r.what] ?? r.what} (${r.stream || 'stream not recorded'}; ${r.reports} report${r.reports === 1 ? '' : 's'})`,
  );
  return (
    `REDIS LOST DATA: ${each.join('; ')}. What was produced, in flight or stored before then may be gone (a restart without the AOF, or a failover that lost writes); ` +
    'the workers went on. Re-produce what was lost, run Redis with appendonly yes, then acknowledge: pipeline health --ack-data-loss'
  );
}

/** Who reported: `the API server (h-1)`, `a classify worker (host-1-0)`, or `a worker` when the record lacks them. */
const witnessName = (r: DataLossRecord): string =>
  `${r.stage === API_WITNESS ? 'the API server' : `a ${r.stage ? `${r.stage} ` : ''}worker`}${r.consumer ? ` (${r.consumer})` : ''}`;
