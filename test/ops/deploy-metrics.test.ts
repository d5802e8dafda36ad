// The metrics the code sends against their catalog, the docs' table, the statsd mapping and the Grafana dashboard.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { METRIC_CATALOG } from '../../lib/observe/metrics.js';
import { alertGroups, promName } from '../../deploy/render.js';

const REPO = resolve(import.meta.dirname, '../..');
const config = loadConfigFile(join(REPO, 'config/pipeline.json'), { env: {} });
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dashboard = () => JSON.parse(read('deploy/grafana/dashboards/pipeline.json')) as Obj;

/** Every query of a Grafana dashboard, its rows' panels included. */
function queriesOf(dash: Obj): string[] {
  const exprs: string[] = [];
  const walk = (p: Obj) => {
    for (const t of p.targets ?? []) exprs.push(t.expr);
    for (const c of p.panels ?? []) walk(c);
  };
  walk(dash);
  return exprs;
}

function sources(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(REPO, p)).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('the metric catalog is exactly what the code sends, and each metric is in the metrics page (docs/metrics-and-monitoring.md)', () => {
  const code = ['lib', 'stages', 'scripts'].flatMap(sources).map((f) => [f, read(f)] as const);
  const sent = new Map<string, string>();
  for (const [file, text] of code) {
    for (const m of text.matchAll(/\bmetrics\.(increment|timing|gauge|histogram)\(\s*'([^']+)'/g)) sent.set(m[2]!, file);
  }
  const names = new Set(METRIC_CATALOG.map((m) => m.name));
  for (const [name, file] of sent)
    assert.ok(names.has(name), `${file} sends ${name}, missing from METRIC_CATALOG (lib/observe/metrics.ts) and docs/metrics-and-monitoring.md`);
  const all = code.map(([, t]) => t).join('\n');
  const readme = read('docs/metrics-and-monitoring.md');
  for (const m of METRIC_CATALOG) {
    assert.ok(all.includes(`'${m.name}'`), `${m.name} is in the catalog but nothing sends it`);
    assert.ok(readme.includes(`| \`${m.name}\` |`), `${m.name} is not in the metrics table of docs/metrics-and-monitoring.md`);
  }
});

test('the dashboard queries only metrics the code sends, under the names the statsd mapping gives them, and covers lag, throughput, latency, errors, DLQ', () => {
  const dash = dashboard();
  const exprs = queriesOf(dash);
  const prom = new Set(METRIC_CATALOG.map((m) => promName(m, config.metrics.prefix)));
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(pipeline_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))));
  for (const u of used) assert.ok(prom.has(u), `dashboard queries ${u}, which no catalog metric maps to`);
  for (const needed of [
    'pipeline_group_lag',
    'pipeline_messages_out_total',
    'pipeline_message_e2e_seconds',
    'pipeline_messages_errors_total',
    'pipeline_dlq_length',
    'pipeline_webhooks_lag',
  ]) {
    assert.ok(used.has(needed), `dashboard lacks ${needed}`);
  }
  const mapping = parse(read('deploy/statsd/mapping.yml')) as Obj;
  const mapped = new Set((mapping.mappings as Obj[]).map((m) => m.name));
  for (const p of prom) assert.ok(mapped.has(p), `statsd mapping lacks ${p}`);
  // Series labelled by process (consumer) expire after 10 minutes; the sampler's gauges and up's `workers`
  // after 6 intervals (they had stayed at their last value for ever once their sender stopped); counters and the rest never.
  const sampled = new Set(METRIC_CATALOG.filter((m) => m.type === 'gauge' && m.from !== 'worker').map((m) => `pipeline.${m.name}`));
  assert.ok(sampled.has('pipeline.group.lag') && sampled.has('pipeline.dlq.length') && sampled.has('pipeline.workers'));
  for (const m of mapping.mappings as Obj[])
    assert.is(m.ttl, String(m.match).includes('.process.') ? '10m' : sampled.has(m.match) ? '60s' : undefined, `${m.match} ttl`);
  // Panels whose numbers fusion changes say so (group.consumers reads 0 for a fused stage while its workers run;
  // messages.out and batch.total_ms come from the chain's first stage); MB gauges are MiB (rss / 2^20): Grafana's mbytes.
  const panels: Obj[] = [];
  const all = (p: Obj) => (p.panels ?? []).forEach((c: Obj) => (panels.push(c), all(c)));
  all(dash);
  const querying = (re: RegExp) => panels.filter((p) => (p.targets ?? []).some((t: Obj) => re.test(t.expr)));
  for (const metric of [/pipeline_group_consumers\b/, /pipeline_messages_out_total/, /pipeline_batch_total_seconds/]) {
    assert.ok(querying(metric).length > 0, `no panel queries ${metric}`);
    for (const p of querying(metric)) assert.match(p.description ?? '', /fus/i, `panel ${p.title} does not say what fusion does to ${metric}`);
  }
  for (const p of querying(/_mb\b/)) assert.is(p.fieldConfig?.defaults?.unit, 'mbytes', `panel ${p.title}: the gauge is MiB`);
  assert.ok(querying(/_mb\b/).length >= 1);
  const ds = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as Obj;
  assert.ok(exprs.length > 10);
  const uids = new Set(JSON.stringify(dash).match(/"uid":"[^"]+"/g));
  assert.ok(uids.has(`"uid":"${ds.datasources[0].uid}"`), 'panels use the provisioned datasource');
  const providers = parse(read('deploy/grafana/provisioning/dashboards/pipeline.yml')) as Obj;
  assert.is(providers.providers[0].options.path, '/var/lib/grafana/dashboards');
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as Obj;
  assert.equal(prometheus.scrape_configs[0].static_configs[0].targets, ['statsd-exporter:9102']);
});

test('every metric an alert rule reads has a dashboard panel (the webhooks group of a config with webhooks too), and each label a panel groups by is a tag of its metric', () => {
  const exprs = queriesOf(dashboard());
  const metricsIn = (e: string) => [...e.matchAll(/\b(pipeline_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
  const charted = new Set(exprs.flatMap(metricsIn));
  const raw = JSON.parse(read('config/pipeline.json')) as Obj;
  const hooked = resolveConfig(
    { ...raw, webhooks: [{ name: 'shop', url: 'https://shop.example.com/hooks', secretEnv: 'SHOP_SECRET' }] },
    join(REPO, 'config/pipeline.json'),
    {
      env: {},
    },
  );
  const webhookRules = alertGroups(hooked)
    .filter((g) => g.name.endsWith('-webhooks'))
    .flatMap((g) => g.rules);
  assert.ok(webhookRules.some((r) => r.alert === 'PipelineWebhookLagHigh'));
  const rules = [...((parse(read('deploy/prometheus/alerts.yml')) as Obj).groups.flatMap((g: Obj) => g.rules) as Obj[]), ...webhookRules];
  assert.ok(rules.length > 10);
  // An alert that fires should have a panel that shows since when and where (it had none for the outages and data loss).
  for (const r of rules) for (const m of metricsIn(r.expr)) assert.ok(charted.has(m), `alert ${r.alert} reads ${m}, which no dashboard panel shows`);
  const byProm = new Map(METRIC_CATALOG.map((m) => [promName(m, config.metrics.prefix), m]));
  for (const e of exprs) {
    const labels = [...e.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
    for (const name of metricsIn(e)) {
      const tags = new Set(['pipeline', 'le', ...byProm.get(name)!.tags]);
      for (const l of labels) assert.ok(tags.has(l), `dashboard groups ${name} by ${l}, not one of its tags`);
    }
  }
});

test.run();
