/**
 * Structured JSON logs: one line per event on stdout (or another sink: `stderrSink` for a command
 * whose stdout is its product, as `pipeline eval`'s report), with fixed context (stage, consumer)
 * merged into every line. Level filtering by LOG_LEVEL (debug|info|warn|error, default info).
 */
import { ConfigError } from '../core/errors.js';
import { fromEnv } from '../core/env-origin.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(context: LogFields): Logger;
}

/** The levels LOG_LEVEL takes (any case), quietest last. */
export const LOG_LEVELS = Object.keys(ORDER) as readonly LogLevel[];

/**
 * The one reading of LOG_LEVEL, for the logger and for the CLI's check at start: its level (any
 * case, spaces around ignored), info when unset or empty; `bad` is the text of a value that is no
 * level (then info too).
 */
export function readLogLevel(raw: string | undefined = process.env.LOG_LEVEL): { level: LogLevel; bad?: string } {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '') return { level: 'info' };
  return v in ORDER ? { level: v as LogLevel } : { level: 'info', bad: raw };
}

/**
 * A LOG_LEVEL that is no level, refused: every `pipeline` command checks it before it runs
 * (scripts/commands/program.ts), where `status` and the other commands that log nothing had
 * ignored it silently. A ConfigError naming the variable and the levels.
 */
export function checkLogLevel(raw: string | undefined = process.env.LOG_LEVEL): void {
  const { bad } = readLogLevel(raw);
  if (bad !== undefined)
    throw new ConfigError(fromEnv('LOG_LEVEL'), `${JSON.stringify(bad)} is no log level: use one of ${LOG_LEVELS.join(', ')} (unset: info)`);
}
let badLevelSaid = false;

const stdoutSink: LogSink = (line) => process.stdout.write(line + '\n');

/** Log lines to stderr: for a command whose stdout is what it makes (a report read by a script), so its logs never mix into it. */
export const stderrSink: LogSink = (line) => process.stderr.write(line + '\n');

/** A logger at `level` (default: LOG_LEVEL's). A library caller's LOG_LEVEL that is no level gives info, said once by the first logger (log.bad_level); the CLI refuses it first. */
export function createLogger(context: LogFields = {}, level: LogLevel = readLogLevel().level, sink: LogSink = stdoutSink): Logger {
  const { bad } = readLogLevel();
  if (bad !== undefined && !badLevelSaid) {
    badLevelSaid = true;
    const rec = { ts: new Date().toISOString(), level: 'warn', event: 'log.bad_level', ...context, value: bad, using: level, levels: LOG_LEVELS };
    sink(JSON.stringify(rec));
  }
  return makeLogger(context, level, sink);
}

function makeLogger(context: LogFields, level: LogLevel, sink: LogSink): Logger {
  const emit = (lvl: LogLevel, event: string, fields?: LogFields) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const rec: LogFields = { ts: new Date().toISOString(), level: lvl, event, ...context, ...fields };
    if (rec.err instanceof Error) rec.err = { name: rec.err.name, message: rec.err.message };
    sink(JSON.stringify(rec));
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
    child: (ctx) => makeLogger({ ...context, ...ctx }, level, sink),
  };
}

/** A logger that writes nothing: for tests and library callers that log themselves. */
export const silentLogger: Logger = makeLogger({}, 'error', () => {});
