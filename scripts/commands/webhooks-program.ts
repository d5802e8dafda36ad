import { Command } from 'commander';
import type { GlobalOptions } from './common.js';
import type { DlqSelectOptions } from './dlq.js';
import { positiveInt } from './option-values.js';

type Run = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void;
type ParentPollOption = readonly [string, string, (v: string) => string, string];

const LISTER = 'pipeline webhooks dlq list';
/** The modules that run them are imported when they run (as program.ts's `lazy`: a worker's cold start loads none of it). */
const loadDeliveries = () => import('./webhooks.js');
const loadDeadLetters = () => import('./webhooks-dlq.js');

/**
 * `pipeline webhooks` (the deliveries, scripts/commands/webhooks.ts) and its subcommand `dlq
 * list|redeliver|purge` (scripts/commands/webhooks-dlq.ts): commander runs the command's own action
 * when no subcommand is named, so `pipeline webhooks` alone works as before.
 */
export function webhooksProgram(global: () => GlobalOptions, run: Run, parentPollOption: ParentPollOption): Command {
  const webhooks = new Command('webhooks')
    .description(
      "POST each completion (stored, review, dead_lettered, revoked) to the config's webhooks, signed (docs/webhooks.md): at least once, retried with backoff, then to {p}:webhooks:dlq; several processes share the work; secrets from each webhook's secretEnv",
    )
    .option(...parentPollOption)
    .action(run(async (o: { parentPollMs?: string }) => (await loadDeliveries()).webhooksCommand({ ...global(), ...o })));

  const dlq = webhooks.command('dlq').description('webhook dead letters ({p}:webhooks:dlq): list, redeliver to their webhook, purge');
  dlq
    .command('list')
    .description('webhook dead letters, oldest first: id, webhook, event id, key, reason, attempts, status, last error, age')
    .option('--webhook <name>', 'only this webhook')
    .option('--count <n>', 'at most n entries', positiveInt, '100')
    .option('--json', 'one JSON object per line')
    .action(run(async (o: { webhook?: string; count: string; json?: boolean }) => (await loadDeadLetters()).webhooksDlqList(global(), o)));
  dlq
    .command('redeliver')
    .description(
      "POST dead letters again to their webhook's URL (current config, signed with its secret, the original event id); a 2xx deletes the entry; any failure exits 1",
    )
    .option('--id <id...>', `these entry ids (<shard>/<id> when the pipeline is sharded, as \`${LISTER}\` prints them)`)
    .option('--all', 'every webhook dead letter present now (oldest first)')
    .option('--webhook <name>', "only this webhook's entries")
    .option('--count <n>', 'at most n (per shard, when the pipeline is sharded)', positiveInt)
    .action(run(async (o: DlqSelectOptions & { webhook?: string }) => (await loadDeadLetters()).webhooksDlqRedeliver(global(), o)));
  dlq
    .command('purge')
    .description('delete webhook dead letters for good; prints the count')
    .option('--id <id...>', `these entry ids (<shard>/<id> when the pipeline is sharded, as \`${LISTER}\` prints them)`)
    .option('--all', 'every webhook dead letter present now')
    .option('--webhook <name>', "only this webhook's entries")
    .action(run(async (o: DlqSelectOptions & { webhook?: string }) => (await loadDeadLetters()).webhooksDlqPurge(global(), o)));
  return webhooks;
}
