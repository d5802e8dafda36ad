/**
 * An audit line whose reply was lost with its connection is sent again by ioredis itself once it
 * reconnects; the first call had written the line, so the re-send wrote a second one (the audit
 * trail showed the action twice). The line is written once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { audit, auditKey, readAudit } from '../../lib/ops/audit.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

test('an audit line whose reply was lost with the connection is written once', async () => {
  const keys = new Keys(randomPipeline());
  // The Functions library loaded first (one line), so the proxied connection's first write is the line.
  await audit(redis, keys, silentLogger, { action: 'warm_up', by: 'admin', requestId: 'r0' });
  // The line's own command, whatever it is (a plain XADD is re-sent as well as an FCALL).
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.xlen(auditKey(keys))) === 2,
    async (viaProxy, proxy) => {
      await audit(viaProxy, keys, silentLogger, { action: 'dlq_purge', by: 'admin', requestId: 'r1' });
      assert.ok(proxy.dropped(), 'the connection was dropped after the line was written');
      assert.equal(
        (await readAudit(redis, keys)).map((l) => [l.action, l.requestId]),
        [
          ['dlq_purge', 'r1'],
          ['warm_up', 'r0'],
        ],
      );
    },
    /fcall|xadd/i,
  );
});

test.run();
