/**
 * `pipeline functions load` whose FUNCTION LOAD reply was lost with its connection: ioredis sends
 * the load again by itself once it reconnects, and the re-send is refused ("already exists") since
 * the first call loaded the library. The command says the library was loaded on the server, not
 * "loaded on 0 server(s) (already there)".
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { library, libraryPresent } from '../../lib/redis/functions.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { replyLosingProxy } from '../helpers/reply-losing-proxy.js';

const { server, redis } = await redisForFile(test);
const serverPort = Number(new URL(server.url).port);

test('a load whose reply was lost with the connection says the library was loaded on 1 server', async () => {
  await redis.call('FUNCTION', 'FLUSH');
  const file = writeConfig(randomPipeline());
  const proxy = await replyLosingProxy(serverPort, () => libraryPresent(redis), /FUNCTION/i);
  try {
    const load = cli(['--config', file, 'functions', 'load'], `redis://127.0.0.1:${proxy.port}`);
    assert.is(await exited(load), 0, load.output());
    assert.ok(proxy.dropped(), 'the connection was dropped after the load went through');
    assert.match(load.output(), `${library().name}: loaded on 1 server(s)`, load.output());
    assert.not.match(load.output(), 'already there');
    assert.is(await libraryPresent(redis), true);
  } finally {
    proxy.close();
    rmSync(file, { force: true });
  }
});

test('a load where the library is there already says so', async () => {
  const file = writeConfig(randomPipeline());
  try {
    assert.is(await libraryPresent(redis), true);
    const load = cli(['--config', file, 'functions', 'load'], server.url);
    assert.is(await exited(load), 0, load.output());
    assert.match(load.output(), `${library().name}: loaded on 0 server(s)`);
    assert.match(load.output(), '(already there)');
  } finally {
    rmSync(file, { force: true });
  }
});

test.run();
