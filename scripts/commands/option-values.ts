import { InvalidArgumentError, Option } from 'commander';
import { RUN_ID, RUN_ID_TEXT } from '../../lib/producer/producer.js';

/**
 * Checks of the CLI's numeric and enumerated options, run by commander as it parses: a bad value
 * stops the command before anything runs, with `error: option '--batch <n>' argument 'abc' is
 * invalid. Expected a positive integer.` (exit 1). The value stays the text given; each command
 * converts it.
 */
const check =
  (ok: (n: number) => boolean, expected: string) =>
  (value: string): string => {
    if (value.trim() === '' || !ok(Number(value))) throw new InvalidArgumentError(`Expected ${expected}.`);
    return value;
  };

export const positiveInt = check((n) => Number.isInteger(n) && n >= 1, 'a positive integer');
/** Node's timers take at most 2^31-1 ms: a larger delay fires at once (with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const positiveMs = check((n) => Number.isInteger(n) && n >= 1 && n <= MAX_TIMER_MS, `a positive integer of ms, at most ${MAX_TIMER_MS}`);
export const nonNegativeMs = check((n) => Number.isInteger(n) && n >= 0 && n <= MAX_TIMER_MS, `an integer of ms from 0 to ${MAX_TIMER_MS}`);
/** A TTL in seconds that Redis takes as ms (PEXPIRE): at most 2^31-1 s (68 years). */
export const positiveSeconds = check((n) => Number.isInteger(n) && n >= 1 && n <= MAX_TIMER_MS, `a positive integer of seconds, at most ${MAX_TIMER_MS}`);
export const nonNegativeInt = check((n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
export const integer = check(Number.isInteger, 'an integer');
export const port = check((n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port number, 0-65535');
export const atLeastOne = check((n) => n >= 1, 'a number >= 1');
export const share = check((n) => n >= 0 && n <= 1, 'a number from 0 to 1');

export const oneOf =
  (values: readonly string[]) =>
  (value: string): string => {
    if (!values.includes(value)) throw new InvalidArgumentError(`Expected one of ${values.join(', ')}.`);
    return value;
  };

/** `produce --wait-replicas`: `auto` or an integer >= 0. */
export const waitReplicasValue = (value: string): string => {
  if (value !== 'auto' && !/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected auto or an integer >= 0.');
  return value;
};

/** `produce --run-id`: checked before the run, which had failed naming `produce.runId` after telling to resume with the same bad id. */
export const runIdValue = (value: string): string => {
  if (!RUN_ID.test(value)) throw new InvalidArgumentError(`Expected ${RUN_ID_TEXT}.`);
  return value;
};

/** `produce` and `reprocess --max-lag <n>`: a bulk run held below the stages' maxLag (capMaxLag, lib/producer/backpressure.ts). */
export const maxLagOption = (what: string) =>
  new Option(
    '--max-lag <n>',
    `hold the backlog at n (every stage's maxLag lowered to n for this run): ${what} leaves the HTTP API room under maxLag, and an API record waits behind about n entries (default: the stages' maxLag)`,
  ).argParser(positiveInt);

/** `produce --replica-drop <ms>`: its flag and help (ProduceOptions.replicaDropMs). */
export const REPLICA_DROP_OPTION = [
  '--replica-drop <ms>',
  'with --wait-replicas auto: a master whose replica count fell (its replica gone) is believed to have lost it once that has lasted ms; a batch waits that out whatever --retry-for, then goes on without WAIT, saying so (default: 30000)',
] as const;

/** `produce --run-id <id>`: its flag and help (ProduceOptions.runId). */
export const RUN_ID_OPTION = [
  '--run-id <id>',
  'name this run; after a crash or Ctrl-C, produce the same input with the same --run-id to resume (any --batch): records that went in are skipped, and an input that is not the one the run started on is refused (state kept 7 days; unnamed runs print their id when stopped)',
] as const;

/** `produce --wait` (scripts/commands/produce-wait.ts). */
export const WAIT_OPTION = new Option(
  '--wait',
  'then wait until every record this run sent is stored, sent to review, dead-lettered or revoked, and print how many of each (exit 4: some dead-lettered; 5: some still in flight at --wait-timeout)',
);

/** `produce --wait-timeout <ms>`: no deadline by default (how long a feed takes depends on its size, its models and the other traffic). */
export const WAIT_TIMEOUT_OPTION = new Option(
  '--wait-timeout <ms>',
  'with --wait: stop waiting ms after the last record went in (default: no deadline)',
).argParser(positiveMs);

/** `produce --wait`'s progress line off a terminal (CI, cron): every this many ms (scripts/commands/produce-wait.ts). */
export const DEFAULT_WAIT_PROGRESS_MS = 10_000;

/** `produce --progress-every <ms>`: on a terminal the wait's line is redrawn in place instead. */
export const WAIT_PROGRESS_OPTION = new Option(
  '--progress-every <ms>',
  `with --wait and stderr not a terminal (CI, cron): a progress line on stderr every ms (how many ids are stored, review, revoked, dead-lettered, in flight); 0 = none (default: ${DEFAULT_WAIT_PROGRESS_MS})`,
).argParser(nonNegativeMs);
