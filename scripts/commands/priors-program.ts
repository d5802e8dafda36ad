import { Command } from 'commander';
import { PRIOR_SHIFT_DEFAULTS } from '../../lib/models/prior-shift.js';
import type { GlobalOptions } from './common.js';
import { atLeastOne, positiveInt } from './option-values.js';

/** `pipeline priors` (scripts/commands/priors.ts, imported when it runs: it loads the model runtime). */
export function priorsProgram(global: () => GlobalOptions, run: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void): Command {
  return new Command('priors')
    .description(
      "estimate a feed's mix of categories from its unlabelled titles and print the classify stage's settings.categoryWeights for it (docs/models.md, \"Another retailer's mix of categories\")",
    )
    .requiredOption('--input <file>', 'JSONL of the feed: title (description optional; category, if there, only scores the weights)')
    .option('--reference <file>', "JSONL titles of the model's training distribution (default: the held-out tenth of the data set's train.jsonl)")
    .option('--stage <name>', 'classify stage whose model and settings to use (default: the stage of kind classify)')
    .option('--max-weight <x>', 'largest weight a category may get', atLeastOne, String(PRIOR_SHIFT_DEFAULTS.maxWeight))
    .option('--batch <n>', 'titles per model run', positiveInt, '64')
    .option('--json', 'print the estimate as one JSON object')
    .action(
      run(async (o: Record<string, string | boolean>) => {
        const { priorsCommand } = await import('./priors.js');
        await priorsCommand({ ...global(), ...o } as never);
      }),
    );
}
