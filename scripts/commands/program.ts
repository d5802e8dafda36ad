import { Command } from 'commander';
import { dataFileHelp, DEFAULT_EVAL_CHUNK, DEFAULT_EVAL_INPUT, DEFAULT_EVAL_TRAIN, DEFAULT_START_INPUT, fatalAsync, refuseBadLogLevel } from './common.js';
import { dlqCommand } from './dlq.js';
import { webhooksProgram } from './webhooks-program.js';
import { priorsProgram } from './priors-program.js';
import { purgeProgram } from './purge-program.js';
import { produceProgram } from './produce-program.js';
import { revokeProgram } from './revoke-program.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { integer, maxLagOption, nonNegativeMs, port, positiveInt, positiveMs, positiveSeconds, share } from './option-values.js';

/**
 * The `pipeline` command line (scripts/cli.ts parses it; test/repo/cli-docs.test.ts reads its options).
 * Each command's module is imported when that command runs, so `pipeline worker` loads no HTTP
 * server, training, evaluation or sink code it does not use: a worker's cold start (issue 17).
 */
const lazy =
  <M extends Record<K, (...args: never[]) => Promise<void>>, K extends keyof M>(load: () => Promise<M>, name: K) =>
  (...args: Parameters<M[K]>): Promise<void> =>
    load().then((m) => m[name](...args));
const evalCommand = lazy(() => import('./eval.js'), 'evalCommand');
const aclCommand = lazy(() => import('./acl.js'), 'aclCommand');
const functionsCommand = lazy(() => import('./functions.js'), 'functionsCommand');
const exportCommand = lazy(() => import('./export.js'), 'exportCommand');
const reprocessCommand = lazy(() => import('./reprocess.js'), 'reprocessCommand');
const storeMigrateCommand = lazy(() => import('./store.js'), 'storeMigrateCommand');
const startCommand = lazy(() => import('./start.js'), 'startCommand');
const statusCommand = lazy(() => import('./status.js'), 'statusCommand');
const upCommand = lazy(() => import('./up.js'), 'upCommand');
const deployRenderCommand = lazy(() => import('./deploy.js'), 'deployRenderCommand');
const healthCommand = lazy(() => import('./health.js'), 'healthCommand');
const monitorCommand = lazy(() => import('./monitor.js'), 'monitorCommand');
const topCommand = lazy(() => import('./top.js'), 'topCommand');
const workerCommand = lazy(() => import('./worker.js'), 'workerCommand');
const serveCommand = lazy(() => import('./serve.js'), 'serveCommand');
const labelsExportCommand = lazy(() => import('./labels.js'), 'labelsExportCommand');
const pauseCommand = lazy(() => import('./pause.js'), 'pauseCommand');

/** `up`, `start`, `serve`: `npx pipeline up &` then `kill $!` signals npx alone, which does not pass it on (lib/core/parent-watch.ts). */
const parentPollOption = [
  '--parent-poll-ms <ms>',
  'stop as on SIGTERM once a process it was started under (npm, npx, sh) is gone: a signal to npm or npx alone is not passed on; checked this often, 0 = never',
  nonNegativeMs,
  String(PARENT_POLL_MS),
] as const;

export function buildProgram(): Command {
  const program = new Command('pipeline')
    .description(
      'Product-enrichment inference pipeline on Redis Streams.\n' +
        'Environment (docs/configuration.md): REDIS_URL, REDIS_URL_<STAGE> (that stage only), PIPELINE (name), PIPELINE_CONFIG, ' +
        'PIPELINE_SHARDS, WORKER_SHARDS, DATABASE_URL (postgres sink), STATSD_HOST, STATSD_PORT, STATSD_PREFIX, STATSD_TAGS, ' +
        'LOG_LEVEL, LOG_STREAM, MODELS_DIR, ALLOW_REMOTE_MODELS, PROGRESS_FILE, EXIT_ON_HUNG (1: a hung stage call exits the worker), ' +
        'REDIS_COMMAND_TIMEOUT_MS (a command unanswered this long fails: status, produce, dlq, ...; 10000, 0: none), ' +
        'PRODUCTS_DATA (eval); for serve: PORT, HOST, API_TOKENS, PIPELINE_API_REDIS_URL (else REDIS_URL); for webhooks: PIPELINE_WEBHOOKS_REDIS_URL (else REDIS_URL).',
    )
    .option('-c, --config <file>', 'pipeline config (JSON)', process.env.PIPELINE_CONFIG);
  program.hook('preAction', refuseBadLogLevel); // LOG_LEVEL, for every command alike

  const global = () => program.opts<{ config?: string }>();
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    (...args: A) =>
      fn(...args).catch(fatalAsync);

  program.addCommand(produceProgram(global, run));

  program
    .command('worker')
    .description(
      'run stage consumers in this process (SIGTERM: drain the batches in flight, ack, exit); several stages share the process and its command connection, each with its own group and reader; on a sharded pipeline one reader per shard',
    )
    .argument(
      '<stages>',
      'a stage name from the config, a comma list of them (classify,extract.electronics), or a process name (stages with that `process`: intake, enrich in the shipped config; never a stage name)',
    )
    .option('--shards <list>', 'sharded pipelines: read only these shards, e.g. 0,2 or 4-7 (default: env WORKER_SHARDS, else every shard)')
    .action(run((stage: string, o: { shards?: string }) => workerCommand(stage, { ...global(), ...o })));

  program
    .command('up')
    .description('run every stage of the config as child processes; restart crashed ones')
    .option('--stages <list>', 'comma list of stage and process names (a process name stands for its stages), as pipeline worker takes')
    .option('--no-autoscale', 'keep minWorkers per stage (default: autoscale stages with maxWorkers > minWorkers on group lag)')
    .option('--serve', 'also serve the HTTP API (pipeline serve) from this process')
    .option('--port <n>', 'with --serve: port (default: env PORT, else 8080)', port)
    .option('--host <addr>', 'with --serve: address (default: env HOST, else 127.0.0.1)')
    .option(...parentPollOption)
    .action(
      run((o: { stages?: string; autoscale?: boolean; serve?: boolean; port?: string; host?: string; parentPollMs?: string }) =>
        upCommand({ ...global(), ...o }),
      ),
    );

  program
    .command('serve')
    .description(
      'the HTTP API (docs/api.md): submit products, their status, enrich with a deadline, SSE events; tokens from API_TOKENS="role:token,..." (none: loopback only)',
    )
    .option('--port <n>', 'port (default: env PORT, else 8080; 0 = any free port)', port)
    .option('--host <addr>', 'address to listen on (default: env HOST, else 127.0.0.1; another address needs API_TOKENS)')
    .option(...parentPollOption)
    .action(run((o: { port?: string; host?: string; parentPollMs?: string }) => serveCommand({ ...global(), ...o })));

  program.addCommand(webhooksProgram(global, run, parentPollOption));

  program
    .command('top')
    .description('live per-stage view: lag, pending, consumers, in/read rates, p50/p99 latency to each stream, dead letters (q quits)')
    .option('--once', 'print one frame (rates over one --interval) without ANSI codes, and exit')
    .option('--interval <ms>', 'refresh interval', positiveMs, '1000')
    .option('--sample <n>', 'newest entries per stream decoded for the latency percentiles', positiveInt, '200')
    .action(run((o: Record<string, string | boolean>) => topCommand({ ...global(), ...o } as never)));

  program
    .command('monitor')
    .description('the one per-pipeline sampler for deployments without `pipeline up`: creates missing consumer groups, sends backlog gauges to StatsD')
    .action(run(() => monitorCommand(global())));

  program
    .command('health')
    .description(
      "probe: exit 0 if this host's consumer of the stage is making progress (its watchdog's liveness key is alive); --data-loss: exit 1 while a Redis data loss is unacknowledged",
    )
    .option(
      '--stage <name>',
      'stage name; a comma list or a process name: every stage of that worker must progress (required unless --data-loss or --ack-data-loss)',
    )
    .option(
      '--data-loss',
      "the pipeline's check: exit 1 while a data loss the workers recorded (Redis restarted empty, a failover that lost writes) is unacknowledged",
    )
    .option('--ack-data-loss', 'acknowledge the recorded data losses (marked acknowledged in {p}:data-lost, kept; run as the admin of REDIS_URL)')
    .option('--pid <n>', 'only the consumer of this process id (default: any on this host)', positiveInt)
    .option('--host <name>', 'host part of the consumer name (default: hostname)')
    .option('--unknown-ok', 'exit 0 when Redis cannot be reached or refuses writes (MISCONF) (liveness: a restart would not help)')
    .option('--shards <list>', 'sharded pipelines: the shards the worker reads, every one must progress (default: env WORKER_SHARDS, else every shard)')
    .action(run((o: Record<string, string | boolean>) => healthCommand({ ...global(), ...o } as never)));

  program
    .command('deploy')
    .description('deployment files')
    .command('render')
    .description('write the deploy/ files from the config: compose, Kubernetes (and its Redis Cluster variant), the statsd mapping, the alerting rules')
    .option('--check', 'write nothing; exit 1 if the committed files are out of date')
    .action(run((o: { check?: boolean }) => deployRenderCommand({ ...global(), ...o })));

  program
    .command('status')
    .description('per stream: length, group lag, pending, consumers; DLQ length; stored products')
    .option('--json', 'print JSON')
    .action(run((o: { json?: boolean }) => statusCommand({ ...global(), ...o })));

  program
    .command('pause')
    .description(
      'pause a stage (or all): its workers finish the batch in hand, then read, retry and reclaim nothing until resumed; producers and the API keep accepting',
    )
    .argument('<stage>', 'a stage name, or all')
    .option('--reason <text>', 'why, shown by status, top, health and the console')
    .action(run((stage: string, o: { reason?: string }) => pauseCommand('pause', stage, { ...global(), ...o })));

  program
    .command('resume')
    .description('resume a paused stage (or all): its workers read again within pausePollMs and drain the backlog')
    .argument('<stage>', 'a stage name, or all')
    .action(run((stage: string) => pauseCommand('resume', stage, global())));

  program
    .command('start')
    .description('the main job on sample data: local redis-server if REDIS_URL is unset, all stages, produce, wait, summary')
    .option('--input <file>', `JSONL to produce, relative to the current directory (default: the package's ${DEFAULT_START_INPUT})`)
    .option('--timeout <ms>', 'give up if the pipeline is not idle by then', positiveMs, '300000')
    .option('--poll <ms>', 'status poll interval', positiveMs, '250')
    .option('--serve', 'serve the HTTP API, bound before the run starts, and after the sample run keep the pipeline up until Ctrl-C (npm start -- --serve)')
    .option('--port <n>', 'with --serve: port (default: env PORT, else 8080)', port)
    .option('--host <addr>', 'with --serve: address (default: env HOST, else 127.0.0.1)')
    .option('--keep-logs', "keep the job's temp folder ($TMPDIR/pipeline-job-*: worker logs) even when it holds nothing but info lines")
    .option(...parentPollOption)
    .action(run((o: Record<string, string>) => startCommand({ ...global(), ...o } as never)));

  program
    .command('eval')
    .description('run a labelled JSONL set (default: the dev set) through the real pipeline and score it (prints `accuracy: 0.NNN`)')
    .option('--input <file>', `labelled JSONL: title, category, id?, brand?, mpn?, source_category? (default: ${dataFileHelp(DEFAULT_EVAL_INPUT)})`)
    .option(
      '--train <file>',
      `labelled JSONL the naive Bayes baseline is trained on, whose brands define "unseen" (default: ${dataFileHelp(DEFAULT_EVAL_TRAIN)})`,
    )
    .option(
      '--slices <list>',
      'robustness slices to run: all, none, or a comma list of unseen-brand,no-mpn,no-brand,brand-last,first-8-words,lower-case',
      'all',
    )
    .option('--thresholds <list>', "confidence thresholds for the review table (the routing table's own are added)", '0.3,0.4,0.5,0.6,0.7,0.8')
    .option('--limit <n>', 'only the first n records', positiveInt)
    .option('--gtin-share <x>', 'share of titles given a valid generated GTIN', share, '0.15')
    .option('--bad-gtin-share <x>', 'share of titles given an invalid GTIN', share, '0.05')
    .option('--seed <n>', 'augmentation seed', integer, '7')
    .option('--timeout <ms>', 'give up if the pipeline is not idle by then', positiveMs, '900000')
    .option(
      '--chunk <n>',
      'records sent at a time: each chunk is scored and its products deleted from Redis before the next (bounds Redis memory)',
      positiveInt,
      String(DEFAULT_EVAL_CHUNK),
    )
    .option('--json <file>', 'also write the scores as JSON')
    .option('--dump <file>', 'write each record with its truth, outcome and predictions as JSONL (error analysis)')
    .action(run((o: Record<string, string>) => evalCommand({ ...global(), ...o } as never)));

  const labels = program.command('labels').description("the console's review decisions (training labels)");
  labels
    .command('export')
    .description(
      'write every review decision (latest per product) as JSONL in the training data shape: id, title, category, brand, mpn, source_category, source, ...',
    )
    .option('--out <file>', 'write here instead of stdout')
    .action(run((o: { out?: string }) => labelsExportCommand({ ...global(), ...o })));

  const store = program.command('store').description('the data store (postgres sink)');
  store
    .command('migrate')
    .description(
      'create or upgrade the postgres sink schema (migrations applied in order, recorded in schema_migrations; idempotent; a recorded one whose table or column is gone is applied again)',
    )
    .option('--database-url <url>', "postgres:// URL (default: the store stage's settings.postgresUrl, then DATABASE_URL)")
    .option('--schema <name>', 'schema (default: settings.postgresSchema, then public)')
    .option('--stage <name>', 'store stage whose settings to use (default: the stage of kind store)')
    .option(
      '--lock-timeout <ms>',
      "how long one attempt waits for a table lock (the store's writes queue behind a waiting ALTER TABLE), then it lets them through for as long and tries again",
      positiveMs,
      '2000',
    )
    .option('--lock-wait <ms>', 'how long attempts go on before it fails naming the sessions that hold the tables', positiveMs, '60000')
    .action(run((o: Record<string, string>) => storeMigrateCommand({ ...global(), ...o })));

  program
    .command('export')
    .description('stored products as JSONL (stdout or --out), streamed from the redis or postgres sink; progress on stderr when a TTY')
    .option('--out <file>', 'write here instead of stdout (via FILE.partial, renamed when complete; a FIFO, device or symlink directly)')
    .option('--category <name>', 'only this category')
    .option('--since <time>', 'only products stored at or after this time: ISO-8601 (2024-05-01, 2024-05-01T12:00:00Z) or an age (24h, 7d)')
    .option('--sink <name>', "redis or postgres (default: the store stage's settings.sink)")
    .option('--database-url <url>', 'postgres:// URL (default: settings.postgresUrl, then DATABASE_URL)')
    .option('--schema <name>', 'postgres schema (default: settings.postgresSchema, then public)')
    .option('--stage <name>', 'store stage whose settings to use (default: the stage of kind store)')
    .option('--page <n>', 'products per SSCAN / page query', positiveInt, '500')
    .action(run((o: Record<string, string>) => exportCommand({ ...global(), ...o } as never)));

  program
    .command('reprocess')
    .description(
      'put stored products back through the pipeline after a model upgrade: from the first stage whose model changed (or --from-stage), waiting while that stage is behind its maxLag; once per stored version; JSON summary on stdout',
    )
    .option('--category <name>', 'only products stored with this category')
    .option('--model <name>', 'only products stored by another version of this model than the current one (models/<name>, content hash)')
    .option('--since <time>', 'only products stored at or after this time: ISO-8601 or an age (24h, 7d)')
    .option('--from-stage <stage>', 're-enter at this stage (default: the first stage of each product whose model changed; up-to-date products are left alone)')
    .option('--dry-run', 'count what would be put back, write nothing (the observer user may run it)')
    .option('--sink <name>', "read products from redis or postgres (default: the store stage's settings.sink)")
    .option('--database-url <url>', 'postgres:// URL (default: settings.postgresUrl, then DATABASE_URL)')
    .option('--schema <name>', 'postgres schema (default: settings.postgresSchema, then public)')
    .option('--stage <name>', 'store stage whose settings to use (default: the stage of kind store)')
    .option('--page <n>', 'products per SSCAN / page query', positiveInt, '500')
    .option('--batch <n>', 'products put back per backpressure reading and round trip', positiveInt, '100')
    .option(
      '--marker-ttl <s>',
      'seconds a product put back counts as in flight (not put back again) unless its new version is stored first',
      positiveSeconds,
      '86400',
    )
    .option('--backpressure-poll <ms>', 'while the stage is behind its maxLag or Redis is full, check again every ms', positiveMs, '500')
    .addOption(maxLagOption('reprocessing the store'))
    .option(
      '--retry-for <ms>',
      'a put-back, backpressure reading or page of the scan (redis sink) Redis refuses (full mid-batch, failing over, unreachable), or a page after the first Postgres refuses (a restart, a failover), is retried with backoff for up to ms, then the run fails',
      positiveMs,
      '600000',
    )
    .action(run((o: Record<string, string | boolean>) => reprocessCommand({ ...global(), ...o } as never)));

  program
    .command('acl')
    .description(
      'least-privilege Redis ACL users from the config and routing table: one per stage, a producer, a read-only observer, the API server (pipeline serve)',
    )
    .option(
      '--password-from-env',
      'passwords from REDIS_PASSWORD_<STAGE>, REDIS_PASSWORD_PRODUCER, REDIS_PASSWORD_OBSERVER, REDIS_PASSWORD_API (default: generated)',
    )
    .option(
      '--format <fmt>',
      'acl (ACL SETUSER lines for redis-cli), env (REDIS_URL_<STAGE>=... for `pipeline up`), json, k8s (a Secret per user for deploy/k8s, needs --show-secrets: pipe to kubectl apply -f -) (default: acl; env with --apply)',
    )
    .option('--apply', 'run the rules and load the Functions library against REDIS_URL (an admin: ACL SETUSER, FUNCTION LOAD)')
    .option('--write-env <file>', "also write the users' URLs as an env file (mode 0600; not --env-file, which Node 20 takes for itself)")
    .option('--url-base <url>', 'scheme/host/port/db for the printed URLs (default: REDIS_URL)')
    .option('--prefix <p>', 'user name prefix (default: "<pipeline>-")')
    .option('--show-secrets', "print the users' passwords (in their URLs) on stdout; default: shown as ***, only the --write-env file has them")
    .option(
      '--rotate',
      'give every user a new password; default: a user that exists keeps its password (taken from the --write-env file, or left as it is on the server)',
    )
    .action(run((o: Record<string, string | boolean>) => aclCommand({ ...global(), ...o } as never)));

  program
    .command('functions')
    .description("the pipeline's Redis Functions library: load it (an admin user; `acl --apply` does it too) or check it is there (exit 3 if not)")
    .argument('<action>', 'load | status')
    .action(run((action: string) => functionsCommand(action, global())));

  for (const sub of [dlqCommand, purgeProgram, revokeProgram, priorsProgram]) program.addCommand(sub(global, run));
  return program;
}
