// The HTTP API server's own Redis user in the rendered deploy files (`pipeline acl`'s `<pipeline>-api`,
// lib/ops/acl-api.ts): the API Deployment reads PIPELINE_API_REDIS_URL (and REDIS_URL) from a Secret of
// its own, rendered beside the stages' and named as `pipeline acl --format k8s` names it, so the production
// recipe replaces it; compose passes PIPELINE_API_REDIS_URL through; the Cluster variant the same.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../../lib/config/load.js';
import { API_REDIS_URL_ENV, k8sSecretName } from '../../lib/ops/acl.js';

const REPO = resolve(import.meta.dirname, '../..');
const CONFIG = join(REPO, 'config/pipeline.json');
const config = loadConfigFile(CONFIG, { env: {} });
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const docs = (p: string) => parseAllDocuments(read(p)).map((d) => d.toJS() as Obj);
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const API = `${config.pipeline}-api`;

/** The API container's env refs: env name → the Secret it reads (`url` key). */
function apiSecretRefs(manifests: Obj[]): Map<string, string> {
  const dep = manifests.find((d) => d.kind === 'Deployment' && d.metadata.name === API);
  assert.ok(dep, 'the API Deployment');
  const env = dep!.spec.template.spec.containers[0].env as Obj[];
  return new Map(env.filter((e) => e.valueFrom?.secretKeyRef?.key === 'url').map((e) => [e.name as string, e.valueFrom.secretKeyRef.name as string]));
}

/** The Secrets `pipeline acl --format k8s --show-secrets` prints for this config (no server needed without --apply). */
function aclSecrets(urlBase: string): Obj[] {
  const r = spawnSync(
    process.execPath,
    [join(REPO, 'scripts/pipeline.mjs'), '--config', CONFIG, 'acl', '--format', 'k8s', '--show-secrets', '--url-base', urlBase],
    { encoding: 'utf8', env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' } },
  );
  assert.is(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Obj).items as Obj[];
}

test('kubernetes: the API Deployment reads PIPELINE_API_REDIS_URL from its own Secret, rendered in stage-secrets.yaml and the one `pipeline acl --format k8s` fills with the API user', () => {
  const refs = apiSecretRefs(docs('deploy/k8s/pipeline.yaml'));
  const name = refs.get(API_REDIS_URL_ENV);
  assert.is(name, k8sSecretName(config.pipeline, 'api'), `${API_REDIS_URL_ENV} from the API's own Secret`);
  // No other Redis credential in the API pod: REDIS_URL (unused while PIPELINE_API_REDIS_URL is set) reads the same Secret.
  assert.is(refs.get('REDIS_URL'), name, 'the API pod does not carry the shared pipeline-redis URL');
  const rendered = docs('deploy/k8s/stage-secrets.yaml').find((x) => x.kind === 'Secret' && x.metadata.name === name);
  assert.ok(rendered, `${name} is rendered beside the stages' Secrets`);
  assert.is(rendered!.stringData.url, 'redis://redis:6379', 'the development Redis by default');
  assert.is(rendered!.metadata.annotations['streamline-enrich/redis-user'], API);
  assert.ok((parse(read('deploy/k8s/kustomization.yaml')) as { resources: string[] }).resources.includes('stage-secrets.yaml'));
  // The production recipe prints that very Secret, with the API user's URL.
  const item = aclSecrets('redis://redis.internal:6379').find((i) => i.metadata.name === name);
  assert.ok(item, `pipeline acl --format k8s renders ${name}`);
  assert.is(item!.metadata.annotations['streamline-enrich/redis-user'], API);
  assert.match(item!.stringData.url, new RegExp(`^redis://${API}:[0-9a-f]{64}@redis\\.internal:6379$`));
});

test('compose: the api service passes PIPELINE_API_REDIS_URL through (what `pipeline acl --write-env deploy/.env` writes; empty: REDIS_URL)', () => {
  const s = (parse(read('deploy/docker-compose.yml')) as Obj).services as Obj;
  assert.is(s.api.environment[API_REDIS_URL_ENV], '${' + API_REDIS_URL_ENV + ':-}');
});

test('cluster: the API Deployment runs sharded and reads PIPELINE_API_REDIS_URL from its own Secret in cluster/stage-secrets.yaml, as `pipeline acl --format k8s` names it', async () => {
  const { renderFromRepo, secretsFromRepo, OUT_FILE, SECRETS_FILE, DEFAULT_SHARDS } = await import('../../deploy/k8s/cluster/render.js');
  assert.ok(
    readFileSync(OUT_FILE, 'utf8') === renderFromRepo() && readFileSync(SECRETS_FILE, 'utf8') === secretsFromRepo(),
    'deploy/k8s/cluster files out of date: run npm run dev -- deploy render',
  );
  const manifests = docs('deploy/k8s/cluster/pipeline.yaml');
  const name = apiSecretRefs(manifests).get(API_REDIS_URL_ENV);
  assert.is(name, k8sSecretName(config.pipeline, 'api'));
  const env = manifests.find((d) => d.kind === 'Deployment' && d.metadata.name === API)!.spec.template.spec.containers[0].env as Obj[];
  assert.ok(
    env.some((e) => e.name === 'PIPELINE_SHARDS' && e.value === String(DEFAULT_SHARDS)),
    'the API submits to and reads every shard, like the workers',
  );
  const secret = docs('deploy/k8s/cluster/stage-secrets.yaml').find((x) => x.metadata.name === name);
  assert.ok(secret, `${name} is rendered`);
  assert.match(secret!.stringData.url, new RegExp(`^redis\\+cluster://${API}:`), 'the API user');
  const seeds = 'redis+cluster://redis-cluster-0.redis-cluster-headless:6379';
  assert.ok(
    aclSecrets(seeds).some((i) => i.metadata.name === name),
    `pipeline acl --format k8s renders ${name} on a cluster too`,
  );
});

test.run();
