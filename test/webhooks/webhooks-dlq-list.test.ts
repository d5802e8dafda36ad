/**
 * `pipeline webhooks dlq list --webhook <name>` naming no webhook of the config says so on stderr,
 * with the webhooks it has (a typo had read as "0 webhook dead letters", as for one without any);
 * the list itself is unchanged (a webhook removed from the config may have dead letters left).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const HOOK = { secretEnv: 'HOOK_SECRET', url: 'http://127.0.0.1:9/hook' };

test('webhooks dlq list --webhook naming no webhook warns with the webhooks; a configured one does not', async () => {
  const file = writeConfig(randomPipeline('whl'), FAST, { webhooks: ['app', 'crm'].map((name) => ({ ...HOOK, name })) });
  for (const [name, warned] of [
    ['ap', true],
    ['crm', false],
  ] as const) {
    const child = cli(['--config', file, 'webhooks', 'dlq', 'list', '--webhook', name], server.url);
    assert.is(await exited(child), 0, child.output());
    assert.match(child.output(), /^0 webhook dead letters$/m);
    assert.is(child.output().includes(`warning: no webhook "${name}" in pipeline `), warned, child.output());
    if (warned) assert.match(child.output(), /\(webhooks: app, crm\): only dead letters of a webhook removed from the config match it/);
  }
});

test.after(() => server.close());

test.run();
