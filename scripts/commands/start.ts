import { createReadStream, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { sleep } from '../../lib/backoff.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus, type PipelineStatus } from '../../lib/inspect.js';
import { createLogger } from '../../lib/logger.js';
import { produce } from '../../lib/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { RedisServer } from '../../lib/redis/server.js';
import { cliRedis, loadConfig, REPO, type GlobalOptions } from '../common.js';
import { createSupervisor } from './up.js';

export interface StartOptions extends GlobalOptions {
  input: string;
  timeout: string;
  poll: string;
}

/** Count stored products by the route they took (stage names joined with →). */
async function routeCounts(redis: Redis, keys: Keys): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, members] = await redis.sscan(keys.products, cursor, 'COUNT', 500);
    cursor = next;
    const docs = await Promise.all(members.map((k) => redis.hget(keys.product(k), 'doc')));
    for (const d of docs) {
      if (!d) continue;
      const route = (JSON.parse(d) as { route: string[] }).route.join('→');
      counts[route] = (counts[route] ?? 0) + 1;
    }
  } while (cursor !== '0');
  return counts;
}

function printSummary(config: ResolvedConfig, s: PipelineStatus, produced: number, rejected: number, routes: Record<string, number>, seconds: number): void {
  const out: string[] = ['', `pipeline ${config.pipeline}: done in ${seconds.toFixed(1)} s`];
  out.push(`  produced   ${produced}`, `  rejected   ${rejected}`);
  out.push('  per stage (entries read by the group):');
  for (const st of s.streams) if (st.stage) out.push(`    ${st.stage.padEnd(22)} ${st.group?.entriesRead ?? 0}`);
  for (const st of s.streams) if (!st.stage) out.push(`  ${st.stream.padEnd(10)} ${st.length}`);
  out.push('  per route (stored products):');
  for (const [r, n] of Object.entries(routes).sort((a, b) => b[1] - a[1])) out.push(`    ${r.padEnd(40)} ${n}`);
  out.push(`  dlq        ${s.dlq}`, `  stored     ${s.stored}`, `  throughput ${(produced / seconds).toFixed(0)} records/s`);
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * `npm start`: start a local redis-server when REDIS_URL is unset, run every stage, produce the
 * sample, wait until the pipeline is idle, print a summary, shut everything down.
 */
export async function startCommand(opts: StartOptions): Promise<void> {
  const logger = createLogger({ component: 'start' });
  let server: RedisServer | undefined;
  if (!process.env.REDIS_URL) {
    server = await new RedisServer().start();
    process.env.REDIS_URL = server.url;
    logger.info('start.redis_started', { url: server.url });
  }
  const config = loadConfig(opts);
  const keys = new Keys(config.pipeline);
  const redis = cliRedis(config.redis.url);
  const logDir = mkdtempSync(join(tmpdir(), 'pipeline-start-'));
  const logFile = join(logDir, 'workers.log');
  const supervisor = createSupervisor({ configPath: opts.config, env: process.env, stdio: openSync(logFile, 'a') }, logger);
  const t0 = Date.now();
  try {
    const before = await pipelineStatus(redis, config);
    for (const s of config.stages) supervisor.scale(s.name, Math.max(1, s.minWorkers));
    const input = resolve(REPO, opts.input);
    const summary = await produce(redis, createReadStream(input), {
      stream: keys.stream(config.input),
      source: input,
      maxRecordBytes: config.limits.maxRecordBytes,
      rejectsFile: join(logDir, 'rejects.jsonl'),
      onReject: (r) => process.stderr.write(`${r.source}:${r.line}: rejected (${r.reason}): ${r.error}\n`),
    });
    logger.info('start.produced', { ...summary, workerLog: logFile });
    const deadline = Date.now() + Number(opts.timeout);
    let status = await pipelineStatus(redis, config);
    // Idle with every stage's group created means every record has left every stage.
    while (!(isIdle(status) && status.streams.every((s) => !s.stage || s.group))) {
      if (Date.now() > deadline) throw new Error(`pipeline not idle after ${opts.timeout} ms; worker logs: ${logFile}`);
      await sleep(Number(opts.poll));
      status = await pipelineStatus(redis, config);
    }
    const seconds = (Date.now() - t0) / 1000;
    printSummary(config, status, summary.produced, summary.rejected, await routeCounts(redis, keys), seconds);
    if (before.stored > 0) process.stdout.write(`  (${before.stored} products were already stored before this run)\n`);
    process.stdout.write(`  worker logs: ${logFile}\n`);
  } finally {
    await supervisor.stop();
    redis.disconnect();
    await server?.close();
  }
}
