import { Command } from 'commander';
import type { GlobalOptions } from './common.js';
import { positiveMs } from './option-values.js';

/** `pipeline revoke` (scripts/commands/revoke.ts, imported when it runs). */
export function revokeProgram(global: () => GlobalOptions, run: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => void): Command {
  return new Command('revoke')
    .description(
      'revoke ids (Celery revoke): a version submitted before this is acked unprocessed by the next stage that reads it, its trip ending revoked; an id whose trip ended is left as it is (exit 6); ids not seen yet are revoked too',
    )
    .argument('<id...>', 'product ids')
    .option('--reason <text>', 'why, kept with the revoke and logged by the stage that acks it')
    .option('--force', 'revoke an id whose last trip ended too: a version of it produced again since (pipeline produce writes no queued status) is revoked')
    .option('--wait', 'then wait for each id to end, and print how it ended: revoked, or what it became (a record in the hands of the store is stored; exit 6)')
    .option('--wait-timeout <ms>', 'with --wait: stop waiting after ms (exit 5 when some id has not ended; default: no deadline)', positiveMs)
    .option('--json', 'one JSON line per id on stdout')
    .action(
      run(async (ids: string[], o: { reason?: string; force?: boolean; wait?: boolean; waitTimeout?: string; json?: boolean }) => {
        const { revokeCommand } = await import('./revoke.js');
        await revokeCommand(ids, { ...global(), ...o });
      }),
    );
}
