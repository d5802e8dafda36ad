/**
 * The ioredis internals the runtime relies on, checked against the installed ioredis, so an
 * upgrade that changes them fails here instead of breaking the hand-off silently
 * (docs/development.md "ioredis"). They are not public API, so package.json pins ioredis exactly.
 *
 * - lib/redis/resp.ts `EncodedCommand`: ioredis writes `command.toWritable(socket)` to the socket,
 *   and a `Command` keeps its `name` and `args` as given.
 * - lib/redis/url.ts `routeSubcommandKeys`: a `Command` whose `keys` field is set before it is sent
 *   takes its cluster slot from those keys (`getSlot()`).
 * - lib/redis/url.ts `dropStrayMasters`: every command of a Cluster client (a pipeline's too) goes
 *   through its `sendCommand(command, stream, node)` (`node.slot` for a pipeline's), which an
 *   instance may wrap; a new slot map emits `refresh` and sits in `slots` (slot → node keys).
 *   test/topologies/cluster-failover-sockets.test.ts runs it on a real cluster.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, Command } from 'ioredis';
import { encodeCommand, EncodedCommand } from '../../lib/redis/resp.js';
import { client, startRedis } from '../helpers/redis.js';

const json = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));

test('package.json pins ioredis exactly, to the version installed', () => {
  const pinned: string = json('../../package.json').dependencies.ioredis;
  assert.match(pinned, /^\d+\.\d+\.\d+$/, `ioredis must be pinned to an exact version (got ${pinned}): its internals are used`);
  assert.is(json('../../node_modules/ioredis/package.json').version, pinned, 'the installed ioredis is the pinned one');
});

test('a Command keeps name and args as given (EncodedCommand encodes from them)', () => {
  const args = ['k', Buffer.from([1, 2]), 3];
  const c = new Command('evalsha', args, { replyEncoding: null });
  assert.is(c.name, 'evalsha');
  assert.is(c.args.length, 3);
  assert.is(c.args[0], 'k');
  assert.ok(Buffer.isBuffer(c.args[1]));
  assert.is(String(c.args[2]), '3', 'numbers may become strings: encodeCommand takes both');
});

test('ioredis writes what toWritable returns: an override decides the bytes on the wire', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  try {
    // The command says GET, its toWritable says SET: the server must see the SET.
    class Rewritten extends Command {
      override toWritable(): Buffer {
        return encodeCommand('set', ['contract:k', 'written by toWritable']);
      }
    }
    assert.is(await redis.sendCommand(new Rewritten('get', ['contract:k'], { replyEncoding: 'utf8' })), 'OK', 'the reply is the SET one');
    assert.is(await redis.get('contract:k'), 'written by toWritable');
    const sent = new EncodedCommand('set', ['contract:e', 'v']);
    assert.is(await redis.sendCommand(sent), 'OK');
    assert.is(await redis.get('contract:e'), 'v');
  } finally {
    redis.disconnect();
    await server.close();
  }
});

test('a Command with keys set before sending takes its cluster slot from them; ioredis gives XINFO/XGROUP none by itself', () => {
  const plain = new Command('xinfo', ['STREAM', '{p}:classify']);
  // If ioredis learns XINFO's key, routeSubcommandKeys (lib/redis/url.ts) may go: this tells us.
  assert.is(plain.getSlot(), null, 'ioredis now knows the key of XINFO STREAM: routeSubcommandKeys may be unnecessary');
  const keyed = new Command('xinfo', ['STREAM', '{p}:classify']);
  (keyed as unknown as { keys: unknown[] }).keys = ['{p}:classify'];
  const reference = new Command('get', ['{p}:classify']).getSlot();
  assert.type(reference, 'number');
  assert.is(keyed.getSlot(), reference, 'the preset key decides the slot');
});

test('a Cluster client sends through an own sendCommand(command, stream, node) and keeps its slot map in slots', () => {
  assert.is(Cluster.prototype.sendCommand.length, 3, 'sendCommand(command, stream, node)');
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
  try {
    assert.ok(Array.isArray(cluster.slots), 'slots: slot → node keys');
    const seen: unknown[] = [];
    const send = cluster.sendCommand.bind(cluster);
    cluster.sendCommand = (command, stream, node) => (seen.push(command.name), send(command, stream, node));
    void cluster.get('{p}:k').catch(() => {});
    assert.equal(seen, ['get'], 'a command goes through the instance’s sendCommand');
  } finally {
    cluster.disconnect();
  }
});

test.run();
