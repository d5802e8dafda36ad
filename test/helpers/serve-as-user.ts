/**
 * `pipeline serve` as the API user `pipeline acl --apply` makes (`<pipeline>-api`): the user applied,
 * the server started as `pipeline serve` starts it (env `PIPELINE_API_REDIS_URL`, `API_TOKENS`), and
 * what Redis refused the user (ACL LOG). Shared by the ACL tests of the API server.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import * as assert from 'uvu/assert';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Logger } from '../../lib/observe/logger.js';
import { API_REDIS_URL_ENV } from '../../lib/ops/acl-api.js';
import { startServer } from '../../scripts/commands/serve.js';
import { cli, exited } from './pipeline.js';
import { waitFor } from './redis.js';
import { sleep } from '../../lib/core/backoff.js';

/** `pipeline acl --apply --write-env` for `configFile`'s pipeline on `redisUrl`: the API user's URL (as the env file hands it over) and name. */
export async function applyApiUser(configFile: string, redisUrl: string, pipeline: string): Promise<{ apiUrl: string; user: string }> {
  const envFile = join(tmpdir(), `${pipeline}-users.env`);
  try {
    const apply = cli(['--config', configFile, 'acl', '--apply', '--write-env', envFile], redisUrl);
    assert.is(await exited(apply), 0, apply.output());
    const line = readFileSync(envFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${API_REDIS_URL_ENV}=`));
    assert.ok(line, `the env file hands the API user's URL over in ${API_REDIS_URL_ENV}`);
    const apiUrl = line.slice(API_REDIS_URL_ENV.length + 1);
    const user = `${pipeline}-api`;
    assert.is(decodeURIComponent(new URL(apiUrl).username), user);
    return { apiUrl, user };
  } finally {
    rmSync(envFile, { force: true });
  }
}

export interface ServedApi {
  app: FastifyInstance;
  base: string;
  /** A request with the admin token: GET without a body, else POST (or `method`); asserts a 2xx; JSON parsed, other text as is. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read the routes' JSON as they choose
  call(path: string, body?: unknown, method?: string): Promise<any>;
  /** Close the server and put the environment back. */
  close(): Promise<void>;
}

/** The server as `pipeline serve` starts it, connecting as `apiUrl`'s user, with one admin `token` (user alice), once ready. */
export async function serveAsApiUser(config: ResolvedConfig, apiUrl: string, token: string, logger: Logger): Promise<ServedApi> {
  const saved: [string, string | undefined][] = [
    [API_REDIS_URL_ENV, process.env[API_REDIS_URL_ENV]],
    ['API_TOKENS', process.env.API_TOKENS],
  ];
  const restore = () => {
    for (const [name, value] of saved)
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  };
  process.env[API_REDIS_URL_ENV] = apiUrl;
  process.env.API_TOKENS = `read+submit+admin@alice:${token}`;
  let app: FastifyInstance;
  try {
    app = await startServer(config, { host: '127.0.0.1', port: 0, logger });
  } catch (err) {
    restore();
    throw err;
  }
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const call = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return /^[[{]/.test(text) ? JSON.parse(text) : text;
  };
  const close = async () => {
    try {
      await app.close();
    } finally {
      restore();
    }
  };
  try {
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { app, base, call, close };
}

/** Redis' ACL LOG entries of `user` (each refused command or key), as `reason object (context)`. */
export async function aclRefusals(admin: Redis, user: string): Promise<string[]> {
  const log = (await admin.call('ACL', 'LOG', '128')) as unknown[][];
  return log
    .map((e) => {
      const m = new Map<string, unknown>();
      for (let i = 0; i < e.length; i += 2) m.set(String(e[i]), e[i + 1]);
      return m;
    })
    .filter((m) => m.get('username') === user)
    .map((m) => `${String(m.get('reason'))} ${String(m.get('object'))} (${String(m.get('context'))})`);
}

/**
 * The console's Purge through `served`: `stage` paused (its workers stop reading within its
 * pausePollMs, a read in flight returns within blockMs), `n` entries added to `stream` as the admin,
 * a dry run, the purge sent its `until`, the stage resumed. The purge's answer, and the dry run's.
 */
export async function purgeThroughApi(
  served: ServedApi,
  admin: Redis,
  stage: ResolvedConfig['stages'][number],
  stream: string,
  n: number,
  shard?: number,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the route's JSON, read as the tests choose
): Promise<{ dry: any; purged: any }> {
  await served.call(`/v1/stages/${stage.name}/pause`, { reason: 'purge test' });
  await sleep(stage.pausePollMs + stage.blockMs + 500);
  for (let i = 0; i < n; i++) await admin.xadd(stream, '*', 'k', `purge-${i}`, 'e', 'x');
  const scope = shard === undefined ? {} : { shard };
  const dry = await served.call(`/v1/stages/${stage.name}/purge`, { dryRun: true, ...scope });
  const purged = await served.call(`/v1/stages/${stage.name}/purge`, { until: dry.until, ...scope });
  await served.call(`/v1/stages/${stage.name}/resume`, {});
  return { dry, purged };
}
