import { Command } from 'commander';
import type { GlobalOptions } from './common.js';
import { maxLagOption, nonNegativeMs, positiveInt, positiveMs, runIdValue, waitReplicasValue } from './option-values.js';
import { REPLICA_DROP_OPTION as replicaDrop, RUN_ID_OPTION, WAIT_OPTION, WAIT_PROGRESS_OPTION, WAIT_TIMEOUT_OPTION } from './option-values.js';

/** `pipeline produce` (scripts/commands/produce.ts, imported when it runs). */
export function produceProgram(global: () => GlobalOptions, run: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void): Command {
  return new Command('produce')
    .description('read JSONL (file or stdin) and add each record to the input stream; bad lines are reported and kept')
    .argument('[file]', 'JSONL file (default, or -: stdin)')
    .option('--rejects <file>', 'append rejected lines here as JSONL', 'rejects.jsonl')
    .option('--batch <n>', 'XADDs per pipelined round trip', positiveInt, '500')
    .option(
      '--wait-replicas <n>',
      'a batch counts as produced once n replicas of its master have it (WAIT per master; re-sent until then, see --retry-for); auto = 1 when its master has a connected replica, else 0; 0 = off',
      waitReplicasValue,
      'auto',
    )
    .option(
      '--retry-for <ms>',
      're-send a batch while Redis is unreachable, full (OOM), unable to persist (MISCONF), at maxclients, failing over, or too few replicas acknowledge, for up to ms, saying so on stderr (exactly-once batches make this safe); 0 = fail at the first error (default: 30000)',
      nonNegativeMs,
    )
    .option(...replicaDrop, nonNegativeMs)
    .option(
      '--backpressure-poll <ms>',
      'while the input lag is above limits.maxLag or Redis is full, check again every ms (waits, says so on stderr)',
      positiveMs,
      '500',
    )
    .addOption(maxLagOption('a bulk load'))
    .option(
      '--lane-buffer <bytes>',
      'each shard has its own lane (a shard whose master fails over waits alone, within --retry-for, the others go on): the bytes of records one lane may hold unacknowledged before the reader waits for it (default: 16777216)',
      positiveInt,
    )
    .option(...RUN_ID_OPTION, runIdValue)
    .addOption(WAIT_OPTION)
    .addOption(WAIT_TIMEOUT_OPTION)
    .addOption(WAIT_PROGRESS_OPTION)
    .option('--json', 'with --wait off a terminal: the progress lines as JSON (`produce.waiting`)')
    .action(
      run(async (file: string | undefined, o: Record<string, string>) => {
        const { produceCommand } = await import('./produce.js');
        await produceCommand(file, { ...global(), ...o } as never);
      }),
    );
}
