import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacedConnection } from '../../bench/pacer.js';
import { encodeCommand } from '../../lib/redis/resp.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const { hostname, port } = new URL(server.url);

test('the bench pacer: every XADD of many writes lands, replies split across reads are all counted', async () => {
  const conn = await PacedConnection.open(hostname, Number(port));
  const stream = `${randomPipeline()}:in`;
  const big = Buffer.alloc(3000, 120); // replies and commands cross TCP read boundaries
  for (let tick = 0; tick < 50; tick++) conn.write(Array.from({ length: 40 }, (_, i) => encodeCommand('XADD', [stream, '*', 'k', `r${tick}-${i}`, 'e', big])));
  await conn.drain();
  assert.is(await redis.xlen(stream), 2000);
  conn.close();
});

test('the bench pacer: an error reply fails the drain with Redis’s message, the other commands still land', async () => {
  const conn = await PacedConnection.open(hostname, Number(port));
  const key = `${randomPipeline()}:str`;
  await redis.set(key, 'x');
  const stream = `${randomPipeline()}:in`;
  conn.write([encodeCommand('XADD', [stream, '*', 'k', 'a']), encodeCommand('XADD', [key, '*', 'k', 'b']), encodeCommand('XADD', [stream, '*', 'k', 'c'])]);
  assert.match(await failure(conn.drain()), /1 command\(s\) failed, first: WRONGTYPE/);
  assert.is(await redis.xlen(stream), 2);
  conn.close();
});

test('the bench pacer: a connection lost with replies outstanding fails the drain instead of hanging', async () => {
  const conn = await PacedConnection.open(hostname, Number(port));
  const stream = `${randomPipeline()}:in`;
  // BLPOP holds its reply; the kill then closes the connection with it outstanding.
  conn.write([encodeCommand('CLIENT', ['SETNAME', 'pacer-test']), encodeCommand('BLPOP', [`${stream}:never`, 0])]);
  await new Promise((r) => setTimeout(r, 100));
  await redis.client('KILL', 'SKIPME', 'yes', 'TYPE', 'normal', 'ID', String(await clientId(redis, 'pacer-test')));
  assert.match(await failure(conn.drain()), /connection closed with 1 replies outstanding/);
  conn.close();
});

/** The message `p` rejects with; fails the test if it resolves. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new assert.Assertion({ message: 'expected a rejection', generated: false, operator: 'rejects', expects: 'rejection', actual: 'resolved' });
}

async function clientId(r: typeof redis, name: string): Promise<number> {
  const list = String(await r.client('LIST'));
  const line = list.split('\n').find((l) => l.includes(`name=${name} `));
  if (!line) throw new Error(`no client named ${name}`);
  return Number(/\bid=(\d+)/.exec(line)![1]);
}

test.run();
