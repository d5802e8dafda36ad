import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Command } from 'ioredis';
import { encodeCommand, EncodedCommand } from '../../lib/redis/resp.js';
import { client, startRedis } from '../helpers/redis.js';

/** ioredis's own wire form of the same command: the reference the one-pass encoder must match. */
const ioredisBytes = (name: string, args: (string | Buffer | number)[]) => {
  const w = new Command(name, args).toWritable({});
  return typeof w === 'string' ? Buffer.from(w) : w;
};

test('encodes byte for byte as ioredis does: strings, non-ASCII, numbers, empty and binary buffers', () => {
  const args = ['abc', 'Müller – ボルト ✓', 0, 1234567890, '', Buffer.alloc(0), Buffer.from([0, 13, 10, 255]), Buffer.alloc(70_000, 0xc1), 'x'.repeat(10)];
  assert.ok(encodeCommand('fcall', args).equals(ioredisBytes('fcall', args)));
  assert.ok(encodeCommand('ping', []).equals(ioredisBytes('ping', [])), 'no arguments');
});

test('lengths at every digit boundary are written right', () => {
  for (const n of [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000]) {
    const arg = Buffer.alloc(n, 0x61);
    assert.ok(encodeCommand('set', ['k', arg]).equals(ioredisBytes('set', ['k', arg])), `argument of ${n} bytes`);
  }
  const many = Array.from({ length: 1001 }, (_, i) => String(i));
  assert.ok(encodeCommand('rpush', many).equals(ioredisBytes('rpush', many)), '1001 arguments');
});

test('a real server runs an encoded command and answers it', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  try {
    const value = Buffer.from([0, 1, 2, 0xc1, 0xff]);
    assert.is(await redis.sendCommand(new EncodedCommand('set', ['resp:k', value])), 'OK');
    assert.ok((await redis.getBuffer('resp:k'))!.equals(value));
    // The hand-off's form: FCALL of a library function, keys and arguments in one pass.
    await redis.call(
      'FUNCTION',
      'LOAD',
      "#!lua name=resptest\nredis.register_function('resp_echo', function(KEYS, ARGV) return {KEYS[1], ARGV[1], #ARGV} end)",
    );
    const reply = await redis.sendCommand(new EncodedCommand('fcall', ['resp_echo', 1, 'ké', 'ü', 'z']));
    assert.equal(reply, ['ké', 'ü', 2]);
  } finally {
    redis.disconnect();
    await server.close();
  }
});

test.run();
