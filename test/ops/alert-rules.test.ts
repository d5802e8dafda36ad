/**
 * The alerting rules `pipeline deploy render` writes (deploy/render-alerts.ts): deploy/prometheus/alerts.yml
 * and its PrometheusRule, deploy/k8s/prometheus-rules.yaml. Pure checks (everywhere): every metric a
 * rule reads is a catalog metric under the statsd mapping's name, with labels that metric has; the
 * thresholds follow the config; compose and Prometheus load the file. With promtool on the PATH
 * (Debian: apt-get install prometheus): `promtool check rules`, and `promtool test rules` on
 * test/fixtures/alert-rules.promtest.yml, whose synthetic series must fire each rule and leave a
 * healthy pipeline quiet. Without promtool that part is skipped, but not under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { METRIC_CATALOG, prometheusName, type MetricSpec } from '../../lib/observe/metrics.js';
import { ALERT_LEVELS, ALERT_TIMING, alertGroups, renderDeploy, type AlertRule } from '../../deploy/render.js';

const REPO = resolve(import.meta.dirname, '../..');
const RULES_FILE = 'deploy/prometheus/alerts.yml';
const FIXTURE = 'test/fixtures/alert-rules.promtest.yml';
/** promtool tests of the webhooks group, rendered from the shipped config with HOOKS (it ships none). */
const WEBHOOK_FIXTURE = 'test/fixtures/webhook-alert-rules.promtest.yml';
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const rawConfig = read('config/pipeline.json');
const config = loadConfigFile(join(REPO, 'config/pipeline.json'), { env: {} });
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Group = { name: string; rules: AlertRule[] };

/** The committed rules file, as Prometheus reads it. */
const committed = () => (parse(read(RULES_FILE)) as { groups: Group[] }).groups;
const rulesOf = (groups: Group[]) => groups.flatMap((g) => g.rules);

/** What is wrong with the metric names and labels one rule's expression and annotations use (empty: nothing). */
export function ruleProblems(rule: AlertRule, prefix: string, mapped: Set<string>): string[] {
  const byProm = new Map<string, MetricSpec>(METRIC_CATALOG.map((m) => [prometheusName(m, prefix), m]));
  const namePrefix = prefix.replace(/[^A-Za-z0-9_]/g, '_');
  const problems: string[] = [];
  const labels = new Set(['pipeline']);
  let metrics = 0;
  for (const m of rule.expr.matchAll(new RegExp(`\\b(${namePrefix}[a-z0-9_]+)\\s*(\\{[^}]*\\})?`, 'g'))) {
    const spec = byProm.get(m[1]!);
    if (!spec || !mapped.has(m[1]!)) {
      problems.push(`${rule.alert}: ${m[1]} is no metric of METRIC_CATALOG under the statsd mapping's names`);
      continue;
    }
    metrics++;
    spec.tags.forEach((t) => labels.add(t));
    for (const [, label] of (m[2] ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g))
      if (label !== 'pipeline' && !spec.tags.includes(label!))
        problems.push(`${rule.alert}: ${m[1]} has no label ${label} (tags: ${spec.tags.join(', ') || 'none'})`);
  }
  if (metrics === 0) problems.push(`${rule.alert}: reads no metric of the pipeline`);
  const grouped = [...rule.expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
  const templated = [...JSON.stringify(rule.annotations).matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!);
  for (const label of [...grouped, ...templated]) if (!labels.has(label)) problems.push(`${rule.alert}: label ${label} is on none of its metrics`);
  return problems;
}

const mappedNames = (): Set<string> => new Set((parse(read('deploy/statsd/mapping.yml')) as Obj).mappings.map((m: Obj) => m.name as string));

test('the committed rules are what the config renders, and the PrometheusRule holds the same groups', () => {
  const files = renderDeploy(config, rawConfig);
  assert.is(read(RULES_FILE), files.get(RULES_FILE), `${RULES_FILE} is out of date: npm run dev -- deploy render`);
  assert.is(read('deploy/k8s/prometheus-rules.yaml'), files.get('deploy/k8s/prometheus-rules.yaml'));
  const crd = parse(read('deploy/k8s/prometheus-rules.yaml')) as Obj;
  assert.is(crd.apiVersion, 'monitoring.coreos.com/v1');
  assert.is(crd.kind, 'PrometheusRule');
  assert.equal(crd.spec.groups, committed());
  // Not in the kustomization: `kubectl apply -k deploy/k8s` would fail where the Prometheus Operator's CRD is not installed.
  assert.not.ok(read('deploy/k8s/kustomization.yaml').includes('prometheus-rules.yaml'));
});

test('every metric a rule reads is a catalog metric under its statsd-exporter name, with the labels that metric has', () => {
  const mapped = mappedNames();
  const rules = rulesOf(committed());
  assert.ok(rules.length >= 12, `only ${rules.length} rules`);
  assert.equal(
    rules.flatMap((r) => ruleProblems(r, config.metrics.prefix, mapped)),
    [],
  );
  // The check finds a wrong name and a label the metric lacks.
  const oom = rules.find((r) => r.alert === 'PipelineRedisOOM')!;
  assert.ok(ruleProblems({ ...oom, expr: oom.expr.replaceAll('pipeline_redis_oom_total', 'pipeline_redis_oom') }, 'pipeline.', mapped).length > 0);
  const lag = rules.find((r) => r.alert === 'PipelineStageLagHigh')!;
  assert.match(ruleProblems({ ...lag, expr: lag.expr.replace('stage=~', 'stream=~') }, 'pipeline.', mapped).join('\n'), /has no label stream/);
  assert.match(
    ruleProblems({ ...oom, expr: oom.expr.replace('by (pipeline, stage)', 'by (pipeline, reason)') }, 'pipeline.', mapped).join('\n'),
    /label reason/,
  );
});

test('each rule has a severity (page or ticket), a summary, a description naming what to do and a pointer into the docs; data loss and OOM page', () => {
  for (const r of rulesOf(committed())) {
    assert.ok(['page', 'ticket'].includes(r.labels.severity), `${r.alert} severity ${r.labels.severity}`);
    assert.ok(r.annotations.summary && r.annotations.description.length > 60, `${r.alert} annotations`);
    const [path] = r.annotations.runbook_url.split('#');
    assert.ok(path!.startsWith('docs/') && existsSync(join(REPO, path!)), `${r.alert} runbook_url ${r.annotations.runbook_url}`);
    // Every selector is narrowed to this pipeline (several may share one Prometheus).
    for (const m of r.expr.matchAll(/\bpipeline_[a-z0-9_]+\s*\{([^}]*)\}/g)) assert.ok(m[1]!.includes(`pipeline="${config.pipeline}"`), `${r.alert}: ${m[0]}`);
  }
  const severity = (a: string) => rulesOf(committed()).find((r) => r.alert === a)?.labels.severity;
  for (const a of ['PipelineRedisDataLost', 'PipelineRedisOOM', 'PipelineRedisMisconf', 'PipelineRedisNoPermission', 'PipelinePostgresNoPermission'])
    assert.is(severity(a), 'page', a);
});

/** The shipped config changed as `edit` says, resolved. */
function variant(edit: (c: Obj) => void): ResolvedConfig {
  const raw = JSON.parse(rawConfig) as Obj;
  edit(raw);
  return resolveConfig(raw, join(REPO, 'config/pipeline.json'), { env: {} });
}
const rulesNamed = (c: ResolvedConfig, alert: string) => rulesOf(alertGroups(c)).filter((r) => r.alert === alert);
const HOOKS = [
  { name: 'shop', url: 'https://shop.example.com/hooks', secretEnv: 'SHOP_SECRET' },
  { name: 'crm', url: 'https://crm.example.com/hooks', secretEnv: 'CRM_SECRET' },
];
const hooked = variant((c) => (c.webhooks = HOOKS));
const webhookGroupOf = (c: ResolvedConfig) => alertGroups(c).filter((g) => g.name === `${c.pipeline}-webhooks`);

test('thresholds come from the config: lag above each stage’s scaleUpLag; no-consumer alerts leave fused stages out; no-worker alerts only where minWorkers > 0', () => {
  const lag = rulesNamed(config, 'PipelineStageLagHigh');
  assert.is(lag.length, 1);
  assert.match(lag[0]!.expr, / > 1000$/);
  const other = variant((c) => (c.stages.find((s: Obj) => s.name === 'match').scaleUpLag = 250));
  const lags = rulesNamed(other, 'PipelineStageLagHigh');
  assert.is(lags.length, 2);
  assert.ok(lags.some((r) => /stage=~"match"\} > 250$/.test(r.expr)));
  assert.not.ok(lags.find((r) => r.expr.endsWith('> 1000'))!.expr.includes('match'));
  // classify, validate, match and store run fused in the shipped config: their groups read 0 consumers while their workers run.
  const consumers = rulesNamed(config, 'PipelineStageNoConsumers')[0]!.expr;
  assert.match(consumers, /stage=~"preprocess\|extract\\\\\.electronics\|extract\\\\\.computing\|extract\\\\\.accessories"/);
  for (const s of ['classify', 'validate', 'match', 'store']) assert.not.ok(consumers.includes(`|${s}"`) || consumers.includes(`"${s}|`), s);
  const unfused = variant((c) => c.stages.forEach((s: Obj) => (s.fuse = false)));
  assert.ok(rulesNamed(unfused, 'PipelineStageNoConsumers')[0]!.expr.includes('|classify|'));
  const scaledToZero = variant((c) => c.stages.filter((s: Obj) => s.process === 'intake').forEach((s: Obj) => (s.minWorkers = 0)));
  const workers = rulesNamed(scaledToZero, 'PipelineStageNoWorkers')[0]!.expr;
  assert.not.ok(/preprocess|classify/.test(workers), workers);
  assert.ok(workers.includes('store'));
  assert.ok(rulesNamed(config, 'PipelineStageNoWorkers')[0]!.expr.includes('preprocess'));
});

test('a config with webhooks gets their group: a lag near the trim limit and missed completions page, dead letters ticket, by webhook', () => {
  assert.not.ok(alertGroups(config).some((g) => g.name.endsWith('-webhooks')));
  const group = webhookGroupOf(hooked)[0];
  assert.ok(group, 'no webhooks group');
  assert.equal(
    group.rules.map((r) => [r.alert, r.labels.severity]),
    [
      ['PipelineWebhookLagHigh', 'page'],
      ['PipelineWebhookMissed', 'page'],
      ['PipelineWebhookDeadLettered', 'ticket'],
    ],
  );
  const mapped = mappedNames();
  assert.equal(
    group.rules.flatMap((r) => ruleProblems(r, hooked.metrics.prefix, mapped)),
    [],
  );
  for (const r of group.rules) assert.ok(existsSync(join(REPO, r.annotations.runbook_url.split('#')[0]!)), r.annotations.runbook_url);
});

test('the webhook lag threshold is ALERT_LEVELS.webhookLagShare of limits.doneMaxLen, held for ALERT_TIMING.webhookLagFor', () => {
  const lagRule = (c: ResolvedConfig) => rulesNamed(c, 'PipelineWebhookLagHigh')[0]!;
  assert.is(hooked.limits.doneMaxLen, 100_000);
  assert.is(lagRule(hooked).expr, `pipeline_webhooks_lag{pipeline="${hooked.pipeline}"} > ${ALERT_LEVELS.webhookLagShare * 100_000}`);
  assert.is(lagRule(hooked).for, ALERT_TIMING.webhookLagFor);
  const small = variant((c) => ((c.webhooks = HOOKS), (c.limits = { ...c.limits, doneMaxLen: 3001 })));
  assert.match(lagRule(small).expr, new RegExp(` > ${Math.floor(ALERT_LEVELS.webhookLagShare * 3001)}$`));
  assert.match(lagRule(small).annotations.description, /limits\.doneMaxLen, 3001/);
});

test('the webhook promtool tests fire every rule of the webhooks group, and their healthy group names each with no alert', () => {
  const names = new Set(webhookGroupOf(hooked).flatMap((g) => g.rules.map((r) => r.alert)));
  const tests = fixture(WEBHOOK_FIXTURE).tests;
  const fired = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  assert.equal(fired, names);
  const healthy = tests.find((t) => t.name === 'healthy')!;
  assert.equal(new Set(healthy.alert_rule_test.map((a) => a.alertname)), names);
  assert.ok(healthy.alert_rule_test.every((a) => a.exp_alerts.length === 0));
});

test('compose mounts the rules where deploy/prometheus/prometheus.yml loads them', () => {
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as Obj;
  assert.equal(prometheus.rule_files, ['alerts.yml']);
  const compose = parse(read('deploy/docker-compose.yml')) as Obj;
  assert.ok(compose.services.prometheus.volumes.includes('./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'));
});

type PromTest = { name: string; alert_rule_test: { alertname: string; exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Obj }[] }[] };
const fixture = (path = FIXTURE) => parse(read(path)) as { tests: PromTest[] } & Obj;

test('the promtool tests fire every rule, and their healthy group names every rule with no alert', () => {
  const names = new Set(rulesOf(committed()).map((r) => r.alert));
  const tests = fixture().tests;
  const fired = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  const named = new Set(tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
  for (const n of names) assert.ok(fired.has(n), `no promtool test fires ${n}`);
  for (const n of named) assert.ok(names.has(n), `${FIXTURE} tests ${n}, which is no rule`);
  const healthy = tests.find((t) => t.name === 'healthy')!;
  assert.equal(new Set(healthy.alert_rule_test.map((a) => a.alertname)), names);
  assert.ok(healthy.alert_rule_test.every((a) => a.exp_alerts.length === 0));
});

/** The fixture with the rendered rules file and each expected alert's annotations (the rule's, its `{{ $labels.x }}` filled in). */
export function completedFixture(groups: Group[], rulesPath: string, fixturePath = FIXTURE): Obj {
  const doc = fixture(fixturePath);
  for (const t of doc.tests as PromTest[]) {
    for (const a of t.alert_rule_test) {
      for (const e of a.exp_alerts) {
        const candidates = rulesOf(groups).filter((r) => r.alert === a.alertname);
        // Rules sharing a name (one per scaleUpLag) differ in their stages: the one whose stage regex takes this alert's stage.
        const rule =
          candidates.find((r) => {
            const m = /stage=~"([^"]*)"/.exec(r.expr);
            return m && e.exp_labels.stage !== undefined && new RegExp(`^(?:${m[1]!.replaceAll('\\\\', '\\')})$`).test(e.exp_labels.stage);
          }) ?? candidates[0];
        if (!rule) continue;
        e.exp_annotations = Object.fromEntries(
          Object.entries(rule.annotations).map(([k, v]) => [k, v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => e.exp_labels[l] ?? '')]),
        );
      }
    }
  }
  return { ...doc, rule_files: [rulesPath] };
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

/** promtool on the committed rules; skipped (said so) without it, failed under CI=true. */
function withPromtool(name: string, body: () => void) {
  test(name, () => {
    if (!promtool) {
      if (/^(true|1)$/i.test(process.env.CI ?? ''))
        assert.unreachable('promtool is not on the PATH under CI=true: apt-get install -y prometheus (.ci/run does)');
      process.stdout.write(`alert-rules: promtool not on the PATH, skipped: ${name}\n`);
      return;
    }
    body();
  });
}

function runPromtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** `promtool test rules` on the fixture completed for `rulesPath`. */
function unitTest(rulesPath: string, groups: Group[], fixturePath = FIXTURE): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
  try {
    const file = join(dir, 'alerts.promtest.yml');
    writeFileSync(file, JSON.stringify(completedFixture(groups, rulesPath, fixturePath)));
    return runPromtool(['test', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

withPromtool('promtool check rules: the rules file and the PrometheusRule’s groups are valid', () => {
  const r = runPromtool(['check', 'rules', RULES_FILE]);
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS: \d+ rules found/);
  const dir = mkdtempSync(join(tmpdir(), 'alert-rules-crd-'));
  try {
    const file = join(dir, 'groups.yml');
    writeFileSync(file, JSON.stringify({ groups: (parse(read('deploy/k8s/prometheus-rules.yaml')) as Obj).spec.groups }));
    const k8s = runPromtool(['check', 'rules', file]);
    assert.is(k8s.status, 0, k8s.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

withPromtool('promtool test rules: data loss, OOM, dead letters, lag, stalls and the rest fire on their series; a healthy pipeline fires nothing', () => {
  const r = unitTest(join(REPO, RULES_FILE), committed());
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

withPromtool('promtool check rules: the webhooks group a config with webhooks renders is valid', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-rules-webhooks-'));
  try {
    const file = join(dir, 'alerts.yml');
    writeFileSync(file, JSON.stringify({ groups: alertGroups(hooked) }));
    const r = runPromtool(['check', 'rules', file]);
    assert.is(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${rulesOf(alertGroups(hooked)).length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

withPromtool('promtool test rules: a webhook lag above half of doneMaxLen, missed completions and dead letters fire; a healthy webhook fires nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-rules-webhooks-'));
  try {
    const file = join(dir, 'alerts.yml');
    writeFileSync(file, JSON.stringify({ groups: webhookGroupOf(hooked) }));
    const r = unitTest(file, webhookGroupOf(hooked), WEBHOOK_FIXTURE);
    assert.is(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

withPromtool('promtool test rules fails when a rule reads a wrong metric name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-rules-broken-'));
  try {
    const broken = read(RULES_FILE).replaceAll('pipeline_redis_oom_total', 'pipeline_redis_oom');
    const path = join(dir, 'alerts.yml');
    writeFileSync(path, broken);
    const r = unitTest(path, (parse(broken) as { groups: Group[] }).groups);
    assert.is.not(r.status, 0, r.output);
    assert.match(r.output, /alertname: PipelineRedisOOM/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
