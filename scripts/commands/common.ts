import { accessSync, closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { postgresOrigin } from '../../stages/sinks/postgres-origin.js';
import type { Redis } from 'ioredis';
import { loadConfigFile } from '../../lib/config/load.js';
import { checkEvictionPolicy } from '../../lib/redis/policy.js';
import { PACKAGE_ROOT } from '../../lib/core/root.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { diagnoseRedisError, diagnoseWithProbe, plainRedisAt, type FailingNode, type RedisFailure } from '../../lib/redis/diagnose.js';
import { asCluster, createClient, describeRedisUrl, parseRedisUrl } from '../../lib/redis/url.js';
import { clusterNodeError } from '../../lib/redis/cluster-node.js';
import { currentFailingNode } from '../../lib/redis/failing-node.js';
import { KIND_CHECKS } from '../../stages/kinds.js';
import { isPermissionRefusal } from '../../lib/core/failure-policy.js';
import { explainRefusal, urlUser } from '../../lib/redis/noperm.js';
import { FileError } from '../../lib/core/errors.js';
import { checkLogLevel } from '../../lib/observe/logger.js';
import { fromEnv } from '../../lib/core/env-origin.js';
import { cliCommandTimeoutMs } from '../../lib/redis/command-timeout.js';

/**
 * The bin every child process runs (`pipeline worker <stage>`): the entry this process came from.
 * From the sources (tsx) that is the development entry `scripts/pipeline.mjs`; compiled, it is
 * `dist/scripts/cli.js`, never the other, so a parent and its children run the same code.
 */
export const BIN = import.meta.url.endsWith('.ts') ? resolve(PACKAGE_ROOT, 'scripts/pipeline.mjs') : resolve(import.meta.dirname, '../cli.js');
export const REPO = PACKAGE_ROOT;

export interface GlobalOptions {
  config?: string;
}

export function loadConfig(opts: GlobalOptions): ResolvedConfig {
  return loadConfigFile(opts.config ?? process.env.PIPELINE_CONFIG ?? undefined, {
    ...KIND_CHECKS,
    checkRedisUrl: (url, where) => void parseRedisUrl(url, where),
  });
}

/**
 * A process's own Redis URL, env `name` (the API server's, the webhooks reader's: `pipeline acl`
 * users), else `fallback` (the config's `redis.url`). A bad one is named as the variable, not as
 * `redis.url`.
 */
export function ownRedisUrl(name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const own = env[name];
  if (own) parseRedisUrl(own, fromEnv(name));
  return own || fallback;
}

/** Before any command runs (program.ts), nested ones too: a LOG_LEVEL that is no level is refused by all alike. */
export function refuseBadLogLevel(): void {
  try {
    checkLogLevel();
  } catch (err) {
    fatal(err);
  }
}

/** The last connection error a CLI client emitted, and where it points: what `fatal` explains a failed command by. */
let lastConnectionError: unknown;
let target: string | undefined;
let probeAt: { host: string; port: number; tls: boolean } | undefined;
/** The CLI's client: a redirect (MOVED) it got is a `redis://` URL at a Cluster node when it is a single-node one. */
let cliClient: Redis | undefined;
/**
 * A partial outage of a Cluster: the node whose connection failed last (ioredis' `node error`
 * names its host:port) while the client still had the cluster (status ready: other nodes answered
 * its slot map), noted when it failed (a command's client is closed by the time it is explained).
 * The line then names that node, not the seeds, which answer (they had sent the operator to check
 * `REDIS_URL`). An error of the whole client (no node answers) forgets it.
 */
let failedNode: FailingNode | undefined;

function noteNodeError(client: Redis, key: unknown): void {
  const cluster = asCluster(client);
  if (!cluster || typeof key !== 'string' || cluster.status !== 'ready') return;
  failedNode = { address: key, master: cluster.nodes('master').some((n) => `${n.options.host}:${n.options.port}` === key) };
}

const failingNode = () => failedNode;

/** Where to probe: the failing node when there is one, else the URL's first address. */
function probeTarget(node: FailingNode | undefined): { host: string; port: number; tls: boolean } | undefined {
  const m = node && /^(.*):(\d+)$/.exec(node.address);
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), tls: probeAt?.tls ?? false } : probeAt;
}

/** host and port a raw probe can try: the URL's, a cluster URL's first seed or a sentinel URL's first sentinel; and whether the URL asks for TLS. */
function firstAddress(url: string): { host: string; port: number; tls: boolean } | undefined {
  try {
    const t = parseRedisUrl(url);
    if (t.kind === 'cluster') return t.seeds[0] && { ...t.seeds[0], tls: t.tls };
    if (t.kind === 'sentinel') return t.sentinels[0] && { ...t.sentinels[0], tls: t.tls };
    const u = new URL(url);
    return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port || 6379), tls: u.protocol === 'rediss:' };
  } catch {
    return undefined;
  }
}

export interface CliRedisOptions {
  /** Keep reconnecting (with backoff up to 1 s) instead of giving up after 3 tries: for commands that retry for a window (`produce --retry-for`). */
  reconnectForever?: boolean;
}

/**
 * A plain command connection for CLI tools (status, dlq, ...): fails fast instead of queueing, and a
 * command unanswered within REDIS_COMMAND_TIMEOUT_MS fails (lib/redis/command-timeout.ts). A
 * cluster URL gives a Cluster client (lib/redis/url.ts). Connection errors are recorded (for
 * `fatal`'s one line) rather than printed by ioredis as unhandled error events; refused
 * credentials end the command at once (ioredis would go on as the default user).
 */
export function cliRedis(url: string, opts: CliRedisOptions = {}): Redis {
  target = describeRedisUrl(url);
  probeAt = firstAddress(url);
  const commandTimeout = cliCommandTimeoutMs();
  const client = createClient(url, {
    connectionName: 'pipeline:cli',
    ...(commandTimeout ? { commandTimeout } : {}),
    maxRetriesPerRequest: 2,
    retryStrategy: opts.reconnectForever ? (n) => Math.min(100 * n, 1000) : (n) => (n > 3 ? null : 200 * n),
  });
  const onError = (err: unknown) => {
    lastConnectionError = err;
    if (diagnoseRedisError(err)?.cause === 'auth') fatal(err);
  };
  client.on('error', (err: unknown) => {
    failedNode = undefined;
    onError(err);
  });
  // A Cluster client's per-node errors, with the node's host:port: a partial outage names that node.
  client.on('node error', (err: unknown, key?: unknown) => {
    noteNodeError(client, key);
    onError(err);
  });
  refuseTlsMismatch([url]);
  cliClient = client;
  return client;
}

const tlsProbed = new Set<string>();

/**
 * `rediss://` at a plain Redis: exit now (code 14, one line), not after the TLS handshakes'
 * connect timeouts (~40 s for a command; a worker or the API would retry for ever). Probes each
 * TLS URL's address in plain RESP in the background; a TLS server does not answer, so nothing waits.
 */
export function refuseTlsMismatch(urls: Iterable<string>): void {
  for (const url of urls) {
    if (tlsProbed.has(url)) continue; // once per URL and process (up probes, then PINGs through cliRedis)
    tlsProbed.add(url);
    const at = firstAddress(url);
    if (!at?.tls) continue;
    void plainRedisAt(at.host, at.port).then((d) => {
      if (d) exitWith(new Error(d.line), d);
    });
  }
}

/** Records a connection error of a client the CLI did not make (a worker's): what `fatal` explains a failed command by. */
export function noteConnectionError(err: unknown): void {
  lastConnectionError = err;
}

/**
 * The one-line explanation of a Redis failure (undefined for other errors); probes the server when
 * ioredis saw only a closed connection. In a partial outage of a Cluster it names the node the
 * command fails at now (`currentFailingNode`: its own error's node, else the master of `key`'s
 * slot, the slot map refreshed first), not only the node whose connection failed last.
 */
export async function explainRedisFailure(err: unknown, key?: string): Promise<RedisFailure | undefined> {
  const node = cliClient ? await currentFailingNode(cliClient, failingNode(), err, { key }) : failingNode();
  return diagnoseWithProbe(err, lastConnectionError, probeTarget(node), target, node);
}

/**
 * Print an error for a human and exit non-zero: a Redis that cannot be reached or refuses gets one
 * line naming the cause and the setting to look at, and its own exit code (docs/cli.md); anything
 * else `error: <message>` and 1. Never a stack trace.
 */
export async function fatalAsync(err: unknown): Promise<never> {
  err = (cliClient && clusterNodeError(cliClient, err)) ?? err;
  const d = postgresOrigin(err) ? undefined : await explainRedisFailure(err).catch(() => undefined);
  exitWith(err, d);
}

/**
 * `fatalAsync` without the probe, for where nothing can be awaited (an error event). It names the
 * node noted last (`failedNode`), not the reported error's own: a Redis error reaches it only as a
 * refused credential (an auth line, which names no node) or an unhandled rejection that is not a
 * transient Redis error, and every error naming a Cluster node (a connect error's address, a
 * MOVED/ASK target) is transient, warned by scripts/commands/unhandled.ts instead
 * (test/topologies/cluster-fatal-node.test.ts).
 */
export function fatal(err: unknown): never {
  err = (cliClient && clusterNodeError(cliClient, err)) ?? err;
  exitWith(err, postgresOrigin(err) ? undefined : diagnoseRedisError(err, lastConnectionError, target, failingNode()));
}

const POSTGRES_RESTARTING =
  /database system is (starting up|shutting down|in recovery mode)|terminating connection due to administrator command|Connection terminated unexpectedly/i;

function exitWith(err: unknown, d: RedisFailure | undefined): never {
  const pgAt = postgresOrigin(err);
  if (pgAt) {
    // A Postgres failure: name the database and where its address is set, not Redis's settings.
    const code = (err as { code?: unknown }).code;
    const why = err instanceof Error ? err.message || String((err as { code?: unknown }).code ?? err) : String(err);
    // A server shutting down, starting or in recovery (57P01-3), or that dropped the session: the address was right.
    const restarting = (typeof code === 'string' && /^57P0[123]$/.test(code)) || POSTGRES_RESTARTING.test(why);
    const hint =
      code === '42P01' || code === '42703'
        ? 'the schema is not migrated: run `pipeline store migrate`'
        : code === '42501'
          ? "the database role lacks a privilege: GRANT it as the tables' owner (docs/data-store.md lists what each role needs)"
          : restarting
            ? 'the database is shutting down, restarting or failing over: run it again once it accepts connections'
            : "check --database-url, DATABASE_URL or the store stage's settings.postgresUrl";
    process.stderr.write(`error: PostgreSQL at ${pgAt}: ${why.replace(/\s*\n\s*/g, ' ')} (${hint})\n`);
    process.exit(1);
  }
  process.stderr.write(`error: ${(d ? d.line : err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(d ? d.exitCode : 1);
}

/** At start of a CLI command that writes or watches: warn on stderr unless Redis evicts nothing (`maxmemory-policy noeviction`). Returns the policy. */
export async function warnEvictionPolicy(redis: Redis): Promise<string | undefined> {
  return checkEvictionPolicy(redis, (line) => process.stderr.write(`warning: ${line}\n`));
}

/** `pipeline start`'s default input, a file of the package. */
export const DEFAULT_START_INPUT = join('data', 'sample.jsonl');

/**
 * A file option: not given (undefined), its default names a file of the package (resolved against
 * it); a path the user gave is relative to the current directory, as `--config` and `produce FILE`
 * are, even one spelt like the default (`start --input data/sample.jsonl` elsewhere had read the
 * package's sample: the option's default was told from a given value by its text).
 */
export function fileOption(value: string | undefined, packageDefault: string): string {
  return value === undefined ? resolve(REPO, packageDefault) : resolve(value);
}

/**
 * The folder the user typed the command in: `npm run <script>` runs it in the package's folder, and
 * names the one it was typed in as INIT_CWD. Only under the npm script `script` itself (`eval` for
 * `npm run eval -- --input FILE`: a held-out file beside the user had been looked for in the
 * package, or a file of the same name there read instead); anything else runs where it was started.
 */
export function typedIn(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event === script && env.INIT_CWD ? env.INIT_CWD : process.cwd();
}

/**
 * An input file must be a readable file: said naming it (`name`: how the user gave it, e.g.
 * `--input x.jsonl`), before Redis is contacted or anything is started.
 */
export function checkReadable(file: string, name = file): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new FileError(`${name}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new FileError(`${name}: a directory, not a JSONL file`);
  } finally {
    closeSync(fd);
  }
}

/**
 * An output file (`name`: how the user gave it, e.g. `--out x.jsonl`) must be writable: its folder
 * there, and the file, if it exists, no folder. Said naming it before Redis is read, where the
 * write had failed afterwards with a bare `ENOENT: ... open '<path>'` naming no option. Creates nothing.
 */
export function checkWritable(file: string, name = file): void {
  const code = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const folder = dirname(resolve(file));
  try {
    if (!statSync(folder).isDirectory()) throw new FileError(`${name}: cannot write there (${folder} is not a folder)`);
    accessSync(folder, constants.W_OK);
  } catch (err) {
    if (err instanceof FileError) throw err;
    throw new FileError(`${name}: cannot write there (folder ${folder}: ${code(err)})`, { cause: err });
  }
  let isDirectory: boolean;
  try {
    isDirectory = statSync(file).isDirectory();
  } catch {
    return; // not there yet: the folder takes it
  }
  if (isDirectory) throw new FileError(`${name}: a directory, not a file`);
  try {
    accessSync(file, constants.W_OK);
  } catch (err) {
    throw new FileError(`${name}: cannot write there (${code(err)})`, { cause: err });
  }
}

/**
 * The labelled product data set (train.jsonl, dev.jsonl), outside the repository: env
 * `PRODUCTS_DATA`, else `../shared/data/products` beside the package, as `npm run models` reads it.
 */
export function productsDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PRODUCTS_DATA ? resolve(env.PRODUCTS_DATA) : resolve(REPO, '..', 'shared', 'data', 'products');
}

/** `pipeline eval`'s default inputs, files of the data set (here, so the CLI's option list needs no import of the evaluation code). */
export const DEFAULT_EVAL_INPUT = 'dev.jsonl';
export const DEFAULT_EVAL_TRAIN = 'train.jsonl';
/** Records `pipeline eval` sends at a time (`--chunk`): each chunk is scored and its products deleted before the next (scripts/commands/eval-run.ts). */
export const DEFAULT_EVAL_CHUNK = 10_000;
/** How --help names them. */
export const dataFileHelp = (file: string) => `$PRODUCTS_DATA/${file}, else ../shared/data/products/${file} beside the package`;

/**
 * A refusal (NOPERM) of a command only the admin may run (`dlq replay`, `dlq purge`, `reprocess`:
 * they put work back on any stage's stream or delete dead letters, which no user of `pipeline acl`
 * may), explained as such: run it as the admin. The generic hint said to run `pipeline acl
 * --apply`, which cannot help. Other errors are returned as they are.
 */
export async function adminOnlyRefusal(err: unknown, command: string, does: string, url: string): Promise<unknown> {
  if (!isPermissionRefusal(err)) return err;
  const fix = `\`${command}\` ${does}, which no pipeline user may: run it as the admin (\`REDIS_URL\` with the admin's credentials; no ACL change gives a stage, producer or observer user this)`;
  return (await explainRefusal(err, { user: urlUser(url), fix }).catch(() => undefined)) ?? err;
}

/**
 * A refusal (NOPERM) of a command that only reads what the observer may read (`pipeline reprocess
 * --dry-run`) run as a user that may not (the producer, a stage's): run it as the observer. It had
 * said to run it as the admin, as the real run must. Other errors are returned as they are.
 */
export async function observerRefusal(err: unknown, command: string, url: string): Promise<unknown> {
  if (!isPermissionRefusal(err)) return err;
  const fix = `\`${command}\` only reads: run it as the observer (\`REDIS_URL=$PIPELINE_OBSERVER_REDIS_URL\`, written by \`pipeline acl --apply --write-env FILE\`) or the admin`;
  return (await explainRefusal(err, { user: urlUser(url), fix }).catch(() => undefined)) ?? err;
}

/** Who a command run from this CLI acts as, for what it records (a pause's `by`, a purge's dead letters): `cli:<login>` (env USER when the login cannot be read). */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:${process.env.USER ?? 'unknown'}`;
  }
}
