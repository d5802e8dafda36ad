import type { Redis } from 'ioredis';
import type { LogSettings } from '../config/types.js';
import type { LogSink } from './logger.js';
import { noopMetrics, type Metrics } from './metrics.js';
import { settleWithin } from '../core/periodic.js';

const stdoutSink: LogSink = (line) => process.stdout.write(line + '\n');

export interface LogStreamOptions extends LogSettings {
  /** The stream key, `{p}:logs` (Keys.extra('logs')). */
  key: string;
  /** Where every line also goes (and where the log stream's own troubles are reported). @defaultValue stdout */
  next?: LogSink;
}

/**
 * An optional central log sink: every log line, besides stdout, is appended to a capped stream
 * (`XADD {p}:logs MAXLEN ~ maxLen * log <json>`), so `XREVRANGE {p}:logs + - COUNT 50` shows the
 * last lines of every worker. It opens no connection: it writes through the process's shared,
 * auto-pipelined command connection (`attach`). Logging never waits for Redis: `tee()` only
 * pushes to a buffer, flushed every `flushIntervalMs` in one round trip, one flush at a time;
 * past `maxBuffered` waiting lines the oldest are dropped and counted (`logs.dropped`).
 */
export class LogStream {
  private buffer: string[] = [];
  private redis?: Redis;
  private metrics: Metrics = noopMetrics;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private closed = false;
  private lastReport = 0;
  dropped = 0;
  written = 0;

  constructor(private readonly opts: LogStreamOptions) {}

  private get next(): LogSink {
    return this.opts.next ?? stdoutSink;
  }

  /** A LogSink for createLogger: writes to `next` and buffers the line for the stream. */
  tee(): LogSink {
    return (line) => {
      this.next(line);
      if (this.closed) return;
      this.buffer.push(line);
      if (this.buffer.length > this.opts.maxBuffered) this.drop(this.buffer.length - this.opts.maxBuffered, 'buffer_full');
    };
  }

  /** Start flushing through `redis` (the shared command connection). */
  attach(redis: Redis, metrics: Metrics = noopMetrics): void {
    this.redis = redis;
    this.metrics = metrics;
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.timer.unref();
  }

  private drop(n: number, reason: string): void {
    this.buffer.splice(0, n);
    this.dropped += n;
    this.metrics.increment('logs.dropped', n);
    // Reported on `next` only (never into the buffer, which would feed itself), at most once a minute.
    if (Date.now() - this.lastReport > 60_000) {
      this.lastReport = Date.now();
      this.next(JSON.stringify({ ts: new Date().toISOString(), level: 'warn', event: 'logs.dropped', reason, dropped: this.dropped, key: this.opts.key }));
    }
  }

  /** Write what is buffered now; one flush at a time (a second call waits for the first). */
  flush(): Promise<void> {
    if (this.flushing || !this.redis || this.buffer.length === 0) return this.flushing ?? Promise.resolve();
    const lines = this.buffer;
    this.buffer = [];
    const redis = this.redis;
    const { key, maxLen } = this.opts;
    this.flushing = (async () => {
      try {
        const pipeline = redis.pipeline();
        for (const line of lines) pipeline.xadd(key, 'MAXLEN', '~', maxLen, '*', 'log', line);
        const results = (await pipeline.exec()) ?? [];
        const failed = results.filter(([err]) => err).length;
        this.written += lines.length - failed;
        if (failed > 0) this.countFailed(failed, results.find(([err]) => err)![0]!);
      } catch (err) {
        this.countFailed(lines.length, err);
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private countFailed(n: number, err: unknown): void {
    this.dropped += n;
    this.metrics.increment('logs.dropped', n);
    if (Date.now() - this.lastReport > 60_000) {
      this.lastReport = Date.now();
      this.next(
        JSON.stringify({
          ts: new Date().toISOString(),
          level: 'warn',
          event: 'logs.write_error',
          dropped: n,
          key: this.opts.key,
          err: { message: err instanceof Error ? err.message : String(err) },
        }),
      );
    }
  }

  /**
   * Stop the timer and write what is left (call before the connection closes). Waits at most one
   * `flushIntervalMs`: with Redis down, shutdown must not hang on logs.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const drain = (async () => {
      await this.flushing;
      await this.flush();
    })();
    await settleWithin(drain, this.opts.flushIntervalMs);
    this.closed = true;
  }
}
