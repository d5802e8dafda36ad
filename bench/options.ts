/** `npm run bench` options: parsed once from argv, every size and timer with its default. */
export interface BenchOptions {
  /** Measured runs per side (project and baseline alternate). @defaultValue 3 */
  runs: number;
  /** Records through the transport pipeline per run. @defaultValue 100000 */
  records: number;
  /** Records through the model pipeline per run (dev titles, repeated). @defaultValue 20000 */
  modelRecords: number;
  /** XREADGROUP COUNT for every stage, project and baseline alike. @defaultValue 64 */
  batchSize: number;
  /** Transport processes per stage (co-located: processes running all three), project and baseline alike (one consumer each in each stage's group). @defaultValue 1 */
  workers: number;
  /** Seconds of paced load per latency run. @defaultValue 5 */
  latencySeconds: number;
  /** Seconds of paced load before each latency run's measured part (the same rate, no pause between). @defaultValue 2 */
  warmupSeconds: number;
  /**
   * Seconds of paced `POST /v1/enrich` load before the api part's measured runs: longer than the
   * other parts' because the first measured run after 2 s still had the highest p99 in 6 of 7 runs
   * (five processes warming up on two cores). @defaultValue 6
   */
  apiWarmupSeconds: number;
  /** Paced load as a fraction of the measured project capacity. @defaultValue 0.5 */
  load: number;
  /** Paced load in records/s for the transport latency runs, instead of `load` x capacity. */
  rate?: number;
  /** ONNX Runtime intra-op threads per model stage process (and for the bare loop). @defaultValue 1 */
  threads: number;
  /** ONNX Runtime intra-op threads for the bare model loop (one process). @defaultValue `threads` */
  bareThreads?: number;
  /** Model pipeline config (its preprocess, classify and extract stages are used). @defaultValue config/pipeline.json */
  config?: string;
  /** Skip the model part (it prints a line saying so). @defaultValue false */
  skipModels: boolean;
  /** Also run BullMQ (three queues) as a second transport baseline, if installed. @defaultValue false */
  bullmq: boolean;
  /** Write every measurement as JSON here. */
  json?: string;
  /** Write V8 CPU profiles of the stage processes (transport both sides, model pipeline, bare loop) into this folder. */
  cpuProf?: string;
  /**
   * Stages sharing a process in the main parts: true runs the transport stages in one process on
   * both sides (the baseline's three loops too) and every model stage in one; false one process per
   * stage everywhere. @defaultValue transport in one process on both sides, models as the config's `process` says
   */
  colocate?: boolean;
  /** Which parts to run (`api` and `colocate` only when named: bench/api.ts, bench/colocate.ts). @defaultValue transport, latency, models, coldstart */
  parts: Set<'transport' | 'latency' | 'models' | 'coldstart' | 'api' | 'colocate'>;
  /** Transport sides to run (profiling one side alone). @defaultValue project, baseline */
  sides: Set<'project' | 'baseline'>;
  /** A smoke run: 2,000 records, 1 run, 1 s of latency after 0.5 s of warm-up, 500 model records. */
  quick: boolean;
  /**
   * Compare the model part's outputs, pipeline against bare loop, record by record (first run).
   * The bare loop then keeps every record's outputs until the end, which slows it: a check, not a
   * measurement. @defaultValue on with --quick, else off
   */
  checkOutputs: boolean;
}

const USAGE = `usage: npm run bench -- [options]
  --runs N             measured runs per side, alternating project and baseline (default 3)
  --records N          transport records per run (default 100000)
  --model-records N    model records per run (default 20000)
  --batch N            batch size (XREADGROUP COUNT) for every stage (default 64)
  --workers N          transport processes per stage (with --colocate: running all three), both sides (default 1)
  --latency-seconds N  paced load per latency run (default 5)
  --warmup-seconds N   paced load before the measured part of each latency run (default 2)
  --api-warmup-seconds N  paced enrich load before the api part's measured runs (default 6)
  --load F             paced load as a fraction of project capacity (default 0.5)
  --rate N             paced load in records/s for transport latency (instead of --load)
  --threads N          ONNX Runtime intra-op threads per model process (default 1)
  --bare-threads N     ONNX Runtime threads for the bare model loop (default: --threads)
  --config FILE        model pipeline config (default config/pipeline.json)
  --skip-models        transport and latency only
  --bullmq             BullMQ as a second transport baseline (needs the bullmq devDependency)
  --json FILE          write all measurements as JSON
  --cpu-prof DIR       V8 CPU profiles of every stage process (DIR/<side>/<stage>/)
  --colocate yes|no    yes: transport stages in one process (both sides) and model stages in one;
                       no: one process per stage (default: transport in one process on both sides,
                       models as the config's \`process\` says)
  --parts LIST         comma list of transport, latency, models, coldstart, api, colocate (default: the first four)
  --sides LIST         comma list of project, baseline (default both; for profiling one side)
  --check-outputs yes|no  compare the model part's outputs record by record, pipeline against bare
                       loop, in the first run (slows that bare-loop run; default yes with --quick)
  --quick              smoke run: 2000 records, 1 run, 1 s latency (0.5 s warm-up), 500 model records
  --cluster            instead of the above: one redis-server against a local Redis Cluster (npm run bench:cluster;
                       its options: npm run bench -- --cluster --help)`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = {
    runs: 3,
    records: 100_000,
    modelRecords: 20_000,
    batchSize: 64,
    workers: 1,
    latencySeconds: 5,
    warmupSeconds: 2,
    apiWarmupSeconds: 6,
    load: 0.5,
    threads: 1,
    skipModels: false,
    bullmq: false,
    quick: false,
    checkOutputs: false,
    parts: new Set(['transport', 'latency', 'models', 'coldstart']),
    sides: new Set(['project', 'baseline']),
  };
  const explicit = new Set<string>();
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} expects a number >= ${min}, got ${JSON.stringify(v)}\n${USAGE}`);
    return n;
  };
  const list = <T extends string>(flag: string, v: string | undefined, known: readonly T[]): Set<T> => {
    const items = (v ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    for (const x of items) if (!known.includes(x as T)) throw new Error(`${flag}: unknown ${JSON.stringify(x)} (known: ${known.join(', ')})\n${USAGE}`);
    if (items.length === 0) throw new Error(`${flag} expects a list\n${USAGE}`);
    return new Set(items as T[]);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const next = () => argv[++i];
    explicit.add(flag);
    switch (flag) {
      case '--runs':
        o.runs = Math.floor(num(flag, next(), 1));
        break;
      case '--records':
        o.records = Math.floor(num(flag, next(), 1));
        break;
      case '--model-records':
        o.modelRecords = Math.floor(num(flag, next(), 1));
        break;
      case '--batch':
        o.batchSize = Math.floor(num(flag, next(), 1));
        break;
      case '--workers':
        o.workers = Math.floor(num(flag, next(), 1));
        break;
      case '--latency-seconds':
        o.latencySeconds = num(flag, next(), 0.1);
        break;
      case '--warmup-seconds':
        o.warmupSeconds = num(flag, next(), 0);
        break;
      case '--api-warmup-seconds':
        o.apiWarmupSeconds = num(flag, next(), 0);
        break;
      case '--load':
        o.load = num(flag, next(), 0.01);
        break;
      case '--rate':
        o.rate = num(flag, next(), 1);
        break;
      case '--threads':
        o.threads = Math.floor(num(flag, next(), 1));
        break;
      case '--bare-threads':
        o.bareThreads = Math.floor(num(flag, next(), 1));
        break;
      case '--config':
        o.config = next();
        break;
      case '--skip-models':
        o.skipModels = true;
        break;
      case '--bullmq':
        o.bullmq = true;
        break;
      case '--json':
        o.json = next();
        break;
      case '--cpu-prof':
        o.cpuProf = next();
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--check-outputs': {
        const v = next();
        if (v !== 'yes' && v !== 'no') throw new Error(`--check-outputs expects yes or no, got ${JSON.stringify(v)}\n${USAGE}`);
        o.checkOutputs = v === 'yes';
        break;
      }
      case '--colocate': {
        const v = next();
        if (v !== 'yes' && v !== 'no') throw new Error(`--colocate expects yes or no, got ${JSON.stringify(v)}\n${USAGE}`);
        o.colocate = v === 'yes';
        break;
      }
      case '--parts':
        o.parts = list(flag, next(), ['transport', 'latency', 'models', 'coldstart', 'api', 'colocate']);
        break;
      case '--sides':
        o.sides = list(flag, next(), ['project', 'baseline']);
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0); // falls through (never: exit)
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  if (o.skipModels) o.parts.delete('models'); // the colocate part reads skipModels itself
  if (o.quick) {
    if (!explicit.has('--records')) o.records = 2_000;
    if (!explicit.has('--runs')) o.runs = 1;
    if (!explicit.has('--latency-seconds')) o.latencySeconds = 1;
    if (!explicit.has('--warmup-seconds')) o.warmupSeconds = 0.5;
    if (!explicit.has('--api-warmup-seconds')) o.apiWarmupSeconds = 0.5;
    if (!explicit.has('--model-records')) o.modelRecords = 500;
    if (!explicit.has('--check-outputs')) o.checkOutputs = true;
  }
  return o;
}
