import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { EncodedCommand, type RespArg } from './resp.js';

type Arg = RespArg;
const LUA_DIR = resolve(import.meta.dirname, '../lua');

/**
 * A Lua script from lib/lua/<name>.lua: SHA computed once, EVALSHA, and EVAL when the server
 * does not have it yet (NOSCRIPT, e.g. after a restart), which also caches it there.
 */
export class Script {
  readonly sha: string;
  readonly source: string;

  constructor(readonly name: string) {
    this.source = readFileSync(resolve(LUA_DIR, `${name}.lua`), 'utf8');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  /** Through the client's command methods: on an auto-pipelined connection, concurrent calls share one write. */
  async run<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    try {
      return (await client.evalsha(this.sha, keys.length, ...keys, ...args)) as T;
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return (await client.eval(this.source, keys.length, ...keys, ...args)) as T;
    }
  }

  /**
   * One large call (hundreds of arguments, e.g. a batch hand-off): encoded in one pass
   * (lib/redis/resp.ts) and written on its own, past the auto-pipeline, which would only add a
   * tick and a copy for a call that fills a write by itself.
   */
  runLarge<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    return this.send<T>(client, keys, args, 'utf8');
  }

  /** A call whose reply holds binary values (e.g. stream entries): bulk replies stay Buffers. */
  runBuffer<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    return this.send<T>(client, keys, args, null);
  }

  private async send<T>(client: Redis, keys: readonly string[], args: readonly Arg[], replyEncoding: BufferEncoding | null): Promise<T> {
    const call = (name: string, first: string) => client.sendCommand(new EncodedCommand(name, [first, keys.length, ...keys, ...args], replyEncoding)) as Promise<T>;
    try {
      return await call('evalsha', this.sha);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await call('eval', this.source);
    }
  }
}

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');
