import { Command } from 'commander';
import type { GlobalOptions } from './common.js';
import { nonNegativeInt, positiveInt } from './option-values.js';

/** `pipeline purge` (scripts/commands/purge.ts, imported when it runs). */
export function purgeProgram(global: () => GlobalOptions, run: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void): Command {
  return new Command('purge')
    .description(
      "dead-letter a stage's waiting entries (read by no consumer yet) with reason purged, never deleted; pending ones stay; `dlq replay --all --reason purged` puts them back; prints a JSON summary",
    )
    .argument('<stage>', 'a stage name')
    .option('--yes', 'do not ask (needed without a terminal)')
    .option('--count <n>', 'at most n entries, oldest first (default: all)', positiveInt)
    .option('--chunk <n>', 'entries per atomic step (default: 500)', positiveInt)
    .option('--shard <n>', 'only this shard (sharded pipelines; default: every shard)', nonNegativeInt)
    .action(
      run(async (stage: string, o: { yes?: boolean; count?: string; chunk?: string; shard?: string }) => {
        const { purgeCommand } = await import('./purge.js');
        await purgeCommand(stage, { ...global(), ...o });
      }),
    );
}
