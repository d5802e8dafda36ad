import type { Redis } from 'ioredis';
import { ensureLibrary, isFunctionNotFound, library, type FunctionLibrary } from './functions.js';
import { EncodedCommand, type RespArg } from './resp.js';

type Arg = RespArg;

/**
 * One of the pipeline's Lua scripts (lib/lua/<name>.lua), called as a function of the pipeline's
 * Redis Functions library (lib/redis/functions.ts) with FCALL. When the server does not have the
 * library (a fresh or flushed server, a new master), the call loads it if this user may
 * (`FUNCTION LOAD`) and is sent again; if it may not, FunctionsMissingError (transient: the
 * caller retries later, an admin loads it with `pipeline acl --apply`).
 */
export class Script {
  /** The FCALL function name (`sle_<version>_<name>`). */
  readonly fn: string;
  private readonly lib: FunctionLibrary;

  constructor(
    readonly name: string,
    lib = library(),
  ) {
    const fn = lib.functions.get(name);
    if (!fn) throw new Error(`no Lua script lib/lua/${name}.lua`);
    this.fn = fn;
    this.lib = lib;
  }

  /** Through the client's command methods: on an auto-pipelined connection, concurrent calls share one write. */
  run<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    return this.withLibrary(client, () => client.fcall(this.fn, keys.length, ...keys, ...args) as Promise<T>, keys);
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

  /** Run `call`; on "Function not found", load the library (if this user may) and run it once more. */
  async withLibrary<T>(client: Redis, call: () => Promise<T>, keys: readonly string[] = []): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!isFunctionNotFound(err)) throw err;
      await ensureLibrary(client, this.lib, keys.slice(0, 1));
      return await call();
    }
  }

  private send<T>(client: Redis, keys: readonly string[], args: readonly Arg[], replyEncoding: BufferEncoding | null): Promise<T> {
    return this.withLibrary(
      client,
      () => client.sendCommand(new EncodedCommand('fcall', [this.fn, keys.length, ...keys, ...args], replyEncoding)) as Promise<T>,
      keys,
    );
  }
}
