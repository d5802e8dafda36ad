// Static checks of deploy/ (no Docker engine or cluster here): generated files match their config, every
// stage of config/pipeline.json has its service, Deployment and ScaledObject (metrics and dashboard: deploy-metrics.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile, resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import { processOf, processOptions } from '../../lib/config/processes.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Keys } from '../../lib/redis/keys.js';
import { deploymentName, envName, graceSeconds, k8sManifests, progressProbeArgs, PROGRESS_FILE, renderDeploy, serviceName } from '../../deploy/render.js';

const REPO = resolve(import.meta.dirname, '../..');
const CONFIG = join(REPO, 'config/pipeline.json');
const config = loadConfigFile(CONFIG, { env: {} });
const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('the committed deploy files are what config/pipeline.json renders to (run `npm run dev -- deploy render`)', () => {
  for (const [file, text] of renderDeploy(config, read('config/pipeline.json'), 'config/pipeline.json')) {
    assert.ok(existsSync(join(REPO, file)), `${file} missing: run npm run dev -- deploy render`);
    assert.ok(read(file) === text, `${file} is out of date with config/pipeline.json: run npm run dev -- deploy render`);
  }
});

test('docker-compose: redis with AOF, one service per worker process with settable replicas and a drain-long stop, monitor, producer profile, metrics stack', () => {
  const compose = parse(read('deploy/docker-compose.yml')) as Obj;
  const s = compose.services as Obj;
  assert.ok(s.redis.command.join(' ').includes('--appendonly yes'), 'AOF on');
  // One service per worker process: a stage alone, or the stages sharing a `process` (config/pipeline.json: enrich).
  for (const proc of config.processes) {
    const stages = config.stages.filter((x) => proc.stages.includes(x.name));
    const svc = s[serviceName(proc.name)];
    assert.ok(svc, `no compose service for process ${proc.name}`);
    assert.equal(svc.command, ['worker', proc.stages.join(',')]);
    assert.match(String(svc.deploy.replicas), new RegExp(`^\\$\\{${envName(proc.name)}_REPLICAS:-\\d+\\}$`));
    for (const stage of stages)
      assert.ok(parseInt(svc.stop_grace_period, 10) * 1000 > stage.drainTimeoutMs, `${stage.name}: stop_grace_period covers drainTimeoutMs`);
    // Compose reads `$$` as a literal `$`: unescaped, it is the probe the Kubernetes test runs.
    assert.equal(
      svc.healthcheck.test.map((a: string) => a.replaceAll('$$', '$')),
      ['CMD', ...progressProbeArgs(stages.length === 1 ? stages[0]! : stages, false)],
    );
    assert.is(svc.environment.PROGRESS_FILE, PROGRESS_FILE);
    assert.is(svc.environment.EXIT_ON_HUNG, '1', `${proc.name}: compose restarts no unhealthy container, a hung worker must exit`);
    assert.is(svc.environment.STATSD_HOST, 'statsd-exporter');
  }
  const workers = Object.entries(s).filter(([, v]) => (v as Obj).command?.[0] === 'worker');
  assert.is(workers.length, config.processes.length, 'no service for a stage that is gone');
  assert.equal(s.monitor.command, ['monitor']);
  assert.equal(s.producer.profiles, ['produce']);
  assert.is(s.producer.restart, 'no');
  for (const name of ['statsd-exporter', 'prometheus', 'grafana']) assert.ok(s[name], name);
  // Every bind mount of a repo file (not an ${ENV} one) exists.
  for (const [name, svc] of Object.entries(s)) {
    for (const v of ((svc as Obj).volumes ?? []) as string[]) {
      const src = v.split(':')[0]!;
      if (!src.startsWith('.')) continue;
      assert.ok(existsSync(resolve(REPO, 'deploy', src)), `${name}: mounts missing ${src}`);
    }
  }
  assert.ok(existsSync(join(REPO, s.monitor.build.context === '..' ? 'deploy/Dockerfile' : '')), 'build uses deploy/Dockerfile');
});

test('the rendered progress probes, run by sh: live while the file is fresh (also waiting for Redis), ready only when fresh and not waiting, neither when stale or missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  try {
    const file = join(dir, 'progress.json');
    const stage = config.stages[0]!;
    const maxAge = Math.ceil((stage.blockMs + stage.stallTimeoutMs + 2 * stage.watchdogIntervalMs) / 1000);
    const passes = (readiness: boolean) => {
      const [cmd, ...args] = progressProbeArgs(stage, readiness);
      return spawnSync(cmd!, args, { env: { ...process.env, PROGRESS_FILE: file } }).status === 0;
    };
    assert.not.ok(passes(false), 'no file yet: not live');
    writeFileSync(file, JSON.stringify({ stage: stage.name, waitingForRedis: false }) + '\n');
    assert.ok(passes(false), 'fresh: live');
    assert.ok(passes(true), 'fresh: ready');
    writeFileSync(file, JSON.stringify({ stage: stage.name, waitingForRedis: true }) + '\n');
    assert.ok(passes(false), 'waiting for Redis: still live (an outage restarts nobody)');
    assert.not.ok(passes(true), 'waiting for Redis: not ready');
    writeFileSync(file, JSON.stringify({ stage: stage.name, waitingForRedis: false, waitingForDependency: true }) + '\n');
    assert.ok(passes(false), 'a long dependency outage (Postgres down): still live');
    assert.not.ok(passes(true), 'a long dependency outage: not ready');
    writeFileSync(file, JSON.stringify({ stage: stage.name, waitingForRedis: false }) + '\n');
    const old = Date.now() / 1000 - maxAge - 5;
    utimesSync(file, old, old);
    assert.not.ok(passes(false), 'older than blockMs + stallTimeoutMs: not live');
    assert.not.ok(passes(true), 'stale: not ready');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the HTTP API has its own service: compose (profile api, tokens from API_TOKENS, /readyz healthcheck) and Kubernetes (Deployment with http probes, tokens from a Secret, a Service)', () => {
  const s = (parse(read('deploy/docker-compose.yml')) as Obj).services as Obj;
  assert.equal(s.api.command, ['serve', '--host', '0.0.0.0', '--port', '8080']);
  assert.equal(s.api.profiles, ['api']);
  assert.is(s.api.environment.API_TOKENS, '${API_TOKENS:-}');
  assert.match(s.api.healthcheck.test.join(' '), '/readyz');
  assert.ok(parseInt(s.api.stop_grace_period, 10) > 60, 'covers the longest wait (maxWaitMs)');
  const docs = parseAllDocuments(read('deploy/k8s/pipeline.yaml')).map((d) => d.toJS() as Obj);
  const name = `${config.pipeline}-api`;
  const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;
  assert.ok(dep, 'api Deployment');
  const c = dep.spec.template.spec.containers[0];
  assert.equal(c.args, ['serve', '--host', '0.0.0.0', '--port', '8080']);
  assert.equal(c.env.find((e: Obj) => e.name === 'API_TOKENS').valueFrom.secretKeyRef, { name: 'pipeline-api', key: 'tokens' });
  assert.is(c.env.filter((e: Obj) => e.name === 'REDIS_URL').length, 1);
  assert.equal([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
  const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === name)!;
  assert.equal(svc.spec.selector, { 'app.kubernetes.io/instance': name });
});

test('kubernetes: per worker process a Deployment with progress probes and a drain-long grace period, and a KEDA lag ScaledObject on its stream and group', () => {
  const docs = parseAllDocuments(read('deploy/k8s/pipeline.yaml')).map((d) => d.toJS() as Obj);
  for (const d of docs) {
    assert.ok(d.apiVersion && d.kind && d.metadata?.name, 'every manifest has apiVersion, kind, name');
    assert.match(d.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${d.metadata.name} is a DNS-1123 label`);
  }
  const keys = new Keys(config.pipeline);
  const auth = docs.find((d) => d.kind === 'TriggerAuthentication');
  assert.equal(
    auth?.spec.secretTargetRef.map((r: Obj) => [r.parameter, r.name, r.key]),
    ['address', 'username', 'password'].map((k) => [k, 'pipeline-redis', k]),
    'KEDA reads address, user and password from the pipeline-redis secret',
  );
  for (const proc of config.processes) {
    const stages = config.stages.filter((x) => proc.stages.includes(x.name));
    const one = stages.length === 1 ? stages[0]! : stages;
    const name = deploymentName(config, proc.name);
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name);
    assert.ok(dep, `no Deployment for process ${proc.name}`);
    assert.is(dep.spec.replicas, undefined, 'KEDA owns the replica count');
    const pod = dep.spec.template.spec;
    for (const stage of stages) assert.ok(pod.terminationGracePeriodSeconds * 1000 > stage.drainTimeoutMs, `${stage.name}: grace period covers drainTimeoutMs`);
    const c = pod.containers[0];
    assert.equal(c.args, ['worker', proc.stages.join(',')]);
    assert.equal(c.startupProbe.exec.command.slice(2, 5), ['health', '--stage', proc.stages.join(',')], `${proc.name} startupProbe`);
    assert.equal(c.livenessProbe.exec.command, progressProbeArgs(one, false), `${proc.name} livenessProbe: the progress files' age, no Node start`);
    assert.equal(c.readinessProbe.exec.command, progressProbeArgs(one, true), `${proc.name} readinessProbe`);
    assert.ok(
      c.env.some((e: Obj) => e.name === 'PROGRESS_FILE' && e.value === PROGRESS_FILE),
      'the watchdog writes the file the probes read',
    );
    assert.ok(pod.securityContext.runAsNonRoot);
    // One JS thread per process, and the ONNX threads of its busiest model stage: `enrich` had asked 6 CPUs and 4 GiB
    // (a sum over its stages, model-less ones included), unschedulable on a 4-6 core node.
    const models = stages.filter((x) => x.model !== undefined);
    assert.is(c.resources.requests.cpu, String(Math.max(1, ...models.map((x) => x.threads))), `${proc.name} cpu request`);
    assert.is(c.resources.requests.memory, `${384 + 128 * models.length}Mi`, `${proc.name} memory request`);
    // KEDA logs in through a TriggerAuthentication: no worker pod carries KEDA's password.
    assert.not.ok(
      c.env.some((e: Obj) => e.valueFrom?.secretKeyRef?.key === 'password'),
      `${proc.name}: no password in the pod's env`,
    );
    const so = docs.find((d) => d.kind === 'ScaledObject' && d.spec.scaleTargetRef.name === name);
    assert.ok(so, `no ScaledObject for process ${proc.name}`);
    assert.is(so.spec.triggers.length, stages.length, 'one trigger per stage');
    stages.forEach((stage, i) => {
      const trigger = so.spec.triggers[i];
      assert.is(trigger.type, 'redis-streams');
      assert.equal(trigger.authenticationRef, { name: auth!.metadata.name }, 'the trigger logs in through the TriggerAuthentication');
      assert.is(trigger.metadata.stream, keys.stream(stage.input), 'stream key {pipeline}:<input>');
      assert.is(trigger.metadata.consumerGroup, stage.name, 'consumer group = stage name');
      assert.is(trigger.metadata.lagCount, String(stage.scaleUpLag));
      assert.is(trigger.metadata.activationLagCount, '0', 'one message wakes a stage at zero');
      assert.is(trigger.metadata.pendingEntriesCount, undefined, 'lag, not pending, drives scaling');
    });
    const o = processOptions(config, proc);
    assert.equal([so.spec.minReplicaCount, so.spec.maxReplicaCount], [o.minWorkers, o.maxWorkers]);
    assert.is(pod.terminationGracePeriodSeconds, graceSeconds({ name: proc.name, drainTimeoutMs: o.drainTimeoutMs }));
  }
  assert.is(docs.filter((d) => d.kind === 'ScaledObject').length, config.processes.length);
  const monitor = docs.find((d) => d.kind === 'Deployment' && d.spec.template.spec.containers[0].args[0] === 'monitor');
  assert.is(monitor?.spec.replicas, 1, 'exactly one gauge sampler');
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'pipeline-config');
  assert.equal(JSON.parse(cm!.data['pipeline.json']), JSON.parse(read('config/pipeline.json')), 'the pods run this config');
  const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as Obj;
  for (const r of kustomization.resources as string[]) assert.ok(existsSync(join(REPO, 'deploy/k8s', r)), r);
});

test('kubernetes: a Redis user per stage: each Deployment reads REDIS_URL from its own Secret, rendered per stage and listed in the kustomization; `pipeline acl --format k8s` fills exactly those Secrets with the stage users', () => {
  const docs = parseAllDocuments(read('deploy/k8s/pipeline.yaml')).map((d) => d.toJS() as Obj);
  const secrets = parseAllDocuments(read('deploy/k8s/stage-secrets.yaml')).map((d) => d.toJS() as Obj);
  assert.ok((parse(read('deploy/k8s/kustomization.yaml')) as { resources: string[] }).resources.includes('stage-secrets.yaml'));
  const refs = new Set<string>();
  for (const stage of config.stages) {
    // A stage's process reads its URL from the stage's own Secret: REDIS_URL for the process's first stage, REDIS_URL_<STAGE> for the others.
    const proc = processOf(config, stage.name);
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === deploymentName(config, proc.name))!;
    const env = dep.spec.template.spec.containers[0].env as Obj[];
    const ref = env.find((e) => e.name === (proc.stages[0] === stage.name ? 'REDIS_URL' : stageRedisUrlEnv(stage.name)))!.valueFrom.secretKeyRef;
    assert.is(ref.key, 'url');
    assert.is.not(ref.name, 'pipeline-redis', `${stage.name} does not use the shared secret`);
    assert.not.ok(refs.has(ref.name), `${stage.name}: a Secret of its own`);
    refs.add(ref.name);
    const own = secrets.find((x) => x.kind === 'Secret' && x.metadata.name === ref.name);
    assert.ok(own, `${stage.name}: its Secret ${ref.name} is rendered`);
    assert.is(own!.metadata.annotations['streamline-enrich/redis-user'], `${config.pipeline}-${stage.name}`);
  }
  assert.is(secrets.filter((x) => x.metadata.annotations['streamline-enrich/stage']).length, config.stages.length);
  // The production path: the stage users' URLs as exactly those Secrets.
  const r = spawnSync(
    process.execPath,
    [join(REPO, 'scripts/pipeline.mjs'), '--config', CONFIG, 'acl', '--format', 'k8s', '--show-secrets', '--url-base', 'redis://redis.internal:6379'],
    { encoding: 'utf8', env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' } },
  );
  assert.is(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as Obj;
  for (const name of refs) {
    const item = (list.items as Obj[]).find((i) => i.metadata.name === name);
    assert.ok(item, `pipeline acl --format k8s renders ${name}`);
    const stage = item!.metadata.annotations['streamline-enrich/stage'];
    assert.match(
      item!.stringData.url,
      new RegExp(`^redis://${config.pipeline}-${stage}:[0-9a-f]{64}@redis\\.internal:6379$`),
      `${name} carries its stage user`,
    );
  }
  const masked = spawnSync(process.execPath, [join(REPO, 'scripts/pipeline.mjs'), '--config', CONFIG, 'acl', '--format', 'k8s'], {
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' },
  });
  // Masked Secrets would apply cleanly and break every worker: refused, nothing printed.
  assert.is(masked.status, 1, masked.stderr);
  assert.match(masked.stderr, /--format k8s prints Secret manifests that are applied as they are: add --show-secrets/);
  assert.is(masked.stdout, '');
});

test('autoscaling options carry over to KEDA (scale to zero included); colliding stage names are a config error', () => {
  const raw = {
    pipeline: 'shop',
    defaults: { drainTimeoutMs: 45_000 },
    stages: [
      {
        name: 'preprocess',
        kind: 'preprocess',
        input: 'in',
        minWorkers: 0,
        maxWorkers: 5,
        scaleUpLag: 20,
        scaleDownIdleMs: 90_000,
        autoscaleIntervalMs: 2_000,
      },
      { name: 'store', kind: 'store' },
    ],
    routes: { preprocess: [{ to: 'store' }] },
  };
  const docs = k8sManifests(resolveConfig(raw, 'x', { env: {} }), JSON.stringify(raw));
  const so = docs.find((d) => d.kind === 'ScaledObject' && (d.metadata as Obj).name === 'shop-preprocess') as Obj;
  assert.equal([so.spec.minReplicaCount, so.spec.maxReplicaCount, so.spec.pollingInterval, so.spec.cooldownPeriod], [0, 5, 2, 90]);
  assert.equal(so.spec.triggers[0].metadata, {
    ...so.spec.triggers[0].metadata,
    stream: '{shop}:in',
    consumerGroup: 'preprocess',
    lagCount: '20',
    activationLagCount: '0',
  });
  // Scaled to zero only when nothing is pending either: entries delivered to a pod that crashed are lag 0.
  const { lagCount: _lag, activationLagCount: _act, ...where } = so.spec.triggers[0].metadata as Obj;
  assert.equal(so.spec.triggers[1].metadata, { ...where, pendingEntriesCount: '20' });
  const storeSo = docs.find((d) => d.kind === 'ScaledObject' && (d.metadata as Obj).name === 'shop-store') as Obj;
  assert.is(storeSo.spec.triggers.length, 1, 'a process that never scales to zero needs no pending trigger');
  const dep = docs.find((d) => d.kind === 'Deployment' && (d.metadata as Obj).name === 'shop-store') as Obj;
  assert.is(dep.spec.template.spec.terminationGracePeriodSeconds, 55);
  const clash = { ...raw, stages: [...raw.stages, { name: 'pre.process', kind: 'store' }, { name: 'Pre-Process', kind: 'store' }] };
  assert.throws(
    () => k8sManifests(resolveConfig(clash, 'x', { env: {} }), ''),
    (e: Error) => e instanceof ConfigError && /stages\.Pre-Process/.test(e.message),
  );
});

/** Every source file of the runtime (the code that sends metrics). */
test('Dockerfile: multi-stage Node 20, compiled in a build stage, production dependencies only, no tsx at runtime, models shipped, non-root', () => {
  const df = read('deploy/Dockerfile');
  const froms = [...df.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
  assert.ok(froms.length >= 2 && froms.every((f) => f.startsWith('node:20')), froms.join(', '));
  assert.match(df, /npm ci --omit=dev/);
  assert.match(df, /^COPY models \.\/models$/m);
  assert.match(df, /^USER node$/m);
  assert.match(df, /^RUN npm run build$/m, 'a build stage compiles dist/');
  assert.match(df, /^COPY --from=build \/app\/dist \.\/dist$/m, 'the runtime gets the compiled dist/');
  assert.match(df, /^ENTRYPOINT \["node", "dist\/scripts\/cli\.js"\]$/m, 'exec form: node is PID 1 (health probes use --pid 1), compiled JavaScript');
  const pkg = JSON.parse(read('package.json')) as Obj;
  assert.ok(!pkg.dependencies.tsx && pkg.devDependencies.tsx, 'tsx is a development dependency only');
  assert.is(pkg.bin.pipeline, 'dist/scripts/cli.js', 'the bin runs compiled JavaScript');
  assert.ok(!pkg.dependencies.yaml, 'deploy rendering stays a dev-time tool');
  const ignore = read('deploy/Dockerfile.dockerignore').split('\n');
  for (const p of ['**/node_modules', 'test', '.git']) assert.ok(ignore.includes(p), `context excludes ${p}`);
  for (const copied of [...df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '))) {
    if (copied !== 'models') assert.ok(existsSync(join(REPO, copied)), `COPY ${copied}: missing`);
  }
  assert.is(relative(REPO, dirname(join(REPO, 'deploy/Dockerfile'))), 'deploy');
});

test('deploy audit: compose uses its own PIPELINE_REDIS_URL and keeps rejects on a volume; k8s Redis has maxmemory, KEDA a qualified address; classify requests its peak', () => {
  const services = (parse(read('deploy/docker-compose.yml')) as Obj).services as Obj;
  for (const [name, svc] of Object.entries(services) as [string, Obj][]) {
    if (svc.environment?.REDIS_URL !== undefined) assert.is(svc.environment.REDIS_URL, '${PIPELINE_REDIS_URL:-redis://redis:6379}', name);
  }
  const producer = services.producer as Obj;
  const rejects = producer.command[producer.command.indexOf('--rejects') + 1] as string;
  assert.ok(
    (producer.volumes as string[]).some((v) => rejects.startsWith(`${v.split(':')[1]}/`) && !v.startsWith('.')),
    `${rejects} is on a named volume`,
  );
  assert.match(read('deploy/Dockerfile'), /install -d -o node -g node \/rejects/);
  const redis = parseAllDocuments(read('deploy/k8s/redis.yaml')).map((d) => d.toJS() as Obj);
  assert.match(redis.find((d) => d.kind === 'Secret')!.stringData.address, /^redis\.[a-z0-9-]+\.svc\.cluster\.local:6379$/);
  const box = redis.find((d) => d.kind === 'StatefulSet')!.spec.template.spec.containers[0] as Obj;
  const args = box.args as string[];
  const maxMb = Number(/^(\d+)mb$/.exec(args[args.indexOf('--maxmemory') + 1] ?? '')?.[1]);
  const limitMi = Number(/^(\d+)Gi$/.exec(box.resources.limits.memory)![1]) * 1024;
  assert.ok(maxMb > 0 && maxMb <= 0.85 * limitMi && maxMb >= 0.7 * limitMi, `maxmemory ${maxMb} MB of a ${limitMi} MiB limit`);
  assert.is(args[args.indexOf('--maxmemory-policy') + 1], 'noeviction');
  assert.not.match(read('deploy/k8s/kustomization.yaml'), /username=observer\b/);
  const k8s = parseAllDocuments(read('deploy/k8s/pipeline.yaml')).map((d) => d.toJS() as Obj);
  const classify = k8s.find((d) => d.kind === 'Deployment' && d.metadata.name === deploymentName(config, processOf(config, 'classify').name))!;
  const request = classify.spec.template.spec.containers[0].resources.requests.memory as string;
  assert.ok(Number(/^(\d+)Mi$/.exec(request)![1]) * 1.048576 > 424, `classify requests ${request}, above its 424 MB peak (docs/benchmarks.md)`);
});

test.run();
