/**
 * The in-process Prometheus series behind the API's `GET /metrics` (lib/observe/prometheus-metrics.ts):
 * a call carrying a tag its spec does not name still counts, under the spec's labels only, and never
 * throws into the request that made it (prom-client throws on a label it was not given).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { API_METRICS } from '../../lib/observe/api-metric-specs.js';
import { prometheusMetrics } from '../../lib/observe/prometheus-metrics.js';

test('a tag the spec does not name is left off; the call counts and does not throw', async () => {
  const registry = new Registry();
  const metrics = prometheusMetrics(registry, API_METRICS, 'pipeline');
  const spec = API_METRICS.find((s) => s.name === 'api.requests')!;
  const tags = Object.fromEntries(spec.tags.map((t) => [t, `v-${t}`]));
  metrics.increment('api.requests', 2, { ...tags, extra: 'x' });
  metrics.increment('api.requests', 1, tags);
  const timer = API_METRICS.find((s) => s.type === 'timer')!;
  metrics.timing(timer.name, 250, { ...Object.fromEntries(timer.tags.map((t) => [t, 'a'])), other: 'y' });
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('pipeline_api_requests_total{'));
  assert.ok(line, text);
  assert.not.match(line!, /extra/);
  for (const t of spec.tags) assert.match(line!, `${t}="v-${t}"`);
  assert.ok(line!.endsWith(' 3'), line);
  assert.match(text, /_seconds_count\{[^}]*\} 1/);
  assert.not.match(text, /other=/);
});

test('a name no spec lists is ignored', async () => {
  const registry = new Registry();
  const metrics = prometheusMetrics(registry, API_METRICS, 'pipeline');
  metrics.increment('not.a.metric', 1, { a: 'b' });
  assert.not.match(await registry.metrics(), /not_a_metric/);
});

test.run();
