/**
 * The port picker of `CLUSTER_TEST_PORTS` / `SENTINEL_TEST_PORTS` (test/helpers/cluster.ts
 * portRange): a cluster's nodes pick their ports at once, and two given one port start as one
 * (the second finds the first answering PING there), so `redis-cli --cluster create` saw 5 nodes
 * of 6 and the file failed before its first test.
 */
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portRange } from '../helpers/cluster.js';

test('pickers running at once get distinct ports, each from the range, in order', async () => {
  const pick = portRange('15990-15999');
  const ports = await Promise.all(Array.from({ length: 6 }, () => pick()));
  assert.is(new Set(ports).size, 6, `distinct: ${ports.join(', ')}`);
  assert.ok(
    ports.every((p) => p >= 15990 && p <= 15999),
    `in the range: ${ports.join(', ')}`,
  );
  assert.equal(
    [...ports].sort((a, b) => a - b),
    ports,
    'in order',
  );
});

test('a range whose ports are all taken is an error naming it', async () => {
  const holder = createServer();
  await new Promise<void>((res) => holder.listen(0, '127.0.0.1', res));
  const { port } = holder.address() as AddressInfo;
  try {
    await portRange(`${port}-${port}`)().then(
      () => assert.unreachable('a port that is taken'),
      (err: Error) => assert.match(err.message, `no free port left in ${port}-${port}`),
    );
  } finally {
    holder.close();
  }
});

test.run();
