/**
 * The local redis-server helper (lib/redis/server.ts) that `npm start`, tests, bench and chaos
 * use: a start that fails says why, and a port taken between pick and bind is picked again.
 */
import { createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PortTakenError } from '../lib/core/errors.js';
import { freePort, RedisServer } from '../lib/redis/server.js';

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

test('a fixed port already taken fails with PortTakenError naming the port and redis-server own words', async () => {
  const port = await freePort();
  const squatter = await occupy(port);
  const server = new RedisServer({ port });
  try {
    const err = await server.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, PortTakenError);
    assert.match((err as Error).message, String(port));
    assert.match((err as Error).message, /address already in use/i);
  } finally {
    squatter.close();
    await server.close();
  }
});

test('a port taken between the pick and the bind is picked again; the attempts are bounded', async () => {
  const taken = await freePort();
  const squatter = await occupy(taken);
  const picks = (first: number) => {
    let n = 0;
    return () => (n++ === 0 ? Promise.resolve(first) : freePort());
  };
  const retried = new RedisServer({ pickPort: picks(taken) });
  const once = new RedisServer({ pickPort: picks(taken), portAttempts: 1 });
  try {
    await retried.start();
    assert.is.not(retried.port, taken);
    const err = await once.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, PortTakenError);
  } finally {
    squatter.close();
    await retried.close();
    await once.close();
  }
});

test.run();
