/**
 * The HTTP API's request metrics on the server's own `GET /metrics`, end to end: `pipeline serve`
 * against a real Redis answers a 202, a 400 and a 429, and a scrape shows them under the names,
 * labels and types of deploy/statsd/mapping.yml, so the dashboard's HTTP API row and the
 * PipelineApiErrors alert work on a Prometheus that scrapes the server without the statsd-exporter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { API_METRICS } from '../../lib/observe/api-metric-specs.js';
import { Keys } from '../../lib/redis/keys.js';
import { BIN, exited, FAST } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');
const { server, redis } = await redisForFile(test);
const TOKEN = 'submit-token-0123456789';
const READ = 'read-token-0123456789ab';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const mapping = parse(readFileSync(join(REPO, 'deploy/statsd/mapping.yml'), 'utf8')) as Obj;
const mapped = (name: string) => (mapping.mappings as Obj[]).find((m) => m.match === `pipeline.${name}`)!;

/** A rules-only config whose `validate` stage refuses new records past a lag of 3, with StatsD off. */
function configFile(pipeline: string): string {
  const raw = JSON.parse(readFileSync(join(REPO, 'config/rules-only.json'), 'utf8')) as { stages: { name: string; maxLag?: number }[] };
  raw.stages.find((s) => s.name === 'validate')!.maxLag = 3;
  const file = join(tmpdir(), `${pipeline}-config.json`);
  const api = { backpressureCacheMs: 0, backpressureStagesMs: 0, completionsBlockMs: 100 };
  writeFileSync(file, JSON.stringify({ ...raw, pipeline, defaults: FAST, api, metrics: { enabled: false } }));
  return file;
}

/** One sample of the text format: `name{label="value",...} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
function parseText(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the one sample of `name` whose labels include `labels` (0: none). */
const valueOf = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

/** The queries of the dashboard's HTTP API row and the expressions of the API alert group. */
function apiQueries(pipeline: string): string[] {
  const panels = (JSON.parse(readFileSync(join(REPO, 'deploy/grafana/dashboards/pipeline.json'), 'utf8')) as Obj).panels as Obj[];
  const start = panels.findIndex((p) => p.type === 'row' && p.title === 'HTTP API');
  const end = panels.findIndex((p, i) => i > start && p.type === 'row');
  const row = panels.slice(start + 1, end < 0 ? undefined : end).flatMap((p) => [p, ...((p.panels as Obj[] | undefined) ?? [])]);
  const exprs = row.flatMap((p) => ((p.targets as Obj[] | undefined) ?? []).map((t) => String(t.expr).replaceAll('$pipeline', pipeline)));
  const alerts = parse(readFileSync(join(REPO, 'deploy/prometheus/alerts.yml'), 'utf8')) as Obj;
  const group = (alerts.groups as Obj[]).find((g) => String(g.name).endsWith('-api'))!;
  const rule = (group.rules as Obj[]).find((r) => r.alert === 'PipelineApiErrors')!;
  assert.ok(exprs.length >= 3, 'the dashboard has an HTTP API row');
  return [...exprs, String(rule.expr).replace(/pipeline="[^"]*"/g, `pipeline="${pipeline}"`)];
}

test('GET /metrics serves the request counts, timings and refused records of the server itself, as the statsd mapping names them', async () => {
  const pipeline = randomPipeline();
  // LOG_LEVEL info: the listening line is how the test learns the port (the test runner sets error).
  const env = { ...process.env, LOG_LEVEL: 'info', REDIS_URL: server.url, API_TOKENS: `submit:${TOKEN},read:${READ}` };
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile(pipeline), '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const portOf = () => Number(/"event":"api.listening"[^\n]*"port":(\d+)/.exec(out)?.[1] ?? 0);
  try {
    await waitFor('listening', () => portOf() > 0, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; the server wrote: ${out.slice(-2000)}`);
    });
    const base = `http://127.0.0.1:${portOf()}`;
    const post = (body: unknown) =>
      fetch(`${base}/v1/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
    const accepted = await post([{ id: 'ok-1', title: 't' }]);
    assert.is(accepted.status, 202, await accepted.text());
    const bad = await post([{ title: 'no id' }, 7]);
    assert.is(bad.status, 400, await bad.text());
    await addEntries(redis, new Keys(pipeline).stream('validate'), 5);
    const full = await post([1, 2, 3].map((i) => ({ id: `b${i}`, title: 't' })));
    assert.is(full.status, 429, await full.text());

    const scrape = async () => {
      const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${READ}` } });
      assert.is(r.status, 200);
      return parseText(await r.text());
    };
    // A request is counted when its response closes: a moment after the client read it.
    let got = await scrape();
    await waitFor('three requests counted', async () => (got = await scrape()).samples.some((s) => s.labels.status === '429'), 5_000);
    const { samples, types } = got;
    const requests = mapped('api.requests').name as string;
    const seconds = mapped('api.request_ms').name as string;
    const refused = mapped('api.records_refused').name as string;
    assert.is(types.get(requests), 'counter');
    assert.is(types.get(refused), 'counter');
    assert.is(types.get(seconds), mapping.defaults.observer_type, 'the timer is what the mapping makes of it');

    const at = { pipeline, route: '/v1/products', method: 'POST' };
    assert.is(valueOf(samples, requests, { ...at, status: '202' }), 1);
    assert.is(valueOf(samples, requests, { ...at, status: '400' }), 1);
    assert.is(valueOf(samples, requests, { ...at, status: '429' }), 1);
    assert.is(valueOf(samples, `${seconds}_count`, at), 3, 'one timing per request');
    const sum = valueOf(samples, `${seconds}_sum`, at);
    assert.ok(sum > 0 && sum < 20, `request seconds summed in seconds, not ms: ${sum}`);
    const les = samples.filter((s) => s.name === `${seconds}_bucket` && s.labels.route === at.route).map((s) => s.labels.le);
    assert.equal(les, [...(mapping.defaults.histogram_options.buckets as number[]).map(String), '+Inf'], "the mapping's buckets, in seconds");
    assert.is(valueOf(samples, `${seconds}_bucket`, { ...at, le: '+Inf' }), 3);
    assert.is(valueOf(samples, refused, { pipeline, route: '/v1/products', reason: 'invalid_record' }), 2, 'the 400 refused two records');
    assert.is(valueOf(samples, refused, { pipeline, route: '/v1/products', reason: 'backlog' }), 3, 'the 429 refused a batch of 3');
    // The label names of each series are the spec's tags and `pipeline`: nothing else, no id or path.
    for (const spec of API_METRICS) {
      const name = mapped(spec.name).name as string;
      const own = samples.filter((s) => s.name === name || s.name.startsWith(`${name}_`));
      assert.ok(own.length > 0, `${name} is served`);
      for (const s of own)
        assert.equal(
          Object.keys(s.labels)
            .filter((l) => l !== 'le')
            .sort(),
          ['pipeline', ...spec.tags].sort(),
          `${s.name} labels`,
        );
    }
    assert.not.ok(
      // The pipeline label is left out: its random hex name may hold "b1".
      samples.some((s) => Object.entries(s.labels).some(([k, v]) => k !== 'pipeline' && /ok-1|b1/.test(v))),
      'no record id in a label',
    );

    // The dashboard's HTTP API row and the alert: every series they read is served, with the labels they group and match by.
    for (const expr of apiQueries(pipeline)) {
      for (const [, series, matchers] of expr.matchAll(/(pipeline_\w+)(?:\{([^}]*)\})?/g)) {
        const served = samples.filter((s) => s.name === series);
        assert.ok(served.length > 0, `${expr} reads ${series}, which /metrics does not serve`);
        const ours = served.filter((s) => s.labels.pipeline === pipeline);
        assert.ok(ours.length > 0, `${series} has no series with pipeline="${pipeline}"`);
        for (const [, label] of (matchers ?? '').matchAll(/(\w+)\s*[!=]~?/g))
          assert.ok(label! in ours[0]!.labels, `${expr} matches on ${label}, not a label of ${series}`);
      }
      for (const [, by] of expr.matchAll(/by \(([^)]*)\)/g)) {
        const labels = by!.split(',').map((l) => l.trim());
        const series = [...expr.matchAll(/(pipeline_\w+)/g)].map((m) => m[1]!);
        for (const name of series) {
          const s = samples.find((x) => x.name === name && x.labels.pipeline === pipeline)!;
          for (const l of labels) assert.ok(l in s.labels, `${expr} groups by ${l}, not a label of ${name}`);
        }
      }
    }
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
});

test.run();
