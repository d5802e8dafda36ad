import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { settleWithin } from '../core/periodic.js';
import { Connections } from '../redis/connections.js';
import { Keys } from '../redis/keys.js';
import { urlUser } from '../redis/noperm.js';
import { WebhookReader } from './reader.js';

export interface WebhooksOptions {
  config: ResolvedConfig;
  /** Webhook name → its secret (lib/config/webhooks.ts webhookSecrets). */
  secrets: ReadonlyMap<string, string>;
  logger: Logger;
  metrics: Metrics;
  /** @defaultValue config.redis.url */
  redisUrl?: string;
  /** Names this process's consumer in every group. @defaultValue `<host>-<pid>-<random>` */
  consumer?: string;
}

/**
 * `pipeline webhooks`: every configured webhook on every completion stream (one per shard), each
 * a WebhookReader with its own blocking connection beside one shared command connection: the
 * process holds webhooks × shards + 1 connections, whatever the load. Several processes share the
 * work through the groups; `stop()` ends the reads and leaves entries in hand pending for the others.
 */
export class Webhooks {
  readonly readers: WebhookReader[] = [];
  private readonly connections: Connections;
  private readonly abort = new AbortController();
  private runs?: Promise<void>;
  private stopping?: Promise<void>;

  constructor(o: WebhooksOptions) {
    const { config } = o;
    // Every reader's sleeps and requests listen on the one stop signal.
    setMaxListeners(0, this.abort.signal);
    const url = o.redisUrl ?? config.redis.url;
    this.connections = new Connections({ url, name: 'webhooks', logger: o.logger });
    const consumer = o.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const shards = Keys.shards(config.pipeline, config.shards);
    for (const hook of config.webhooks) {
      shards.forEach((keys, i) => {
        const shard = config.shards > 1 ? i : undefined;
        this.readers.push(
          new WebhookReader({
            hook,
            secret: o.secrets.get(hook.name) ?? '',
            stream: keys.done,
            dlq: keys.webhooksDlq,
            ...(shard === undefined ? {} : { shard }),
            command: this.connections.command(),
            reader: this.connections.reader(`${hook.name}${shard === undefined ? '' : `:${shard}`}`),
            consumer,
            user: urlUser(url),
            logger: o.logger,
            metrics: o.metrics,
            dlqMaxLen: config.limits.doneMaxLen,
            stop: this.abort.signal,
          }),
        );
      });
    }
  }

  /** Create every group (at the streams' ends), so completions from now on are kept for the webhooks. */
  async ready(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.ensureGroup()));
  }

  /** Start reading (returns at once); `stopped` resolves when every reader has ended. */
  start(): void {
    this.runs ??= Promise.all(this.readers.map((r) => r.run())).then(() => undefined);
  }

  get stopped(): Promise<void> {
    return this.runs ?? Promise.resolve();
  }

  /**
   * End the reads (within one blockMs), cut requests in flight (those entries stay pending, for
   * another process to claim), leave the groups (a consumer that owns nothing; within one blockMs
   * more, Redis down or not), close the connections. A second call waits for the first.
   */
  stop(): Promise<void> {
    return (this.stopping ??= this.stopOnce());
  }

  private async stopOnce(): Promise<void> {
    this.abort.abort();
    const blockMs = Math.max(0, ...this.readers.map((r) => r.blockMs));
    await settleWithin(this.runs, blockMs + 500);
    await Promise.all(this.readers.map((r) => r.leave()));
    await this.connections.close();
    // A read or ack that was in flight when Redis went down is queued for the reconnect, and closing
    // the connection does not fail it: waiting for every reader to end would then never end.
    await settleWithin(this.runs, blockMs + 500);
  }
}
