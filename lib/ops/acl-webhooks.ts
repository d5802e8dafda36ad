import type { ResolvedConfig } from '../config/types.js';
import { Keys } from '../redis/keys.js';
import type { KeyGrant } from './acl-grants.js';

/** The env var that hands the webhooks user's URL to `pipeline webhooks` (taken over REDIS_URL when set, as the API takes PIPELINE_API_REDIS_URL). */
export const WEBHOOKS_REDIS_URL_ENV = 'PIPELINE_WEBHOOKS_REDIS_URL';

/**
 * What `pipeline webhooks` (lib/webhooks/) touches, and nothing else: its groups on every shard's
 * completion stream `{p}:done` (created and moved past a trimmed gap by webhook-group-1.lua and
 * webhook-missed-1.lua, through FCALL: the scripts' commands are checked against these rules
 * too), read, acked and claimed, the consumers of processes that are gone removed (delete-idle-consumer-1.lua); XADD to the webhook dead-letter streams `{p}:webhooks:dlq`, in one
 * step with the XACK (webhook-dead-letter-2.lua; MULTI/EXEC stay granted for a reader of the release
 * before, during an upgrade). Not: writing completions, any stage stream, the store, FUNCTION LOAD
 * (`pipeline acl --apply` loads the library as the admin).
 */
export function webhooksGrants(config: ResolvedConfig): { scriptKeys: string[]; selectors: KeyGrant[]; rootCommands: string[]; summary: string } {
  const shards = Keys.shards(config.pipeline, config.shards);
  const done = shards.map((k) => k.done);
  const dlq = shards.map((k) => k.webhooksDlq);
  const selectors: KeyGrant[] = [
    {
      keys: done,
      mode: 'rw',
      commands: [
        'exists',
        'xinfo|stream',
        'xinfo|groups',
        'xgroup|create',
        'xgroup|setid',
        'xreadgroup',
        'xack',
        'xautoclaim',
        'xclaim',
        // An entry in retry gone from the group: still in the stream (another process acked it) or trimmed (reader.ts).
        'xrange',
        'xinfo|consumers',
        'xgroup|delconsumer',
      ],
    },
    { keys: dlq, mode: 'w', commands: ['xadd'] },
  ];
  return {
    scriptKeys: [...done, ...dlq],
    selectors,
    rootCommands: ['multi', 'exec'],
    summary: `its groups webhook:<name> on ${done.join(', ')} (create, read, ack, claim, move past a trimmed gap); XADD to ${dlq.join(', ')} (pipeline webhooks)`,
  };
}
