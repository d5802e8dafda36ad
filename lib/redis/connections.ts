import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

export interface ConnectionOptions {
  /** redis:// or rediss:// URL (user and password allowed). */
  url: string;
  /** Prefix of every CLIENT SETNAME, e.g. the stage name. */
  name: string;
  logger: Logger;
  /** First reconnect delay; doubles up to `reconnectMaxMs`, with full jitter. @defaultValue 100 */
  reconnectBaseMs?: number;
  /** @defaultValue 5000 */
  reconnectMaxMs?: number;
  /** Called on every connection error (for metrics). */
  onError?: (err: Error, connection: string) => void;
}

/**
 * A process's Redis connections: one shared, auto-pipelined connection for commands, plus one
 * dedicated connection per blocking reader (a blocked XREADGROUP holds its socket). Nothing else
 * opens connections, so the count is fixed by the number of readers, whatever the load.
 * Connection errors (server down, maxclients reached) reconnect with jittered backoff and never
 * throw out of here; commands queue until the connection is back.
 */
export class Connections {
  private shared?: Redis;
  private readonly readers = new Map<string, Redis>();
  private closing?: Promise<void>;

  constructor(private readonly opts: ConnectionOptions) {}

  private options(connectionName: string, extra: RedisOptions = {}): RedisOptions {
    const base = this.opts.reconnectBaseMs ?? 100;
    const max = this.opts.reconnectMaxMs ?? 5_000;
    return {
      connectionName,
      // Never give up on a command because the connection dropped: it waits for the reconnect.
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      retryStrategy: (times) => Math.random() * Math.min(max, base * 2 ** Math.min(times, 16)),
      // "max number of clients reached" arrives as an error reply to the handshake: reconnect.
      reconnectOnError: (err) => /max number of clients|READONLY|LOADING/.test(err.message),
      ...extra,
    };
  }

  private open(connectionName: string, extra?: RedisOptions): Redis {
    const client = new Redis(this.opts.url, this.options(connectionName, extra));
    let lastLogged = 0;
    client.on('error', (err: Error) => {
      this.opts.onError?.(err, connectionName);
      // One log line per second per connection at most: a down server must not flood the logs.
      const now = Date.now();
      if (now - lastLogged > 1_000) {
        lastLogged = now;
        this.opts.logger.warn('redis.connection_error', { connection: connectionName, err });
      }
    });
    return client;
  }

  /** The shared command connection (auto-pipelined: concurrent commands go out in one write). */
  command(): Redis {
    this.shared ??= this.open(`${this.opts.name}:cmd`, { enableAutoPipelining: true });
    return this.shared;
  }

  /** The dedicated blocking connection for one reader, created on first use. */
  reader(label: string): Redis {
    let r = this.readers.get(label);
    if (!r) {
      r = this.open(`${this.opts.name}:${label}`);
      this.readers.set(label, r);
    }
    return r;
  }

  /** How many connections this process holds (readers + the shared one once used). */
  get count(): number {
    return this.readers.size + (this.shared ? 1 : 0);
  }

  /** QUIT every connection (memoised: a second call waits for the first). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.readers.values(), ...(this.shared ? [this.shared] : [])];
      await Promise.all(
        all.map(async (c) => {
          try {
            await c.quit();
          } catch {
            c.disconnect(); // already broken: drop the socket, nothing is pending on it
          }
        }),
      );
    })();
    return this.closing;
  }
}
