import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import { ThrottledWarn } from '../observe/throttled-warn.js';
import { shouldReconnect } from '../core/failure-policy.js';
import { asCluster, createClient } from './url.js';
import { dropConnection } from './drop-connection.js';

export interface ConnectionOptions {
  /** redis:// or rediss:// URL (user and password allowed), redis+cluster:// / rediss+cluster:// for a Redis Cluster, or redis+sentinel:// / rediss+sentinel:// for a master behind Sentinel (lib/redis/url.ts). */
  url: string;
  /** Prefix of every CLIENT SETNAME, e.g. the stage name. */
  name: string;
  logger: Logger;
  /** First reconnect delay; doubles up to `reconnectMaxMs`, with full jitter. @defaultValue 100 */
  reconnectBaseMs?: number;
  /** @defaultValue 5000 */
  reconnectMaxMs?: number;
  /**
   * close() waits this long for QUIT to be answered, then drops the socket; a dropped socket still
   * open is destroyed after this long too (ioredis's `disconnectTimeout`, 2000 of its own). @defaultValue 1000
   */
  quitTimeoutMs?: number;
  /** At most one log line per connection-trouble event (error, reconnecting) per connection per this long, with `failures`: how many it stands for. @defaultValue 1000 */
  logEveryMs?: number;
  /** Called on every connection error (for metrics). */
  onError?: (err: Error, connection: string) => void;
  /** A command on the shared connection not answered within this many ms fails ("Command timed out"). @defaultValue none (workers: the watchdog handles a stalled Redis) */
  commandTimeoutMs?: number;
}

/** Label of the shared command connection (`reset('cmd')`, `status('cmd')`). */
export const COMMAND = 'cmd';

/**
 * A process's Redis connections: one shared, auto-pipelined connection for commands, plus one
 * dedicated connection per blocking reader (a blocked XREADGROUP holds its socket). Nothing else
 * opens connections, so the count is fixed by the number of readers, whatever the load: a
 * reconnect replaces a connection's socket, it never adds one.
 * Connection errors (server down, maxclients reached, which the server answers by closing the
 * socket) reconnect with jittered backoff and never throw out of here; commands queue until the
 * connection is back, and commands in flight when it dropped are sent again.
 */
export class Connections {
  private shared?: Redis;
  private trouble = 0;
  private troubleAt = 0;
  private lastError: Error | undefined;
  private readonly readers = new Map<string, Redis>();
  private readonly commandBack = new Set<() => void>();
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
      // Full jitter, so workers refused at maxclients do not all come back at the same instant.
      retryStrategy: (times) => Math.round(Math.random() * Math.min(max, base * 2 ** Math.min(times, 16))),
      // "max number of clients reached" may arrive as an error reply to the handshake: reconnect.
      reconnectOnError: (err) => shouldReconnect(err),
      // disconnect() on a socket that already closed (reconnecting) arms a destroy timer nothing
      // clears: it held the process open that long after close().
      disconnectTimeout: this.opts.quitTimeoutMs ?? 1_000,
      ...extra,
    };
  }

  /** `back`: called each time the connection is ready again after trouble (a reconnect). */
  private open(connectionName: string, extra?: RedisOptions, back?: () => void): Redis {
    // On a cluster URL each of these is an ioredis Cluster: one socket per master it sends to.
    const client = createClient(this.opts.url, this.options(connectionName, extra));
    const every = this.opts.logEveryMs ?? 1_000;
    // A down or full server must not flood the logs: one line per event per interval per connection, with how many it stands for.
    const warnings = new ThrottledWarn(this.opts.logger, every);
    const throttled = (event: string, fields: Record<string, unknown>) => warnings.warn(event, { connection: connectionName, ...fields });
    let lastError: Error | undefined;
    let troubleSince = 0;
    const onError = (err: Error) => {
      this.trouble++;
      this.troubleAt = Date.now();
      lastError = err;
      this.lastError = err;
      troubleSince ||= Date.now();
      this.opts.onError?.(err, connectionName);
      throttled('redis.connection_error', { err });
    };
    client.on('error', onError);
    // A Cluster reports a failing master's socket as 'node error' (the client itself stays up).
    if (asCluster(client)) client.on('node error', onError);
    // A Cluster node whose connection ended (a master killed in a failover) leaves the pool: trouble too.
    if (asCluster(client)) client.on('-node', () => (this.trouble++, (this.troubleAt = Date.now())));
    client.on('reconnecting', (delayMs: number) => {
      this.trouble++;
      this.troubleAt = Date.now();
      troubleSince ||= Date.now();
      throttled('redis.reconnecting', { delayMs, err: lastError });
    });
    client.on('ready', () => {
      if (!troubleSince) return;
      this.troubleAt = Date.now();
      this.opts.logger.info('redis.reconnected', { connection: connectionName, downMs: Date.now() - troubleSince });
      troubleSince = 0;
      lastError = undefined;
      back?.();
    });
    return client;
  }

  /**
   * How many times any connection of this process erred, began to reconnect, or lost a Cluster node. A read sent before
   * the count changed may have been lost with a failed-over master (lib/worker/consumer.ts).
   */
  get troubles(): number {
    return this.trouble;
  }

  /**
   * When (Date.now()) a connection of this process last had trouble or came back from it; 0 when never
   * (lib/worker/reclaimer.ts: keys that expired in Redis meanwhile, while nobody could rewrite them).
   */
  get lastTroubleAt(): number {
    return this.troubleAt;
  }

  /** The longest reconnect delay: how much later than this process another one may be back after Redis is. */
  get reconnectMaxMs(): number {
    return this.opts.reconnectMaxMs ?? 5_000;
  }

  /** The last error any connection of this process reported (a refusal at connect: credentials, database, TLS). */
  get lastConnectionError(): Error | undefined {
    return this.lastError;
  }

  /** The shared command connection (auto-pipelined: concurrent commands go out in one write). */
  command(): Redis {
    this.shared ??= this.open(
      `${this.opts.name}:${COMMAND}`,
      { enableAutoPipelining: true, ...(this.opts.commandTimeoutMs ? { commandTimeout: this.opts.commandTimeoutMs } : {}) },
      () => this.commandBack.forEach((f) => f()),
    );
    return this.shared;
  }

  /**
   * Call `listener` each time the shared command connection is ready again after trouble (a
   * reconnect, e.g. Redis restarted): the watchdog rewrites its
   * liveness keys then (lib/worker/watchdog.ts), not up to an interval later. Returns its removal.
   */
  onCommandBack(listener: () => void): () => void {
    this.commandBack.add(listener);
    return () => void this.commandBack.delete(listener);
  }

  /** The dedicated blocking connection for one reader (`<name>:<label>` in CLIENT LIST), created on first use. */
  reader(label: string): Redis {
    return this.readerNamed(`${this.opts.name}:${label}`);
  }

  /** A blocking reader by its full connection name (the views below name theirs). */
  readerNamed(connectionName: string): Redis {
    let r = this.readers.get(connectionName);
    if (!r) {
      r = this.open(connectionName);
      this.readers.set(connectionName, r);
    }
    return r;
  }

  /**
   * This process's connections as one shard's consumer sees them: the same shared command
   * connection, and reader `label` as `label:<suffix>` (`read` → `read:2`), so each shard of a
   * worker gets its own blocking reader while the process keeps one command connection.
   */
  scoped(suffix: string): Connections {
    return new ConnectionsView(this, this.opts, this.opts.name, suffix);
  }

  /**
   * This process's connections as another stage running in it sees them (stages sharing a
   * process, lib/config/processes.ts): the same shared command connection, and that stage's own
   * blocking readers, named `<name>:<label>` (e.g. `classify:host-pid-0:read`). Closed with the process's.
   */
  forStage(name: string): Connections {
    return new ConnectionsView(this, { ...this.opts, name }, name);
  }

  /** The connection behind a label: `cmd`, or a reader by its full name. */
  protected byName(connectionName: string): Redis | undefined {
    return connectionName === COMMAND ? this.shared : this.readers.get(connectionName);
  }

  private byLabel(label: string): Redis | undefined {
    return this.byName(label === COMMAND ? COMMAND : `${this.opts.name}:${label}`);
  }

  /** ioredis status of a connection (`ready`, `connecting`, `reconnecting`, ...); undefined if never opened. */
  status(label: string): string | undefined {
    return this.byLabel(label)?.status;
  }

  /** status() by full connection name (`cmd` for the command connection). */
  statusNamed(connectionName: string): string | undefined {
    return this.byName(connectionName)?.status;
  }

  /**
   * Drop a connection's socket and reconnect at once. Commands in flight on it are sent again on
   * the new socket (the runtime's commands are safe to repeat: hand-off and upsert are
   * idempotent, a lost XREADGROUP reply leaves entries pending for the reclaimer). Recovers a
   * half-open socket, where a command waits for a reply that never comes. Returns false when
   * the connection is not open.
   */
  reset(label: string): boolean {
    return this.resetNamed(label === COMMAND ? COMMAND : `${this.opts.name}:${label}`);
  }

  /** reset() by full connection name (`cmd` for the command connection). */
  resetNamed(connectionName: string): boolean {
    const c = this.byName(connectionName);
    if (!c || this.closing) return false;
    c.disconnect(true);
    return true;
  }

  /** How many connections this process holds (readers + the shared one once used). */
  get count(): number {
    return this.readers.size + (this.shared ? 1 : 0);
  }

  /** QUIT every connection, dropping any that does not answer in time (memoised: a second call waits for the first). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.readers.values(), ...(this.shared ? [this.shared] : [])];
      const limit = this.opts.quitTimeoutMs ?? 1_000;
      await Promise.all(
        all.map(async (c) => {
          // Not connected (Redis down, reconnecting): QUIT would only wait in the offline queue, its
          // commandTimeoutMs armed, holding the process open that long after the close. Dropped now.
          if (c.status !== 'ready') return dropConnection(c);
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), limit)));
          try {
            // A server that is down would keep QUIT queued forever: give it `quitTimeoutMs`.
            if ((await Promise.race([c.quit(), late])) === 'late') dropConnection(c);
          } catch {
            dropConnection(c); // already broken: drop the socket, nothing is pending on it
          } finally {
            clearTimeout(timer);
          }
        }),
      );
    })();
    return this.closing;
  }
}

/**
 * The view `Connections.scoped` and `Connections.forStage` return: reader `label` is the base's
 * reader `<prefix>:<label>[:<suffix>]`; the command connection, the count and close are the base's.
 */
class ConnectionsView extends Connections {
  constructor(
    private readonly base: Connections,
    private readonly viewOpts: ConnectionOptions,
    private readonly prefix: string,
    private readonly suffix?: string,
  ) {
    super(viewOpts);
  }
  private full(label: string): string {
    return label === COMMAND ? COMMAND : `${this.prefix}:${label}${this.suffix === undefined ? '' : `:${this.suffix}`}`;
  }
  override command(): Redis {
    return this.base.command();
  }
  override onCommandBack(listener: () => void): () => void {
    return this.base.onCommandBack(listener);
  }
  override reader(label: string): Redis {
    return this.base.readerNamed(this.full(label));
  }
  override status(label: string): string | undefined {
    return this.base.statusNamed(this.full(label));
  }
  override reset(label: string): boolean {
    return this.base.resetNamed(this.full(label));
  }
  override get count(): number {
    return this.base.count;
  }
  override get troubles(): number {
    return this.base.troubles;
  }
  override get lastTroubleAt(): number {
    return this.base.lastTroubleAt;
  }
  override get reconnectMaxMs(): number {
    return this.base.reconnectMaxMs;
  }
  override get lastConnectionError(): Error | undefined {
    return this.base.lastConnectionError;
  }
  override close(): Promise<void> {
    return this.base.close();
  }
  override scoped(suffix: string): Connections {
    return new ConnectionsView(this.base, this.viewOpts, this.prefix, suffix);
  }
  override forStage(name: string): Connections {
    return this.base.forStage(name);
  }
}
