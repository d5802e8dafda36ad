/**
 * Renders the per-stage deployment files from the pipeline config, so they never drift from it:
 * `npx pipeline deploy render` writes them, `--check` (and test/deploy.test.ts) fails when the
 * committed files differ from what the config renders to.
 *
 *   deploy/docker-compose.yml   redis (AOF), one service per stage, monitor, producer profile, statsd-exporter, Prometheus, Grafana
 *   deploy/k8s/pipeline.yaml    config ConfigMap, per stage a Deployment and a KEDA ScaledObject, the monitor, statsd-exporter
 *   deploy/statsd/mapping.yml   StatsD → Prometheus names for every metric in METRIC_CATALOG
 *
 * Dev-time only (it needs the `yaml` devDependency); the runtime image does not ship deploy/.
 */
import { Document, isScalar, visit } from 'yaml';
import { stageRedisUrlEnv } from '../lib/config/load.js';
import { ConfigError } from '../lib/core/errors.js';
import type { ResolvedConfig, ResolvedStage } from '../lib/config/types.js';
import { checkGracePeriod } from '../lib/config/checks.js';
import { METRIC_CATALOG, type MetricSpec } from '../lib/observe/metrics.js';
import { Keys } from '../lib/redis/keys.js';
import { k8sSecretName } from '../lib/ops/acl.js';

export const IMAGE = 'streamline-enrich:latest';
/** Compose services that are not stages; a stage whose name maps to one of these is an error. */
export const INFRA_SERVICES = ['redis', 'monitor', 'producer', 'api', 'statsd-exporter', 'prometheus', 'grafana'] as const;

/** The HTTP API's port in the container (`pipeline serve --port`). */
export const API_PORT = 8080;
/** `pipeline serve` in a container: on every interface, so tokens are required (API_TOKENS). */
export const API_ARGS = ['serve', '--host', '0.0.0.0', '--port', String(API_PORT)];
/** Drain budget of the API: its longest request (`maxWaitMs`, 60 s) plus a margin. */
const API_GRACE_SECONDS = 75;
export const STATSD_UDP_PORT = 9125;
const TIMER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A Kubernetes/compose-safe name: lowercase letters, digits and '-', at most 63 characters. */
export function dnsName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
}

/** `extract.electronics` → `EXTRACT_ELECTRONICS` (env var names: `<STAGE>_REPLICAS`). */
export function envName(stage: string): string {
  return stage.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The Prometheus name statsd_exporter gives a metric under this mapping (timers are in seconds there). */
export function promName(spec: MetricSpec, prefix: string): string {
  const base = `${prefix}${prefix && !prefix.endsWith('.') ? '.' : ''}${spec.name}`.replace(/[^A-Za-z0-9_]/g, '_');
  if (spec.type === 'counter') return `${base}_total`;
  if (spec.type === 'timer') return `${base.replace(/_ms$/, '')}_seconds`;
  return base;
}

/** SIGTERM → exit: the drain, plus time to QUIT and close the stage. */
export function graceSeconds(stage: ResolvedStage): number {
  const grace = Math.ceil(stage.drainTimeoutMs / 1000) + 10;
  checkGracePeriod(`stages.${stage.name}`, stage, grace, 'the rendered grace period (terminationGracePeriodSeconds, stop_grace_period)');
  return grace;
}


export function deploymentName(config: ResolvedConfig, stage: string): string {
  return dnsName(`${config.pipeline}-${stage}`);
}

export function serviceName(stage: string): string {
  return dnsName(stage);
}

/** statsd_exporter mapping: one explicit rule per metric (counters `_total`, timers histograms in seconds). */
export function statsdMapping(config: ResolvedConfig): Record<string, unknown> {
  const prefix = config.metrics.prefix.replace(/\.$/, '');
  return {
    defaults: { observer_type: 'histogram', histogram_options: { buckets: TIMER_BUCKETS }, ttl: '0s' },
    mappings: METRIC_CATALOG.map((m) => ({
      match: prefix ? `${prefix}.${m.name}` : m.name,
      name: promName(m, config.metrics.prefix),
      help: m.help,
      match_metric_type: m.type === 'counter' ? 'counter' : m.type === 'gauge' ? 'gauge' : 'observer',
      ...(m.type === 'histogram' ? { observer_type: 'histogram', histogram_options: { buckets: SIZE_BUCKETS } } : {}),
    })),
  };
}

/** Where workers' watchdogs write their progress (env PROGRESS_FILE; /tmp is an emptyDir). */
export const PROGRESS_FILE = '/tmp/progress.json';

/**
 * The periodic probes: the age of the watchdog's progress file, checked by `sh` (no Node start,
 * which costs ~0.5 s of CPU per probe). The watchdog rewrites it every `watchdogIntervalMs` while
 * the read loop progresses and while it waits for a reconnecting Redis (marked
 * `"waitingForRedis":true`), or waits out a dependency outage (past `blockMs + stallTimeoutMs`:
 * `"waitingForDependency":true`); it stops when the loop is stuck, so the file ages past
 * `blockMs + stallTimeoutMs`. Liveness: fresh. Readiness: fresh and waiting for nothing.
 */
export function progressProbeArgs(stage: ResolvedStage, readiness: boolean): string[] {
  const maxAgeSeconds = Math.ceil((stage.blockMs + stage.stallTimeoutMs + 2 * stage.watchdogIntervalMs) / 1000);
  const fresh = `test $(( $(date +%s) - $(stat -c %Y "$PROGRESS_FILE") )) -le ${maxAgeSeconds}`;
  return ['sh', '-c', readiness ? `${fresh} && ! grep -Eq '"waitingFor(Redis|Dependency)":true' "$PROGRESS_FILE"` : fresh];
}

function healthArgs(stage: ResolvedStage, liveness: boolean): string[] {
  // --pid 1: the image's exec-form ENTRYPOINT makes the worker PID 1, so its consumer is <hostname>-1-0.
  return ['node', 'dist/scripts/cli.js', 'health', '--stage', stage.name, '--pid', '1', ...(liveness ? ['--unknown-ok'] : [])];
}

function composeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: '${REDIS_URL:-redis://redis:6379}',
    STATSD_HOST: 'statsd-exporter',
    STATSD_PORT: String(STATSD_UDP_PORT),
    LOG_LEVEL: '${LOG_LEVEL:-info}',
    ...extra,
  };
}

function composeApp(command: string[], env?: Record<string, string>): Record<string, unknown> {
  return {
    image: '${PIPELINE_IMAGE:-' + IMAGE + '}',
    build: { context: '..', dockerfile: 'deploy/Dockerfile' },
    command,
    environment: composeEnv(env),
    volumes: ['../config:/app/config:ro'],
    depends_on: { redis: { condition: 'service_healthy' } },
  };
}

export function composeFile(config: ResolvedConfig): Record<string, unknown> {
  const services: Record<string, unknown> = {
    redis: {
      image: 'redis:7.4-alpine',
      command: ['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec'],
      volumes: ['redis-data:/data'],
      ports: ['127.0.0.1:${REDIS_PORT:-6379}:6379'],
      healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '5s', timeout: '3s', retries: 20 },
      restart: 'unless-stopped',
    },
    monitor: { ...composeApp(['monitor']), restart: 'unless-stopped' },
  };
  for (const stage of config.stages) {
    const name = serviceName(stage.name);
    if ((INFRA_SERVICES as readonly string[]).includes(name) || name in services) throw new ConfigError(`stages.${stage.name}`, `its compose service name ${name} is taken (rename the stage)`);
    const perStageUrl = stageRedisUrlEnv(stage.name);
    services[name] = {
      ...composeApp(['worker', stage.name], { [perStageUrl]: '${' + perStageUrl + ':-}', PROGRESS_FILE }),
      restart: 'unless-stopped',
      deploy: { replicas: '${' + envName(stage.name) + '_REPLICAS:-' + Math.max(1, stage.minWorkers) + '}' },
      stop_grace_period: `${graceSeconds(stage)}s`,
      // The progress file's age, as in Kubernetes; `$$` is compose's escape for a literal `$`.
      healthcheck: { test: ['CMD', ...progressProbeArgs(stage, false).map((a) => a.replaceAll('$', '$$$$'))], interval: '30s', timeout: '10s', retries: 3, start_period: '120s' },
    };
  }
  services.producer = {
    ...composeApp(['produce', '/data/input.jsonl', '--rejects', '/tmp/rejects.jsonl']),
    profiles: ['produce'],
    restart: 'no',
    volumes: ['../config:/app/config:ro', '${PRODUCE_INPUT:-../data/sample.jsonl}:/data/input.jsonl:ro'],
  };
  // The HTTP API (docs/api.md): its own service, started with `--profile api` and API_TOKENS set
  // (without tokens it refuses to listen beyond loopback, so the container would exit).
  services.api = {
    ...composeApp(API_ARGS, { API_TOKENS: '${API_TOKENS:-}' }),
    profiles: ['api'],
    ports: ['127.0.0.1:${API_PORT:-' + API_PORT + '}:' + API_PORT],
    restart: 'unless-stopped',
    stop_grace_period: `${API_GRACE_SECONDS}s`,
    healthcheck: { test: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${API_PORT}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`], interval: '15s', timeout: '5s', retries: 3, start_period: '20s' },
  };
  services['statsd-exporter'] = {
    image: 'prom/statsd-exporter:v0.28.0',
    command: ['--statsd.mapping-config=/etc/statsd/mapping.yml', `--statsd.listen-udp=:${STATSD_UDP_PORT}`, '--web.listen-address=:9102'],
    volumes: ['./statsd/mapping.yml:/etc/statsd/mapping.yml:ro'],
    restart: 'unless-stopped',
  };
  services.prometheus = {
    image: 'prom/prometheus:v2.55.1',
    volumes: ['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'],
    ports: ['127.0.0.1:${PROMETHEUS_PORT:-9090}:9090'],
    restart: 'unless-stopped',
  };
  services.grafana = {
    image: 'grafana/grafana:11.3.1',
    environment: {
      GF_AUTH_ANONYMOUS_ENABLED: 'true',
      GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
      GF_SECURITY_ADMIN_PASSWORD: '${GRAFANA_ADMIN_PASSWORD:-admin}',
      GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: '/var/lib/grafana/dashboards/pipeline.json',
    },
    volumes: ['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/var/lib/grafana/dashboards:ro'],
    ports: ['127.0.0.1:${GRAFANA_PORT:-3000}:3000'],
    depends_on: ['prometheus'],
    restart: 'unless-stopped',
  };
  return { services, volumes: { 'redis-data': {} } };
}

const LABELS = (instance: string, component: string) => ({
  'app.kubernetes.io/name': 'streamline-enrich',
  'app.kubernetes.io/instance': instance,
  'app.kubernetes.io/component': component,
});

/**
 * A container's env. `redisSecret`: the Secret whose `url` is REDIS_URL (a stage's own user,
 * `k8sSecretName`); KEDA's address and password stay on `pipeline-redis`.
 */
function k8sEnv(redisSecret = 'pipeline-redis'): Record<string, unknown>[] {
  const secret = (name: string, key: string, from = 'pipeline-redis') => ({ name, valueFrom: { secretKeyRef: { name: from, key } } });
  return [
    { name: 'PIPELINE_CONFIG', value: '/etc/pipeline/pipeline.json' },
    secret('REDIS_URL', 'url', redisSecret),
    // host:port and password for KEDA's redis-streams trigger (addressFromEnv / passwordFromEnv).
    secret('REDIS_ADDRESS', 'address'),
    secret('REDIS_PASSWORD', 'password'),
    { name: 'STATSD_HOST', value: 'statsd-exporter' },
    { name: 'STATSD_PORT', value: String(STATSD_UDP_PORT) },
    { name: 'LOG_LEVEL', value: 'info' },
    { name: 'PROGRESS_FILE', value: PROGRESS_FILE },
  ];
}

function podSpec(containerName: string, args: string[], extra: Record<string, unknown>, podExtra: Record<string, unknown> = {}, redisSecret?: string): Record<string, unknown> {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
    ...podExtra,
    containers: [
      {
        name: containerName,
        image: IMAGE,
        args,
        env: k8sEnv(redisSecret),
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/pipeline', readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
        ],
        ...extra,
      },
    ],
    volumes: [
      { name: 'config', configMap: { name: 'pipeline-config' } },
      { name: 'tmp', emptyDir: {} },
    ],
  };
}

function stageDeployment(config: ResolvedConfig, stage: ResolvedStage): Record<string, unknown> {
  const name = deploymentName(config, stage.name);
  const probe = (command: string[], periodSeconds: number, failureThreshold: number) => ({
    exec: { command },
    periodSeconds,
    timeoutSeconds: 10,
    failureThreshold,
  });
  const model = stage.model !== undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: LABELS(name, 'stage'), annotations: { 'streamline-enrich/stage': stage.name } },
    // No `replicas`: the ScaledObject (KEDA's HPA) owns the count, between minWorkers and maxWorkers.
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
      template: {
        metadata: { labels: LABELS(name, 'stage') },
        spec: podSpec(
          'worker',
          ['worker', stage.name],
          {
            resources: {
              requests: { cpu: String(stage.threads), memory: model ? '1Gi' : '256Mi' },
              limits: { memory: model ? '2Gi' : '512Mi' },
            },
            // Progress, not just a process. Start-up: `pipeline health` (this pod's consumer has a live
            // marker in Redis), once. Then the progress file's age, by sh (progressProbeArgs).
            startupProbe: probe(healthArgs(stage, false), 10, 60),
            readinessProbe: probe(progressProbeArgs(stage, true), 30, 2),
            livenessProbe: probe(progressProbeArgs(stage, false), 30, 4),
          },
          { terminationGracePeriodSeconds: graceSeconds(stage) },
          k8sSecretName(config.pipeline, stage.name),
        ),
      },
    },
  };
}

function scaledObject(config: ResolvedConfig, stage: ResolvedStage): Record<string, unknown> {
  const name = deploymentName(config, stage.name);
  const cooldown = Math.ceil(stage.scaleDownIdleMs / 1000);
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, labels: LABELS(name, 'stage') },
    spec: {
      scaleTargetRef: { name },
      minReplicaCount: stage.minWorkers,
      maxReplicaCount: stage.maxWorkers,
      pollingInterval: Math.ceil(stage.autoscaleIntervalMs / 1000),
      cooldownPeriod: cooldown,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            // Like `pipeline up`: lag held for scaleUpAfterMs before adding; one pod at a time down after an idle window.
            scaleUp: { stabilizationWindowSeconds: Math.ceil(stage.scaleUpAfterMs / 1000) },
            scaleDown: { stabilizationWindowSeconds: cooldown, policies: [{ type: 'Pods', value: 1, periodSeconds: cooldown }] },
          },
        },
      },
      triggers: [
        {
          type: 'redis-streams',
          metadata: {
            addressFromEnv: 'REDIS_ADDRESS',
            passwordFromEnv: 'REDIS_PASSWORD',
            stream: new Keys(config.pipeline).stream(stage.input),
            consumerGroup: stage.name,
            // Lag (XINFO GROUPS, Redis 7+): the only redis-streams mode that scales to and from zero.
            lagCount: String(stage.scaleUpLag),
            // Active above 0: one undelivered message wakes a stage scaled to zero.
            activationLagCount: '0',
          },
        },
      ],
    },
  };
}

/**
 * One Secret per stage (`k8sSecretName`) whose `url` is that stage's REDIS_URL. Rendered with the
 * development Redis's URL (deploy/k8s/redis.yaml, default user); in production replace them with
 * the stage users' URLs: `pipeline acl --apply --format k8s --show-secrets | kubectl apply -f -`.
 */
export function k8sStageSecrets(config: ResolvedConfig, url = 'redis://redis:6379'): Record<string, unknown>[] {
  return config.stages.map((stage) => {
    const name = k8sSecretName(config.pipeline, stage.name);
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, labels: LABELS(deploymentName(config, stage.name), 'redis-user'), annotations: { 'streamline-enrich/stage': stage.name, 'streamline-enrich/redis-user': `${config.pipeline}-${stage.name}` } },
      type: 'Opaque',
      stringData: { url },
    };
  });
}

export function k8sManifests(config: ResolvedConfig, rawConfig: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pipeline-config', labels: LABELS('pipeline-config', 'config') }, data: { 'pipeline.json': rawConfig } },
  ];
  const names = new Set<string>();
  for (const stage of config.stages) {
    const name = deploymentName(config, stage.name);
    if (names.has(name)) throw new ConfigError(`stages.${stage.name}`, `its Kubernetes name ${name} is taken by another stage (rename one)`);
    names.add(name);
    docs.push(stageDeployment(config, stage), scaledObject(config, stage));
  }
  const monitor = dnsName(`${config.pipeline}-monitor`);
  docs.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: monitor, labels: LABELS(monitor, 'monitor') },
    spec: {
      replicas: 1, // exactly one gauge sampler per pipeline
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { 'app.kubernetes.io/instance': monitor } },
      template: {
        metadata: { labels: LABELS(monitor, 'monitor') },
        spec: podSpec('monitor', ['monitor'], { resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } } }),
      },
    },
  });
  docs.push(...apiManifests(config));
  docs.push(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'statsd-mapping', labels: LABELS('statsd-exporter', 'metrics') }, data: { 'mapping.yml': yaml(statsdMapping(config)) } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'statsd-exporter', labels: LABELS('statsd-exporter', 'metrics') },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/instance': 'statsd-exporter' } },
        template: {
          metadata: { labels: LABELS('statsd-exporter', 'metrics'), annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102' } },
          spec: {
            containers: [
              {
                name: 'statsd-exporter',
                image: 'prom/statsd-exporter:v0.28.0',
                args: ['--statsd.mapping-config=/etc/statsd/mapping.yml', `--statsd.listen-udp=:${STATSD_UDP_PORT}`, '--web.listen-address=:9102'],
                ports: [
                  { name: 'statsd', containerPort: STATSD_UDP_PORT, protocol: 'UDP' },
                  { name: 'metrics', containerPort: 9102, protocol: 'TCP' },
                ],
                volumeMounts: [{ name: 'mapping', mountPath: '/etc/statsd', readOnly: true }],
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              },
            ],
            volumes: [{ name: 'mapping', configMap: { name: 'statsd-mapping' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'statsd-exporter', labels: LABELS('statsd-exporter', 'metrics') },
      spec: {
        selector: { 'app.kubernetes.io/instance': 'statsd-exporter' },
        ports: [
          { name: 'statsd', port: STATSD_UDP_PORT, protocol: 'UDP' },
          { name: 'metrics', port: 9102, protocol: 'TCP' },
        ],
      },
    },
  );
  return docs;
}

/** The HTTP API: a Deployment (2 replicas: each holds two Redis connections, whatever its clients) and a Service. Tokens from Secret `pipeline-api`, key `tokens`. */
function apiManifests(config: ResolvedConfig): Record<string, unknown>[] {
  const name = dnsName(`${config.pipeline}-api`);
  const http = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: API_PORT }, periodSeconds, timeoutSeconds: 5, failureThreshold });
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels: LABELS(name, 'api') },
      spec: {
        replicas: 2,
        selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
        template: {
          metadata: { labels: LABELS(name, 'api') },
          spec: podSpec('api', API_ARGS, {
            env: [...k8sEnv(), { name: 'API_TOKENS', valueFrom: { secretKeyRef: { name: 'pipeline-api', key: 'tokens' } } }],
            ports: [{ name: 'http', containerPort: API_PORT }],
            resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
            readinessProbe: http('/readyz', 10, 2),
            livenessProbe: http('/healthz', 20, 3),
          }, { terminationGracePeriodSeconds: API_GRACE_SECONDS }),
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels: LABELS(name, 'api') },
      spec: { selector: { 'app.kubernetes.io/instance': name }, ports: [{ name: 'http', port: API_PORT, targetPort: 'http' }] },
    },
  ];
}

/** YAML that compose (YAML 1.1 readers) and kubectl read alike: `yes`/`no` quoted, lists of scalars on one line. */
function yaml(value: unknown): string {
  const doc = new Document(value, { version: '1.1', aliasDuplicateObjects: false });
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

const header = (source: string) =>
  `# Generated by \`npx pipeline deploy render\` from ${source}. Do not edit: change the config (or deploy/render.ts) and render again.\n`;

/** Every generated file, by path relative to the repository root. */
const STAGE_SECRETS_NOTE = [
  '# One Secret per stage: its REDIS_URL (key `url`). These point every stage at the development Redis',
  '# (redis.yaml) as its default user. Production: one ACL user per stage, e.g.',
  '#   REDIS_URL=<admin url> npx pipeline acl --apply --url-base <url the pods use> --format k8s --show-secrets | kubectl apply -f -',
  '# and drop this file from kustomization.yaml.',
  '',
].join('\n');

export function renderDeploy(config: ResolvedConfig, rawConfig: string, source = 'config/pipeline.json'): Map<string, string> {
  return new Map([
    ['deploy/docker-compose.yml', header(source) + yaml(composeFile(config))],
    ['deploy/k8s/pipeline.yaml', header(source) + k8sManifests(config, rawConfig).map(yaml).join('---\n')],
    ['deploy/k8s/stage-secrets.yaml', header(source) + STAGE_SECRETS_NOTE + k8sStageSecrets(config).map(yaml).join('---\n')],
    ['deploy/statsd/mapping.yml', header(source) + yaml(statsdMapping(config))],
  ]);
}
