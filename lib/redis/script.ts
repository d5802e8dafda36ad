import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';

type Arg = string | Buffer | number;
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

  async run<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    try {
      return (await client.evalsha(this.sha, keys.length, ...keys, ...args)) as T;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return (await client.eval(this.source, keys.length, ...keys, ...args)) as T;
    }
  }
}
