import { hostname } from 'node:os';
import { stagesNamed } from '../../lib/config/processes.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { ackDataLoss, dataLossFields, dataLossSentence, readDataLoss } from '../../lib/ops/data-loss.js';
import { ConfigError } from '../../lib/core/errors.js';
import { fromEnv } from '../../lib/core/env-origin.js';
import { parseShardList } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface HealthOptions extends GlobalOptions {
  /** A stage, a comma list of stages, or a process name (a worker running several stages: every one must progress). Not with `dataLoss` / `ackDataLoss`. */
  stage?: string;
  /** The pipeline's check instead of a consumer's: exit 1 while a data loss workers recorded is unacknowledged. */
  dataLoss?: boolean;
  /** Acknowledge the recorded data losses (as the admin of REDIS_URL): print them, delete the records. */
  ackDataLoss?: boolean;
  pid?: string;
  host?: string;
  /** Exit 0 when Redis cannot be reached or refuses writes (MISCONF) (a liveness probe: restarting the worker would not help). */
  unknownOk?: boolean;
  /** Sharded pipelines: the worker's shards (default: env WORKER_SHARDS, as the worker reads it; else all). */
  shards?: string;
}

/**
 * `pipeline health --stage X`: exit 0 when this host's consumer of the stage is making progress
 * (its watchdog's liveness key `{p}:liveness:<stage>:<consumer>` is alive), else exit 1 with the reason,
 * as one JSON line. `--stage a,b` (or a process name): every stage of a process that runs several.
 * A stage waiting out a dependency outage (Postgres down) passes, its line's `note` saying what for.
 * Redis refusing writes (MISCONF: it cannot persist) is said first (`redisRefusesWrites`): exit 1, or 0
 * with `--unknown-ok`, as an unreachable Redis (no worker can record progress; restarting them would not help).
 * For exec readiness/liveness probes: one XINFO, one GET and one PING per stage, then it disconnects.
 * A data loss workers recorded (lib/ops/data-loss.ts) is on the line as `dataLost` and `degraded`
 * (the sentence), without failing the probe: restarting workers would not bring the data back.
 * `--data-loss` is the pipeline's check (exit 1 while one is unacknowledged), `--ack-data-loss` acknowledges.
 */
export async function healthCommand(opts: HealthOptions): Promise<void> {
  const config = loadConfig(opts);
  if (opts.dataLoss || opts.ackDataLoss) return dataLossCommand(config, opts.ackDataLoss === true);
  if (!opts.stage) throw new ConfigError('--stage', 'required (or --data-loss, --ack-data-loss)');
  const stageArg = opts.stage;
  // As the stage's own user (REDIS_URL_<STAGE>, what its worker runs as): in a pod with a Redis
  // user per stage, REDIS_URL is the first stage's, which may not read the others' keys.
  const urlOf = (stage: string) => config.stages.find((s) => s.name === stage)?.redisUrl ?? config.redis.url;
  const clients = new Map<string, ReturnType<typeof cliRedis>>();
  const redisFor = (stage: string) => {
    const url = urlOf(stage);
    if (!clients.has(url)) clients.set(url, cliRedis(url));
    return clients.get(url)!;
  };
  try {
    // An unknown name is reported by consumerHealth as for one stage.
    const known = stageArg.split(',').every((s) => config.stages.some((x) => x.name === s.trim()) || config.processes.some((p) => p.name === s.trim()));
    const stages = known ? stagesNamed(config, stageArg) : [stageArg];
    const shards = parseShardList(opts.shards ?? process.env.WORKER_SHARDS, config.shards, opts.shards !== undefined ? '--shards' : fromEnv('WORKER_SHARDS'));
    const each = await Promise.all(
      stages.map((stage) =>
        consumerHealth(redisFor(stage), config, stage, { host: opts.host ?? hostname(), pid: opts.pid === undefined ? undefined : Number(opts.pid), shards }),
      ),
    );
    const h = each.find((x) => !x.ok) ?? each[0]!;
    const unreachable = each.some((x) => x.unreachable === true);
    // Redis refusing writes (MISCONF) leaves the consumers' progress unknown as well: a restart would not help either.
    const unknown = unreachable || each.some((x) => x.redisRefusesWrites === true);
    const ok = each.every((x) => x.ok) || (unknown && opts.unknownOk === true);
    // A stage waiting out a dependency outage passes (it is progress), with a note saying what for: every stage's.
    const notes = each.flatMap((x) => (x.note ? [stages.length > 1 ? `${x.stage}: ${x.note}` : x.note] : []));
    const note = notes.length ? { note: notes.join('; ') } : {};
    // Redis lost data under the workers: said on the probe's line (the probe still passes), read as the first stage's user.
    const degraded = unreachable ? {} : await dataLossFields(redisFor(stages[0]!), config);
    process.stdout.write(JSON.stringify({ ...h, ...(stages.length > 1 ? { stages } : {}), ...note, ...degraded, ok }) + '\n');
    if (!ok) process.exitCode = 1;
  } finally {
    for (const c of clients.values()) c.disconnect();
  }
}

/** `--data-loss`: one JSON line, `ok` false (exit 1) with the records and the sentence while any is unacknowledged; `--ack-data-loss`: mark them acknowledged (kept: lib/ops/data-loss.ts), say which. */
async function dataLossCommand(config: ReturnType<typeof loadConfig>, ack: boolean): Promise<void> {
  const redis = cliRedis(config.redis.url);
  try {
    if (ack) {
      const acked = await ackDataLoss(redis, config);
      process.stdout.write(JSON.stringify({ ok: true, acknowledged: acked }) + '\n');
      return;
    }
    const lost = await readDataLoss(redis, config);
    process.stdout.write(JSON.stringify(lost.length ? { ok: false, dataLost: lost, reason: dataLossSentence(lost) } : { ok: true, dataLost: [] }) + '\n');
    if (lost.length) process.exitCode = 1;
  } finally {
    redis.disconnect();
  }
}
