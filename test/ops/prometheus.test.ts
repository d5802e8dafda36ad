/** `/metrics` counters made from Redis's own counts (lib/api/metrics-route.ts): monotonic, and they go on after Redis's count starts again. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { createPrometheus } from '../../lib/api/metrics-route.js';
import type { ConsoleSample } from '../../lib/console/sampler.js';
import { METRIC_CATALOG } from '../../lib/observe/metrics.js';
import { statsdMapping } from '../../deploy/render.js';

const config = resolveConfig(
  {
    pipeline: 'p',
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'store', kind: 'store' },
    ],
    routes: { preprocess: [{ to: 'store' }] },
  },
  'x',
  { env: {} },
);

test('messages_in/out keep counting after a Redis restart made the groups again (they froze until the new count passed the old one); a dip in out is not counted twice', async () => {
  let sample: ConsoleSample | undefined;
  const registry = createPrometheus(config, () => sample);
  const at = (read: number, pending: number) => {
    sample = {
      stages: [],
      terminal: [],
      dlq: 0,
      revokeMarks: 0,
      revoked: 0,
      stored: 0,
      totals: [{ stage: 'preprocess', read, pending }],
    } as unknown as ConsoleSample;
  };
  const value = async (name: string) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name.endsWith(name))!;
    return m.values.find((v) => v.labels.stage === 'preprocess')?.value ?? 0;
  };
  at(313, 0);
  assert.is(await value('messages_in_total'), 313);
  at(320, 10); // out = 310: a dip below 313, not a reset
  assert.is(await value('messages_out_total'), 313);
  at(330, 0);
  assert.is(await value('messages_out_total'), 330);
  assert.is(await value('messages_in_total'), 330);
  at(40, 0); // Redis restarted without persistence: the group's entries-read began again
  assert.is(await value('messages_in_total'), 370);
  assert.is(await value('messages_out_total'), 370);
  at(300, 0);
  assert.is(await value('messages_in_total'), 630);
});

test('store.products is absent from /metrics when the store stage writes to Postgres (it read 0: SCARD of a Redis set that sink never fills)', async () => {
  const sample = { stages: [], terminal: [], dlq: 0, revokeMarks: 0, revoked: 0, stored: 0, totals: [] } as unknown as ConsoleSample;
  const names = async (c: typeof config) => (await createPrometheus(c, () => sample).getMetricsAsJSON()).map((m) => m.name);
  assert.ok((await names(config)).includes('pipeline_store_products'), 'with the Redis store');
  const pg = resolveConfig(
    {
      pipeline: 'p',
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'store', kind: 'store', settings: { sink: 'postgres' } },
      ],
      routes: { preprocess: [{ to: 'store' }] },
    },
    'x',
    { env: {} },
  );
  const got = await names(pg);
  assert.ok(got.includes('pipeline_dlq_length'));
  assert.not.ok(got.includes('pipeline_store_products'), 'with Postgres');
});

test("/metrics names are the statsd mapping's with a prefix without its dot too (STATSD_PREFIX=enrich gave enrichgroup_lag there, enrich_group_lag in the mapping)", async () => {
  const raw = {
    pipeline: 'p',
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'store', kind: 'store' },
    ],
    routes: { preprocess: [{ to: 'store' }] },
  };
  for (const prefix of ['enrich', 'enrich.']) {
    const c = resolveConfig(raw, 'x', { env: { STATSD_PREFIX: prefix } });
    const served = (await createPrometheus(c, () => undefined).getMetricsAsJSON()).map((m) => m.name);
    const mapped = new Map((statsdMapping(c) as { mappings: { match: string; name: string }[] }).mappings.map((m) => [m.match, m.name]));
    const dot = prefix.endsWith('.') ? prefix : `${prefix}.`;
    assert.ok(served.length >= 8, `${served}`);
    for (const name of served) {
      const m = METRIC_CATALOG.find((x) => name === mapped.get(`${dot}${x.name}`));
      assert.ok(m, `/metrics serves ${name} (prefix ${JSON.stringify(prefix)}), a name the mapping gives no metric: ${[...mapped.values()].slice(0, 3)}`);
    }
    assert.ok(served.includes('enrich_group_lag'), `${served}`);
  }
});

test.run();
