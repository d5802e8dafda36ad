/**
 * REDIS_URL's Sentinel forms (lib/redis/sentinel.ts): `redis+sentinel://[user:pass@]h1:26379,h2/<master>[/<db>][?...]`
 * parsed into sentinels, master name, database and both logins; bad forms refused with an error
 * naming the part that is wrong and never the password; the client built from it is an ioredis
 * Sentinel-mode client; printing hides both passwords; ACL user URLs keep the sentinels.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../lib/core/errors.js';
import { userUrl } from '../../lib/ops/acl.js';
import { urlUser } from '../../lib/redis/noperm.js';
import { createClient, describeRedisUrl, parseRedisUrl, redactUrl } from '../../lib/redis/url.js';

test('redis+sentinel://: the sentinels (port 26379 unless given), the master name, the database, both logins', () => {
  assert.equal(parseRedisUrl('redis+sentinel://10.0.0.1:26380,sentinel-b,[::1]:5000/mymaster'), {
    kind: 'sentinel',
    tls: false,
    sentinels: [
      { host: '10.0.0.1', port: 26380 },
      { host: 'sentinel-b', port: 26379 },
      { host: '::1', port: 5000 },
    ],
    name: 'mymaster',
    db: 0,
    username: undefined,
    password: undefined,
  });
  assert.equal(parseRedisUrl('rediss+sentinel://app:s%40c%2Fret@s1:26379/my%20master/3?sentinelUsername=watch&sentinelPassword=p%26w'), {
    kind: 'sentinel',
    tls: true,
    sentinels: [{ host: 's1', port: 26379 }],
    name: 'my master',
    db: 3,
    username: 'app',
    password: 's@c/ret',
    sentinelUsername: 'watch',
    sentinelPassword: 'p&w',
  });
  // The database as a parameter (the form of the task's users), and both forms when they agree.
  assert.is((parseRedisUrl('redis+sentinel://s1/m?db=5') as { db: number }).db, 5);
  assert.is((parseRedisUrl('redis+sentinel://s1/m/5?db=5') as { db: number }).db, 5);
  assert.is((parseRedisUrl('REDIS+SENTINEL://:pw@s1/m') as { password: string }).password, 'pw');
  // The +switch-master watch's reconnect delay is an option of the URL (default: unset, 1000 ms).
  assert.is((parseRedisUrl('redis+sentinel://s1/m?sentinelWatchRetryMs=250') as { watchRetryMs: number }).watchRetryMs, 250);
  assert.is((parseRedisUrl('redis+sentinel://s1/m') as { watchRetryMs?: number }).watchRetryMs, undefined);
});

test('bad sentinel URLs: a ConfigError naming the wrong part, never echoing a password', () => {
  const refused = (url: string, part: RegExp) => {
    let err: unknown;
    try {
      parseRedisUrl(url);
    } catch (e) {
      err = e;
    }
    assert.instance(err, ConfigError, `${url} refused`);
    const message = (err as Error).message;
    assert.match(message, part, `${url}: ${message}`);
    assert.not.match(message, /hunter2/, `${url}: the password is not in ${message}`);
  };
  refused('redis+sentinel://u:hunter2@/m', /needs at least one sentinel host:port/);
  refused('redis+sentinel://u:hunter2@s1/m?sentinelWatchRetryMs=0', /sentinelWatchRetryMs must be a whole number of milliseconds/);
  refused('redis+sentinel://u:hunter2@s1/m?sentinelWatchRetryMs=1.5', /sentinelWatchRetryMs must be a whole number/);
  refused('redis+sentinel://u:hunter2@s1:26379', /needs the master's name after the sentinels/);
  refused('redis+sentinel://u:hunter2@s1:26379/', /needs the master's name/);
  refused('redis+sentinel://u:hunter2@s1:99999/m', /bad port in sentinel address "s1:99999"/);
  refused('redis+sentinel://u:hunter2@s1:x/m', /bad sentinel address "s1:x"/);
  refused('redis+sentinel://u:hunter2@s1/m/abc', /database \(after the master name\) must be a number, got "abc"/);
  refused('redis+sentinel://u:hunter2@s1/m/1/2', /only a database may follow/);
  refused('redis+sentinel://u:hunter2@s1/m?db=x', /database \(db=\) must be a number/);
  refused('redis+sentinel://u:hunter2@s1/m/1?db=2', /given twice and differs/);
  refused('redis+sentinel://s1/m?sentinelPassword=hunter2&masterName=x', /unknown parameter "masterName".*expected db, sentinelUsername, sentinelPassword/);
  refused('redis+sentinel://s1/m?sentinelPasword=hunter2', /unknown parameter "sentinelPasword"/);
  refused('sentinel://s1:26379/m', /expected .*redis\+sentinel:\/\/.*got sentinel:\/\//);
});

test('the client asks the sentinels for the master: ioredis Sentinel mode with the URL’s logins and the caller’s retry strategy', () => {
  const retryStrategy = () => 42;
  const c = createClient('rediss+sentinel://app:pw@s1:26380,s2/mymaster/2?sentinelPassword=spw', { lazyConnect: true, connectionName: 'x', retryStrategy });
  try {
    const o = c.options;
    assert.equal(o.sentinels, [
      { host: 's1', port: 26380 },
      { host: 's2', port: 26379 },
    ]);
    assert.is(o.name, 'mymaster');
    assert.is(o.role, 'master');
    assert.is(o.db, 2);
    assert.is(o.username, 'app');
    assert.is(o.password, 'pw');
    assert.is(o.sentinelPassword, 'spw');
    assert.is(o.enableTLSForSentinelMode, true);
    assert.is(o.enableReadyCheck, true, 'the ready check reads the role: a replica is refused');
    assert.is(o.sentinelRetryStrategy, retryStrategy);
    assert.is(o.connectionName, 'x');
  } finally {
    c.disconnect();
  }
});

test('printing: both passwords hidden, the sentinels and master named; ACL user URLs keep the sentinels and the database', () => {
  const url = 'redis+sentinel://admin:hunter2@s1:26379,s2:26380/mymaster/4?sentinelPassword=hunter2&db=4';
  assert.is(redactUrl(url), 'redis+sentinel://admin:***@s1:26379,s2:26380/mymaster/4?sentinelPassword=***&db=4');
  assert.is(describeRedisUrl(url), 'sentinels s1:26379,s2:26380/mymaster');
  assert.is(urlUser(url), 'admin');
  const user = userUrl(url, 'p-store', 'n3w/pw');
  assert.is(user, 'redis+sentinel://p-store:n3w%2Fpw@s1:26379,s2:26380/mymaster/4?sentinelPassword=hunter2&db=4');
  assert.equal(parseRedisUrl(user), { ...parseRedisUrl(url), username: 'p-store', password: 'n3w/pw' });
});

test.run();
