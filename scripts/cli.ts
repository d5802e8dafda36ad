import { Command } from 'commander';
import { fatal } from './common.js';
import { DEFAULT_EVAL_INPUT, evalCommand } from './commands/eval.js';
import { produceCommand } from './commands/produce.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';
import { upCommand } from './commands/up.js';
import { workerCommand } from './commands/worker.js';

const program = new Command('pipeline')
  .description('Product-enrichment inference pipeline on Redis Streams.\nEnvironment: REDIS_URL, PIPELINE (name), PIPELINE_CONFIG, STATSD_HOST/PORT/PREFIX, LOG_LEVEL.')
  .option('-c, --config <file>', 'pipeline config (JSON)', process.env.PIPELINE_CONFIG);

const global = () => program.opts<{ config?: string }>();
const run = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => fn(...args).catch(fatal);

program
  .command('produce')
  .description('read JSONL (file or stdin) and add each record to the input stream; bad lines are reported and kept')
  .argument('[file]', 'JSONL file (default: stdin)')
  .option('--rejects <file>', 'append rejected lines here as JSONL', 'rejects.jsonl')
  .option('--batch <n>', 'XADDs per pipelined round trip', '500')
  .option('--wait-replicas <n>', 'after each batch, WAIT for n replicas to acknowledge (0 = off)', '0')
  .action(run((file: string | undefined, o: Record<string, string>) => produceCommand(file, { ...global(), ...o } as never)));

program
  .command('worker')
  .description('run one stage consumer (SIGTERM: drain the batch in flight, ack, exit)')
  .argument('<stage>', 'stage name from the config')
  .action(run((stage: string) => workerCommand(stage, global())));

program
  .command('up')
  .description('run every stage of the config as child processes; restart crashed ones')
  .option('--stages <list>', 'comma-separated subset of stages')
  .option('--no-autoscale', 'keep minWorkers per stage (default: autoscale stages with maxWorkers > minWorkers on group lag)')
  .action(run((o: { stages?: string; autoscale?: boolean }) => upCommand({ ...global(), ...o })));

program
  .command('status')
  .description('per stream: length, group lag, pending, consumers; DLQ length; stored products')
  .option('--json', 'print JSON')
  .action(run((o: { json?: boolean }) => statusCommand({ ...global(), ...o })));

program
  .command('start')
  .description('the main job on sample data: local redis-server if REDIS_URL is unset, all stages, produce, wait, summary')
  .option('--input <file>', 'JSONL to produce', 'data/sample.jsonl')
  .option('--timeout <ms>', 'give up if the pipeline is not idle by then', '300000')
  .option('--poll <ms>', 'status poll interval', '250')
  .action(run((o: Record<string, string>) => startCommand({ ...global(), ...o } as never)));

program
  .command('eval')
  .description('run a labelled JSONL set (default: the dev set) through the real pipeline and score it (prints `accuracy: 0.NNN`)')
  .option('--input <file>', 'labelled JSONL: id, title, category, brand?, mpn?', DEFAULT_EVAL_INPUT)
  .option('--limit <n>', 'only the first n records')
  .option('--gtin-share <x>', 'share of titles given a valid generated GTIN', '0.15')
  .option('--bad-gtin-share <x>', 'share of titles given an invalid GTIN', '0.05')
  .option('--seed <n>', 'augmentation seed', '7')
  .option('--timeout <ms>', 'give up if the pipeline is not idle by then', '900000')
  .option('--json <file>', 'also write the scores as JSON')
  .option('--dump <file>', 'write each record with its truth, outcome and predictions as JSONL (error analysis)')
  .action(run((o: Record<string, string>) => evalCommand({ ...global(), ...o } as never)));

await program.parseAsync(process.argv);
