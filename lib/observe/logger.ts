/**
 * Structured JSON logs: one line per event on stdout (or another sink: `stderrSink` for a command
 * whose stdout is its product, as `pipeline eval`'s report), with fixed context (stage, consumer)
 * merged into every line. Level filtering by LOG_LEVEL (debug|info|warn|error, default info).
 */
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

/** LOG_LEVEL, or info when unset; a value it does not know is info too, said once by the first logger (log.bad_level). */
function envLevel(): LogLevel {
  const v = (process.env.LOG_LEVEL ?? 'info').toLowerCase();
  return v in ORDER ? (v as LogLevel) : 'info';
}
let badLevelSaid = false;

const stdoutSink: LogSink = (line) => process.stdout.write(line + '\n');

/** Log lines to stderr: for a command whose stdout is what it makes (a report read by a script), so its logs never mix into it. */
export const stderrSink: LogSink = (line) => process.stderr.write(line + '\n');

export function createLogger(context: LogFields = {}, level: LogLevel = envLevel(), sink: LogSink = stdoutSink): Logger {
  const raw = process.env.LOG_LEVEL;
  if (raw !== undefined && !(raw.toLowerCase() in ORDER) && !badLevelSaid) {
    badLevelSaid = true;
    const rec = { ts: new Date().toISOString(), level: 'warn', event: 'log.bad_level', ...context, value: raw, using: level, levels: Object.keys(ORDER) };
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
