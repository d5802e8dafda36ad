import { ConfigError } from '../core/errors.js';
import { fromEnv } from '../core/env-origin.js';

/** How long a CLI command waits for Redis to answer one command, unless env REDIS_COMMAND_TIMEOUT_MS says otherwise. */
export const CLI_COMMAND_TIMEOUT_MS = 10_000;

/**
 * The CLI's command timeout (`pipeline status`, `produce`, `dlq`, ...): env REDIS_COMMAND_TIMEOUT_MS
 * in ms (0: none), else CLI_COMMAND_TIMEOUT_MS. A Redis that takes connections but answers nothing
 * (a frozen process or machine, a proxy in front of a dead server) then fails the command as
 * unreachable (exit 10), or a `produce` batch waits it out within `--retry-for`, instead of the
 * command waiting for ever. Longer than any one command the CLI sends (`WAIT` is 1 s).
 * @defaultValue 10000
 */
export function cliCommandTimeoutMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.REDIS_COMMAND_TIMEOUT_MS;
  if (text === undefined || text.trim() === '') return CLI_COMMAND_TIMEOUT_MS;
  if (!/^\s*\d+\s*$/.test(text))
    throw new ConfigError(fromEnv('REDIS_COMMAND_TIMEOUT_MS'), `expected a number of ms >= 0 (0: none), got ${JSON.stringify(text)}`);
  const ms = Number(text);
  return ms === 0 ? undefined : ms;
}
