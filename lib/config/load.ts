import { crossCheckStage } from './checks.js';
import { checkRateLimit } from './rate-limit.js';
import { checkSection, configInt } from './sections.js';
import { parseWebhooks } from './webhooks.js';
import { checkRouteFields, checkTopology, NAME_RE } from './topology.js';
import { groupProcesses } from './processes.js';
import { configBase, resolveSettingPaths } from './paths.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { ENV_ORIGIN, fromEnv } from '../core/env-origin.js';
import { PACKAGE_ROOT } from '../core/root.js';
import { compileRoutes } from '../stream/router.js';
import { parseTags } from '../observe/metrics.js';
import { API_DEFAULTS, type ApiLimits } from './api-limits.js';
import { CONSOLE_DEFAULTS } from './console-options.js';
import { LIMIT_DEFAULTS, LOG_DEFAULTS, METRICS_DEFAULTS, REDIS_DEFAULTS, STAGE_DEFAULTS, STREAM_DEFAULTS, SUPERVISOR_DEFAULTS } from './defaults.js';
import type { MetricsSettings, PipelineConfig, ResolvedConfig, ResolvedStage, RouteRule, StageConfig, StageOptions } from './types.js';

/** Renamed stage options: old name → new name. The old name still works, with a `config.deprecated` warning. */
export const RENAMED_OPTIONS: Readonly<Record<string, keyof StageOptions>> = { heartbeatMs: 'keepClaimedMs' };
const STAGE_KEYS = new Set<string>([
  'name',
  'kind',
  'input',
  'model',
  'settings',
  'maxLag',
  'process',
  'fuse',
  'rateLimit',
  ...Object.keys(STAGE_DEFAULTS),
  ...Object.keys(RENAMED_OPTIONS),
]);
const TOP_KEYS = new Set([
  'pipeline',
  'input',
  'shards',
  'redis',
  'streams',
  'limits',
  'metrics',
  'logs',
  'supervisor',
  'api',
  'console',
  'webhooks',
  'defaults',
  'stages',
  'routes',
  '$comment',
]);
/** More shards than this buys nothing (a cluster has 16384 slots; each shard costs a reader per worker). */
const MAX_SHARDS = 1024;

/** Default config file: config/pipeline.json at the repo root, or PIPELINE_CONFIG. */
export const DEFAULT_CONFIG_PATH = resolve(PACKAGE_ROOT, 'config/pipeline.json');

export interface LoadOptions {
  /** Environment to read overrides from (REDIS_URL, PIPELINE, STATSD_*). @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /** Stage kinds that exist; an unknown kind is a config error. @defaultValue no check */
  knownKinds?: readonly string[];
  /** Checks a stage's `settings` for its kind (stages/kinds.ts checkStageSettings); throws a ConfigError. @defaultValue no check */
  checkSettings?: (where: string, kind: string, settings: Readonly<Record<string, unknown>>) => void;
  /** The top-level output fields of a stage kind (stages/kinds.ts STAGE_OUTPUTS), undefined for one that may output anything; a routing rule on another field is a config error. @defaultValue no check */
  stageOutputs?: (kind: string) => readonly string[] | undefined;
  /** Checks the stages' settings against each other, the routes and the models (stages/settings-checks.ts); throws a ConfigError. @defaultValue no check */
  checkStages?: (stages: readonly ResolvedStage[], routes: Readonly<Record<string, RouteRule[]>>, env: NodeJS.ProcessEnv) => void;
  /**
   * The `settings` of a stage kind that hold a file or folder path (dotted: `index.dir`;
   * stages/kinds.ts STAGE_PATH_SETTINGS): a relative one is made absolute against the config
   * file's folder (lib/config/paths.ts). @defaultValue none (settings are kept as written)
   */
  pathSettings?: (kind: string) => readonly string[];
  /**
   * Checks a Redis URL (lib/redis/url.ts `parseRedisUrl`), throwing a ConfigError naming `where`:
   * `REDIS_URL (environment)`, `REDIS_URL_<STAGE> (environment)` or the file's `redis.url`.
   * @defaultValue no check (the first connection checks it, naming `redis.url`)
   */
  checkRedisUrl?: (url: string, where: string) => void;
  /** Told about each deprecated option in use (where, what to write instead). @defaultValue a `config.deprecated` JSON line on stderr */
  onDeprecated?: (where: string, message: string) => void;
}

const warnOnStderr = (where: string, message: string): void => {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'warn', event: 'config.deprecated', where, message }) + '\n');
};

/** Options under a renamed name move to the new one (the new name wins when both are given). */
function renameOptions(where: string, o: Record<string, unknown>, warn: (where: string, message: string) => void): Record<string, unknown> {
  const out = { ...o };
  for (const [old, now] of Object.entries(RENAMED_OPTIONS)) {
    if (!(old in out)) continue;
    warn(`${where}.${old}`, `renamed to ${now}; the old name will be removed in a later release`);
    if (!(now in out)) out[now] = out[old];
    delete out[old];
  }
  return out;
}

/**
 * Where a JSON syntax error is, for a person: line and column (1-based) and the text just before
 * it (a trailing comma shows as `after "batchSize": 64,`). Node 20 names only a character offset
 * ("... in JSON at position 1401"), which left the user counting characters.
 */
export function jsonSyntaxMessage(text: string, err: Error): string {
  const why = err.message.replace(/\s*\(line \d+ column \d+\)$/, '');
  const at = /at position (\d+)/.exec(why);
  if (!at) return `: ${why}`; // "Unexpected end of JSON input": the file ends early
  const offset = Math.min(Number(at[1]), text.length);
  const lines = text.slice(0, offset).split('\n');
  const before = text
    .slice(Math.max(0, offset - 40), offset)
    .replace(/\s+/g, ' ')
    .trim();
  return ` at line ${lines.length}, column ${lines[lines.length - 1]!.length + 1}${before ? ` (after \`${before}\`)` : ''}: ${why}`;
}

export function loadConfigFile(path = process.env.PIPELINE_CONFIG ?? DEFAULT_CONFIG_PATH, opts: LoadOptions = {}): ResolvedConfig {
  let text: string;
  try {
    // A byte-order mark (what some Windows editors save) is not JSON; it says nothing about the config.
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    throw new ConfigError(path, `cannot read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON${jsonSyntaxMessage(text, err as Error)}`);
  }
  try {
    return resolveConfig(raw, path, opts);
  } catch (err) {
    // Name the file: the same mistake reads differently in the config a process was given and in another.
    // Not for a value the environment gave: the file did not hold it.
    if (err instanceof ConfigError && !err.file && !err.where.endsWith(ENV_ORIGIN)) throw new ConfigError(err.where, err.reason, path);
    throw err;
  }
}

/** An integer from an environment variable: its text in the error when it is not one. */
function envInt(name: string, text: string, min = 1): number {
  if (!/^\s*-?\d+\s*$/.test(text)) throw new ConfigError(fromEnv(name), `expected an integer >= ${min}, got ${JSON.stringify(text)}`);
  return configInt(fromEnv(name), Number(text), min);
}

/** A port number from an environment variable, named as the variable (a bad STATSD_PORT had been named as the file's `metrics.port`). */
function envPort(name: string, text: string): number {
  const port = envInt(name, text);
  if (port > 65535) throw new ConfigError(fromEnv(name), `expected a port number, 1-65535, got ${port}`);
  return port;
}

function checkOptions(where: string, o: Partial<StageOptions>): void {
  for (const [k, v] of Object.entries(o)) {
    if (!(k in STAGE_DEFAULTS)) throw new ConfigError(`${where}.${k}`, `unknown option (known: ${Object.keys(STAGE_DEFAULTS).join(', ')})`);
    configInt(`${where}.${k}`, v, k === 'minWorkers' || k === 'readAheadMs' || k === 'livenessHandoverMs' ? 0 : 1);
  }
}

function object(where: string, v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(where, 'expected an object');
  return v as Record<string, unknown>;
}

/** Validate a parsed config, apply env overrides and defaults. Throws ConfigError naming the path. */
export function resolveConfig(raw: unknown, source = '<inline>', opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const cfg = object('$', raw) as unknown as PipelineConfig;
  for (const k of Object.keys(cfg)) if (!TOP_KEYS.has(k)) throw new ConfigError(k, 'unknown top-level key');
  if (!Array.isArray(cfg.stages) || cfg.stages.length === 0) throw new ConfigError('stages', 'expected a non-empty array');

  if (cfg.pipeline !== undefined && typeof cfg.pipeline !== 'string') throw new ConfigError('pipeline', `expected a name, got ${JSON.stringify(cfg.pipeline)}`);
  const pipeline = env.PIPELINE || cfg.pipeline || 'products';
  // Named as where it came from: a bad PIPELINE had been blamed on the file's `pipeline`.
  if (!NAME_RE.test(pipeline))
    throw new ConfigError(env.PIPELINE ? fromEnv('PIPELINE') : 'pipeline', `invalid name ${JSON.stringify(pipeline)} (letters, digits, . _ : -)`);
  const warn = opts.onDeprecated ?? warnOnStderr;
  const defaults = renameOptions('defaults', object('defaults', cfg.defaults), warn) as Partial<StageOptions>;
  checkOptions('defaults', defaults);
  const shards = env.PIPELINE_SHARDS ? envInt('PIPELINE_SHARDS', env.PIPELINE_SHARDS) : configInt('shards', cfg.shards ?? 1);
  if (shards > MAX_SHARDS) throw new ConfigError('shards', `at most ${MAX_SHARDS} shards, got ${shards}`);

  const limits = { ...LIMIT_DEFAULTS, ...object('limits', cfg.limits) };
  checkSection('limits', object('limits', cfg.limits), limits);
  const redis = { ...REDIS_DEFAULTS, ...object('redis', cfg.redis), ...(env.REDIS_URL ? { url: env.REDIS_URL } : {}) };
  checkSection('redis', object('redis', cfg.redis), redis);
  // Checked here, where it is known who gave the URL: a bad REDIS_URL had been named as the file's `redis.url`.
  opts.checkRedisUrl?.(redis.url, env.REDIS_URL ? fromEnv('REDIS_URL') : 'redis.url');
  const names = new Set<string>();
  const stages: ResolvedStage[] = cfg.stages.map((s: StageConfig, i) => {
    const where = `stages[${i}]`;
    object(where, s);
    for (const k of Object.keys(s)) if (!STAGE_KEYS.has(k)) throw new ConfigError(`${where}.${k}`, 'unknown stage key');
    if (typeof s.name !== 'string' || !NAME_RE.test(s.name)) throw new ConfigError(`${where}.name`, 'expected a name of letters, digits, . _ : -');
    if (names.has(s.name)) throw new ConfigError(`${where}.name`, `duplicate stage ${s.name}`);
    names.add(s.name);
    if (typeof s.kind !== 'string') throw new ConfigError(`${where}.kind`, 'expected a string');
    if (opts.knownKinds && !opts.knownKinds.includes(s.kind) && !s.kind.startsWith('module:')) {
      throw new ConfigError(
        `${where}.kind`,
        `unknown stage kind ${JSON.stringify(s.kind)} (known: ${opts.knownKinds.join(', ')}, or module:<path> for your own)`,
      );
    }
    const { name, kind, input, model, settings, maxLag, process: proc, fuse, rateLimit, ...rest } = s;
    const limit = checkRateLimit(`${where}.rateLimit`, rateLimit);
    if (fuse !== undefined && typeof fuse !== 'boolean') throw new ConfigError(`${where}.fuse`, 'expected true or false');
    if (proc !== undefined && (typeof proc !== 'string' || !NAME_RE.test(proc)))
      throw new ConfigError(`${where}.process`, 'expected a name of letters, digits, . _ : -');
    if (maxLag !== undefined) configInt(`${where}.maxLag`, maxLag);
    const options = renameOptions(where, rest, warn) as Partial<StageOptions>;
    checkOptions(where, options);
    if (model !== undefined && typeof model !== 'string') throw new ConfigError(`${where}.model`, 'expected a string');
    const merged: StageOptions = { ...STAGE_DEFAULTS, ...defaults, ...options };
    if (merged.maxWorkers < merged.minWorkers) throw new ConfigError(`${where}.maxWorkers`, 'must be >= minWorkers');
    crossCheckStage(where, merged);
    const written = object(`${where}.settings`, settings);
    opts.checkSettings?.(where, kind, written);
    const ownSettings = resolveSettingPaths(written, opts.pathSettings?.(kind) ?? [], configBase(source));
    const stageUrl = env[stageRedisUrlEnv(name)]; // per-stage credentials (ACL user per stage)
    if (stageUrl) opts.checkRedisUrl?.(stageUrl, fromEnv(stageRedisUrlEnv(name)));
    const redisUrl = stageUrl || redis.url;
    return {
      ...merged,
      name,
      kind,
      input: input ?? name,
      model,
      settings: ownSettings,
      redisUrl,
      maxLag: maxLag ?? limits.maxLag,
      process: proc ?? name,
      fuse: fuse ?? true,
      ...(limit ? { rateLimit: limit } : {}),
    };
  });

  const inputs = new Set<string>();
  stages.forEach((s, i) => {
    if (inputs.has(s.input)) throw new ConfigError(`stages[${i}].input`, `stream ${s.input} is already the input of another stage`);
    inputs.add(s.input);
  });
  const streams = { ...STREAM_DEFAULTS, ...object('streams', cfg.streams) };
  checkSection('streams', object('streams', cfg.streams), streams);
  const input = cfg.input ?? 'in';
  if (!inputs.has(input)) throw new ConfigError('input', `no stage reads the producer's stream ${JSON.stringify(input)}`);

  const routes = object('routes', cfg.routes) as ResolvedConfig['routes'];
  // compileRoutes validates every rule and target, naming the rule in its error.
  compileRoutes(routes, stages, streams.terminal);
  checkTopology(stages, streams.terminal, routes);
  if (opts.stageOutputs) checkRouteFields(stages, routes, opts.stageOutputs);
  opts.checkStages?.(stages, routes, env);

  const metrics = { ...METRICS_DEFAULTS, ...object('metrics', cfg.metrics) } as MetricsSettings;
  if (env.STATSD_HOST) Object.assign(metrics, { enabled: true, host: env.STATSD_HOST });
  if (env.STATSD_PORT) metrics.port = envPort('STATSD_PORT', env.STATSD_PORT);
  if (env.STATSD_PREFIX !== undefined) metrics.prefix = env.STATSD_PREFIX;
  if (env.STATSD_TAGS) metrics.tags = { ...metrics.tags, ...parseTags(env.STATSD_TAGS) };
  metrics.sampleTimeoutMs ??= metrics.gaugeIntervalMs; // a sample may take one interval
  checkSection('metrics', object('metrics', cfg.metrics), metrics);
  const logs = { ...LOG_DEFAULTS, ...object('logs', cfg.logs) };
  if (env.LOG_STREAM) logs.stream = !['0', 'false', 'no', 'off'].includes(env.LOG_STREAM.toLowerCase());
  checkSection('logs', object('logs', cfg.logs), logs);
  const supervisor = { ...SUPERVISOR_DEFAULTS, ...object('supervisor', cfg.supervisor) };
  checkSection('supervisor', object('supervisor', cfg.supervisor), supervisor);
  if (supervisor.restartMaxMs < supervisor.restartBaseMs)
    throw new ConfigError('supervisor.restartMaxMs', `${supervisor.restartMaxMs} is below supervisor.restartBaseMs (${supervisor.restartBaseMs})`);
  // The HTTP API's limits (pipeline serve, up --serve, start --serve): buildServer's `limits` override them.
  const apiGiven = object('api', cfg.api);
  const api = { ...API_DEFAULTS, ...apiGiven } as ApiLimits;
  checkSection('api', apiGiven, api);
  // Unset, the waits' caps follow a lowered maxConnections (nine tenths of it; one caller at most all
  // of them): a config that set maxConnections below the default 9000 waits still loads.
  if (apiGiven.maxWaits === undefined) api.maxWaits = Math.min(API_DEFAULTS.maxWaits, Math.floor(api.maxConnections * 0.9));
  if (apiGiven.maxWaitsPerCaller === undefined) api.maxWaitsPerCaller = Math.min(API_DEFAULTS.maxWaitsPerCaller, api.maxWaits);
  if (api.retryAfterMaxSeconds < api.retryAfterSeconds)
    throw new ConfigError('api.retryAfterMaxSeconds', `${api.retryAfterMaxSeconds} is below api.retryAfterSeconds (${api.retryAfterSeconds})`);
  // The waits' caps leave connections for the rest (health, metrics, submissions).
  if (api.maxWaits >= api.maxConnections)
    throw new ConfigError(
      'api.maxWaits',
      `${api.maxWaits} is not below api.maxConnections (${api.maxConnections}): /healthz and /metrics need connections left`,
    );
  if (api.maxWaitsPerCaller > api.maxWaits) throw new ConfigError('api.maxWaitsPerCaller', `${api.maxWaitsPerCaller} is above api.maxWaits (${api.maxWaits})`);
  // The web console's timers and caps (the same commands): the plugin's options override them.
  const consoleOptions = { ...CONSOLE_DEFAULTS, ...object('console', cfg.console) };
  checkSection('console', object('console', cfg.console), consoleOptions);

  return {
    pipeline,
    input,
    shards,
    redis,
    streams,
    limits,
    metrics,
    logs,
    supervisor,
    api,
    console: consoleOptions,
    webhooks: parseWebhooks(cfg.webhooks),
    stages,
    processes: groupProcesses(stages),
    routes,
    source,
  };
}

/** The env var that overrides REDIS_URL for one stage's workers: `REDIS_URL_<STAGE>`, upper-cased, non-alphanumerics as `_`. */
export function stageRedisUrlEnv(stage: string): string {
  return `REDIS_URL_${stage.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function findStage(config: ResolvedConfig, name: string): ResolvedStage {
  const s = config.stages.find((x) => x.name === name);
  if (!s) throw new ConfigError('stages', `no stage named ${JSON.stringify(name)} (have: ${config.stages.map((x) => x.name).join(', ')})`);
  return s;
}
