/**
 * `pipeline deploy render`, the one command CONTRIBUTING.md says to run after changing the config,
 * renders every file generated from it: the Redis Cluster variant in deploy/k8s/cluster/ too. It
 * had been left behind (`npx tsx deploy/k8s/cluster/render.ts`, named in no contributor's page),
 * so a new stage passed `deploy render --check` and then failed test/ops/deploy-api-user.test.ts with
 * "cluster files out of date".
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments } from 'yaml';
import { resolveConfig } from '../../lib/config/load.js';
import { renderClusterFiles } from '../../deploy/k8s/cluster/render.js';
import { renderDeploy } from '../../deploy/render.js';

const REPO = resolve(import.meta.dirname, '../..');
const CLUSTER_FILES = ['deploy/k8s/cluster/pipeline.yaml', 'deploy/k8s/cluster/stage-secrets.yaml'];

/** `pipeline deploy render --check` from the sources, with this config. */
function renderCheck(configPath: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ['scripts/pipeline.mjs', '--config', configPath, 'deploy', 'render', '--check'], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('deploy render --check: the committed files, the cluster ones included, are up to date with config/pipeline.json', () => {
  const r = renderCheck(join(REPO, 'config/pipeline.json'));
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /deploy files are up to date/);
});

test('deploy render --check names the cluster files too when the config changes (a stage whose Secret and KEDA triggers they hold)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-render-'));
  try {
    const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as {
      pipeline: string;
      stages: { name: string; scaleUpLag?: number }[];
    };
    // Another scaleUpLag changes the KEDA triggers (cluster pipeline.yaml); another pipeline name, every user and Secret.
    config.pipeline = 'renamed';
    config.stages[0]!.scaleUpLag = 777;
    const file = join(dir, 'pipeline.json');
    writeFileSync(file, JSON.stringify(config));
    const r = renderCheck(file);
    assert.is(r.status, 1, r.output);
    for (const f of ['deploy/k8s/pipeline.yaml', ...CLUSTER_FILES]) assert.ok(r.output.includes(f), `${f} named as out of date: ${r.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const HOOK = { name: 'shop', url: 'https://shop.example.com/hooks', secretEnv: 'SHOP_WEBHOOK_SECRET', blockMs: 5000 };

/** Every rendered file, base and cluster, for config/pipeline.json with these webhooks. */
function renderWith(webhooks: unknown[]): Map<string, string> {
  const raw = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as Obj;
  if (webhooks.length > 0) raw.webhooks = webhooks;
  const text = JSON.stringify(raw);
  const config = resolveConfig(raw, join(REPO, 'config/pipeline.json'), { env: {} });
  return new Map([...renderDeploy(config, text), ...renderClusterFiles(config, text, 2)]);
}
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Obj);
const hooksDeployment = (manifests: Obj[]) => manifests.find((d) => d.kind === 'Deployment' && d.metadata.name === 'products-webhooks');

test('with webhooks, compose gets a `webhooks` service: its own Redis user, the secret passed through, 1 replica, a grace above the stop bound', () => {
  const compose = parse(renderWith([HOOK]).get('deploy/docker-compose.yml')!) as Obj;
  const svc = compose.services.webhooks as Obj;
  assert.ok(svc, 'a webhooks service');
  assert.equal(svc.command, ['webhooks']);
  assert.is(svc.environment.PIPELINE_WEBHOOKS_REDIS_URL, '${PIPELINE_WEBHOOKS_REDIS_URL:-}');
  assert.is(svc.environment.SHOP_WEBHOOK_SECRET, '${SHOP_WEBHOOK_SECRET:-}');
  assert.is(svc.deploy.replicas, '${WEBHOOKS_REPLICAS:-1}');
  // docs/webhooks.md: a stop ends within 3 × blockMs + 2 s (17 s with blockMs 5000).
  assert.ok(Number.parseInt(svc.stop_grace_period) >= 17, svc.stop_grace_period);
  assert.not.ok(svc.healthcheck, 'no healthcheck: the command serves no HTTP and writes no progress file');
});

test("with webhooks, both Kubernetes variants get its Deployment: REDIS_URL and PIPELINE_WEBHOOKS_REDIS_URL from the webhooks user's Secret, the HMAC secret from <pipeline>-webhook-secrets", () => {
  const files = renderWith([HOOK]);
  for (const [file, sharded] of [
    ['deploy/k8s/pipeline.yaml', false],
    ['deploy/k8s/cluster/pipeline.yaml', true],
  ] as const) {
    const dep = hooksDeployment(docs(files.get(file)!));
    assert.ok(dep, `${file}: the webhooks Deployment`);
    assert.is(dep!.spec.replicas, 1, file);
    const pod = dep!.spec.template.spec as Obj;
    assert.ok(pod.terminationGracePeriodSeconds >= 17, `${file}: grace ${pod.terminationGracePeriodSeconds}`);
    const c = pod.containers[0] as Obj;
    assert.equal(c.args, ['webhooks'], file);
    assert.not.ok(c.ports ?? c.livenessProbe ?? c.readinessProbe, `${file}: no port, no probe`);
    const env = new Map((c.env as Obj[]).map((e) => [e.name as string, e]));
    for (const name of ['REDIS_URL', 'PIPELINE_WEBHOOKS_REDIS_URL'])
      assert.equal(env.get(name)?.valueFrom?.secretKeyRef, { name: 'products-webhooks-redis', key: 'url' }, `${file}: ${name}`);
    assert.equal(env.get('SHOP_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef, { name: 'products-webhook-secrets', key: 'SHOP_WEBHOOK_SECRET' }, file);
    assert.is(env.get('PIPELINE_SHARDS')?.value, sharded ? '2' : undefined, `${file}: PIPELINE_SHARDS`);
  }
  // The user's Secret rendered beside the API's, named as `pipeline acl --format k8s` names it; the HMAC secrets never.
  for (const file of ['deploy/k8s/stage-secrets.yaml', 'deploy/k8s/cluster/stage-secrets.yaml']) {
    const secrets = docs(files.get(file)!).map((d) => d.metadata.name as string);
    assert.ok(secrets.includes('products-webhooks-redis'), `${file}: ${secrets.join(', ')}`);
    assert.not.ok(secrets.includes('products-webhook-secrets'), file);
  }
});

test('without webhooks (the shipped config) nothing of them is rendered', () => {
  const files = renderWith([]);
  assert.not.ok((parse(files.get('deploy/docker-compose.yml')!) as Obj).services.webhooks);
  for (const [file, text] of files) assert.not.ok(/webhooks-redis|webhook-secrets|args: \[\s*webhooks/.test(text), file);
  assert.not.ok(hooksDeployment(docs(files.get('deploy/k8s/pipeline.yaml')!)));
});

test('rendered from another config file, every compose app service mounts its folder and names it in PIPELINE_CONFIG (they had read config/pipeline.json)', () => {
  const raw = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as Obj;
  raw.webhooks = [HOOK];
  const text = JSON.stringify(raw);
  const config = resolveConfig(raw, join(REPO, 'config/prod.json'), { env: {} });
  const apps = (source?: string) => {
    const services = (parse(renderDeploy(config, text, source).get('deploy/docker-compose.yml')!) as Obj).services as Obj;
    return Object.entries(services).filter(([, s]) => (s as Obj).build) as [string, Obj][];
  };
  const names = apps('config/prod.json').map(([n]) => n);
  for (const want of ['monitor', 'webhooks', 'intake', 'enrich', 'producer', 'api']) assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
  for (const [name, svc] of apps('config/prod.json')) {
    assert.is(svc.environment.PIPELINE_CONFIG, '/app/config/prod.json', name);
    assert.is(svc.volumes[0], '../config:/app/config:ro', name);
  }
  for (const [name, svc] of apps('../elsewhere/site/pipeline.json')) {
    assert.is(svc.environment.PIPELINE_CONFIG, '/app/config/pipeline.json', name);
    assert.is(svc.volumes[0], '../../elsewhere/site:/app/config:ro', name);
  }
  // config/pipeline.json, the image's default: the committed file, no PIPELINE_CONFIG.
  for (const [name, svc] of apps()) {
    assert.is(svc.environment.PIPELINE_CONFIG, undefined, name);
    assert.is(svc.volumes[0], '../config:/app/config:ro', name);
  }
});

test('every file rendered from another config file names it in its first line, the cluster ones too (they had said config/pipeline.json)', () => {
  const text = readFileSync(join(REPO, 'config/pipeline.json'), 'utf8');
  const config = resolveConfig(JSON.parse(text), join(REPO, 'config/prod.json'), { env: {} });
  const files = new Map([...renderDeploy(config, text, 'config/prod.json'), ...renderClusterFiles(config, text, 2, 'config/prod.json')]);
  for (const [file, body] of files) {
    const first = body.split('\n')[0]!;
    assert.match(first, /^# Generated by `npm run dev -- deploy render` from config\/prod\.json[ .]/, `${file}: ${first}`);
  }
  assert.match(files.get('deploy/k8s/cluster/pipeline.yaml')!.split('\n')[0]!, '(2 shards)');
});

test.run();
