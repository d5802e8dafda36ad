/**
 * Renders the per-stage deployment files from the pipeline config, so they never drift from it:
 * `npm run dev -- deploy render` writes them, `--check` (and test/ops/deploy.test.ts) fails when the
 * committed files differ from what the config renders to.
 *
 *   deploy/docker-compose.yml   redis (AOF), one service per stage, monitor, webhooks (when configured), producer profile, statsd-exporter, Prometheus, Grafana
 *   deploy/k8s/pipeline.yaml    config ConfigMap, per stage a Deployment and a KEDA ScaledObject, KEDA's TriggerAuthentication, the monitor, the API, webhooks (when configured), statsd-exporter
 *   deploy/k8s/stage-secrets.yaml  the Redis users' Secrets: one per stage, the API's and the webhooks' (deploy/render-secrets.ts)
 *   deploy/statsd/mapping.yml   StatsD → Prometheus names for every metric in METRIC_CATALOG
 *   deploy/prometheus/alerts.yml, deploy/k8s/prometheus-rules.yaml  the alerting rules (deploy/render-alerts.ts)
 *
 * Dev-time only (it needs the `yaml` devDependency); the runtime image does not ship deploy/.
 */
import { posix } from 'node:path';
import { stageRedisUrlEnv } from '../lib/config/load.js';
import { ConfigError } from '../lib/core/errors.js';
import { API_REDIS_URL_ENV } from '../lib/ops/acl-api.js';
import { WEBHOOKS_REDIS_URL_ENV } from '../lib/ops/acl-webhooks.js';
import type { ResolvedConfig } from '../lib/config/types.js';
import { alertRulesFile, prometheusRule } from './render-alerts.js';
import { k8sManifests } from './render-k8s.js';
import { k8sUserSecrets } from './render-secrets.js';
import {
  API_ARGS,
  API_GRACE_SECONDS,
  API_PORT,
  IMAGE,
  INFRA_SERVICES,
  STATSD_UDP_PORT,
  envName,
  graceSeconds,
  PROGRESS_FILE,
  progressProbeArgs,
  processStages,
  serviceName,
  statsdMapping,
  yaml,
} from './render-names.js';
import { WEBHOOKS_SERVICE, webhookSecretEnvs, webhooksGraceSeconds } from './render-webhooks.js';

export { ALERT_LEVELS, ALERT_TIMING, alertGroups, alertRulesFile, prometheusRule, type AlertRule, type Severity } from './render-alerts.js';
export { KEDA_AUTH, k8sManifests, kedaAuthentication } from './render-k8s.js';
export { DEV_REDIS_URL, k8sApiSecret, k8sStageSecrets, k8sUserSecrets, k8sWebhooksSecrets } from './render-secrets.js';
export * from './render-names.js';
export { WEBHOOKS_SERVICE, webhookSecretEnvs, webhookSecretsName, webhooksDeployment, webhooksGraceSeconds } from './render-webhooks.js';

function composeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    // Its own variable: a REDIS_URL exported in the shell (e.g. 127.0.0.1 for local runs) would reach every container.
    REDIS_URL: '${PIPELINE_REDIS_URL:-redis://redis:6379}',
    STATSD_HOST: 'statsd-exporter',
    STATSD_PORT: String(STATSD_UDP_PORT),
    LOG_LEVEL: '${LOG_LEVEL:-info}',
    ...extra,
  };
}

/** The config the rendering read, as a path relative to the repository (what the files' header names). */
export const DEFAULT_SOURCE = 'config/pipeline.json';

/** How the containers see the config: its folder mounted at /app/config and, for a file other than config/pipeline.json, PIPELINE_CONFIG naming it. */
interface ConfigMount {
  volume: string;
  env: Record<string, string>;
}

/**
 * The rendered config's folder (relative to deploy/, where compose resolves paths) mounted as
 * /app/config, the image's default config folder; a file other than config/pipeline.json is named
 * by PIPELINE_CONFIG. Rendered with `--config config/prod.json`, the services had still mounted
 * ../config and read config/pipeline.json: stages, processes and webhooks of another config.
 */
export function composeConfigMount(source = DEFAULT_SOURCE): ConfigMount {
  const file = posix.normalize(source.replaceAll('\\', '/'));
  if (file === DEFAULT_SOURCE) return { volume: '../config:/app/config:ro', env: {} };
  return { volume: `${posix.join('..', posix.dirname(file))}:/app/config:ro`, env: { PIPELINE_CONFIG: `/app/config/${posix.basename(file)}` } };
}

function composeApp(command: string[], env: Record<string, string> | undefined, mount: ConfigMount): Record<string, unknown> {
  return {
    image: '${PIPELINE_IMAGE:-' + IMAGE + '}',
    build: { context: '..', dockerfile: 'deploy/Dockerfile' },
    command,
    environment: composeEnv({ ...mount.env, ...env }),
    volumes: [mount.volume],
    depends_on: { redis: { condition: 'service_healthy' } },
  };
}

/**
 * The `webhooks` service: PIPELINE_WEBHOOKS_REDIS_URL (the webhooks user of `pipeline acl --write-env
 * deploy/.env`; empty: REDIS_URL) and each `secretEnv` passed through from the host or deploy/.env.
 * Unset there, `pipeline webhooks` exits with a config error naming it (a `${VAR:?}` would stop
 * compose from starting any service). Replicas WEBHOOKS_REPLICAS, default 1: several share the groups.
 */
function composeWebhooks(config: ResolvedConfig, mount: ConfigMount): Record<string, unknown> {
  const secrets = Object.fromEntries(webhookSecretEnvs(config).map((v) => [v, '${' + v + ':-}']));
  return {
    ...composeApp([WEBHOOKS_SERVICE], { [WEBHOOKS_REDIS_URL_ENV]: '${' + WEBHOOKS_REDIS_URL_ENV + ':-}', ...secrets }, mount),
    restart: 'unless-stopped',
    deploy: { replicas: '${WEBHOOKS_REPLICAS:-1}' },
    stop_grace_period: `${webhooksGraceSeconds(config)}s`,
  };
}

export function composeFile(config: ResolvedConfig, source = DEFAULT_SOURCE): Record<string, unknown> {
  const mount = composeConfigMount(source);
  const services: Record<string, unknown> = {
    redis: {
      image: 'redis:7.4-alpine',
      command: ['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec'],
      volumes: ['redis-data:/data'],
      ports: ['127.0.0.1:${REDIS_PORT:-6379}:6379'],
      healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '5s', timeout: '3s', retries: 20 },
      restart: 'unless-stopped',
    },
    monitor: { ...composeApp(['monitor'], undefined, mount), restart: 'unless-stopped' },
  };
  // `pipeline webhooks` when the config has webhooks (before the stages: a stage named like it is a clash).
  if (config.webhooks.length > 0) services[WEBHOOKS_SERVICE] = composeWebhooks(config, mount);
  // One service per worker process: a stage alone, or the stages sharing a `process`.
  for (const p of config.processes) {
    const { stages, options } = processStages(config, p);
    const name = serviceName(p.name);
    if ((INFRA_SERVICES as readonly string[]).includes(name) || name in services)
      throw new ConfigError(`stages.${stages[0]!.name}`, `its compose service name ${name} is taken (rename the ${stages.length > 1 ? 'process' : 'stage'})`);
    const urls = Object.fromEntries(stages.map((s) => stageRedisUrlEnv(s.name)).map((v) => [v, '${' + v + ':-}']));
    services[name] = {
      ...composeApp(['worker', p.stages.join(',')], { ...urls, PROGRESS_FILE, EXIT_ON_HUNG: '1' }, mount),
      restart: 'unless-stopped',
      deploy: { replicas: '${' + envName(p.name) + '_REPLICAS:-' + Math.max(1, options.minWorkers) + '}' },
      stop_grace_period: `${graceSeconds({ name: p.name, drainTimeoutMs: options.drainTimeoutMs })}s`,
      // The progress file's age, as in Kubernetes; `$$` is compose's escape for a literal `$`.
      healthcheck: {
        test: ['CMD', ...progressProbeArgs(stages, false).map((a) => a.replaceAll('$', '$$$$'))],
        interval: '30s',
        timeout: '10s',
        retries: 3,
        start_period: '120s',
      },
    };
  }
  services.producer = {
    // Rejected lines go to a named volume (a --rm container's /tmp is gone with it); /rejects is the node user's in the image.
    ...composeApp(['produce', '/data/input.jsonl', '--rejects', '/rejects/rejects.jsonl'], undefined, mount),
    profiles: ['produce'],
    restart: 'no',
    volumes: [mount.volume, '${PRODUCE_INPUT:-../data/sample.jsonl}:/data/input.jsonl:ro', 'producer-rejects:/rejects'],
  };
  // The HTTP API (docs/api.md): its own service, started with `--profile api` and API_TOKENS set
  // (without tokens it refuses to listen beyond loopback, so the container would exit).
  services.api = {
    // PIPELINE_API_REDIS_URL: the API user of `pipeline acl --write-env deploy/.env` (empty: REDIS_URL), as the stages' REDIS_URL_<STAGE>.
    ...composeApp(API_ARGS, { [API_REDIS_URL_ENV]: '${' + API_REDIS_URL_ENV + ':-}', API_TOKENS: '${API_TOKENS:-}' }, mount),
    profiles: ['api'],
    ports: ['127.0.0.1:${API_PORT:-' + API_PORT + '}:' + API_PORT],
    restart: 'unless-stopped',
    stop_grace_period: `${API_GRACE_SECONDS}s`,
    healthcheck: {
      test: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${API_PORT}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
      interval: '15s',
      timeout: '5s',
      retries: 3,
      start_period: '20s',
    },
  };
  services['statsd-exporter'] = {
    image: 'prom/statsd-exporter:v0.28.0',
    command: ['--statsd.mapping-config=/etc/statsd/mapping.yml', `--statsd.listen-udp=:${STATSD_UDP_PORT}`, '--web.listen-address=:9102'],
    volumes: ['./statsd/mapping.yml:/etc/statsd/mapping.yml:ro'],
    restart: 'unless-stopped',
  };
  services.prometheus = {
    image: 'prom/prometheus:v2.55.1',
    // prometheus.yml loads the rendered alerting rules from beside it (rule_files).
    volumes: ['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'],
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
  return { services, volumes: { 'redis-data': {}, 'producer-rejects': {} } };
}

const header = (source: string) =>
  `# Generated by \`npm run dev -- deploy render\` from ${source}. Do not edit: change the config (or deploy/render.ts) and render again.\n`;

/** Every generated file, by path relative to the repository root. */
const STAGE_SECRETS_NOTE = [
  "# One Secret per stage: its REDIS_URL (key `url`), and the API server's, `<pipeline>-api-redis`: its",
  '# PIPELINE_API_REDIS_URL. These point every stage and the API at the development Redis (redis.yaml) as its',
  '# default user. Production: one ACL user per stage and one for the API (the same Secret names), e.g.',
  '#   REDIS_URL=<admin url> npx pipeline acl --apply --url-base <url the pods use> --format k8s --show-secrets | kubectl apply -f -',
  '# and drop this file from kustomization.yaml.',
  '',
].join('\n');

const ALERTS_NOTE = [
  '# Prometheus alerting rules (docs/metrics-and-monitoring.md#alerts): severity page or ticket, thresholds from the',
  "# config (a stage's scaleUpLag, limits.doneMaxLen × ALERT_LEVELS; the windows and `for:` durations are ALERT_TIMING in deploy/alert-rule-parts.ts).",
  '',
].join('\n');
const PROMETHEUS_RULE_NOTE = [
  '# The alerting rules of deploy/prometheus/alerts.yml for the Prometheus Operator (docs/metrics-and-monitoring.md#alerts).',
  '# Not in kustomization.yaml (the CRD may not be installed): kubectl apply -f deploy/k8s/prometheus-rules.yaml, with the',
  "# label your Prometheus's ruleSelector wants (kube-prometheus-stack: release=<its release>).",
  '',
].join('\n');

export function renderDeploy(config: ResolvedConfig, rawConfig: string, source = DEFAULT_SOURCE): Map<string, string> {
  return new Map([
    ['deploy/docker-compose.yml', header(source) + yaml(composeFile(config, source))],
    ['deploy/k8s/pipeline.yaml', header(source) + k8sManifests(config, rawConfig).map(yaml).join('---\n')],
    ['deploy/k8s/stage-secrets.yaml', header(source) + STAGE_SECRETS_NOTE + k8sUserSecrets(config).map(yaml).join('---\n')],
    ['deploy/statsd/mapping.yml', header(source) + yaml(statsdMapping(config))],
    ['deploy/prometheus/alerts.yml', header(source) + ALERTS_NOTE + yaml(alertRulesFile(config))],
    ['deploy/k8s/prometheus-rules.yaml', header(source) + PROMETHEUS_RULE_NOTE + yaml(prometheusRule(config))],
  ]);
}
