/** The Kubernetes manifests: per worker process (a stage, or the stages sharing a `process`) a Deployment and a KEDA ScaledObject; the monitor, the API, `pipeline webhooks` (when configured: deploy/render-webhooks.ts), statsd-exporter (the Redis users' Secrets: deploy/render-secrets.ts). */
import { ConfigError } from '../lib/core/errors.js';
import type { ResolvedConfig, ResolvedProcess } from '../lib/config/types.js';
import { stageRedisUrlEnv } from '../lib/config/load.js';
import { Keys } from '../lib/redis/keys.js';
import { API_REDIS_URL_ENV, k8sSecretName } from '../lib/ops/acl.js';
import {
  API_ARGS,
  API_GRACE_SECONDS,
  API_PORT,
  LABELS,
  STATSD_UDP_PORT,
  deploymentName,
  dnsName,
  graceSeconds,
  healthArgs,
  progressProbeArgs,
  processStages,
  statsdMapping,
  yaml,
} from './render-names.js';
import { k8sEnv, podSpec } from './render-pod.js';
import { webhooksDeployment } from './render-webhooks.js';

/** One Deployment per worker process: a stage alone, or the stages sharing a `process` (`worker a,b,c`). */
function stageDeployment(config: ResolvedConfig, p: ResolvedProcess): Record<string, unknown> {
  const { stages, options } = processStages(config, p);
  const name = deploymentName(config, p.name);
  const probe = (command: string[], periodSeconds: number, failureThreshold: number) => ({
    exec: { command },
    periodSeconds,
    timeoutSeconds: 10,
    failureThreshold,
  });
  const models = stages.filter((s) => s.model !== undefined).length;
  const others = stages.slice(1).map((s): [string, string] => [stageRedisUrlEnv(s.name), k8sSecretName(config.pipeline, s.name)]);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: LABELS(name, 'stage'), annotations: { 'streamline-enrich/stage': p.stages.join(',') } },
    // No `replicas`: the ScaledObject (KEDA's HPA) owns the count, between minWorkers and maxWorkers.
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
      template: {
        metadata: { labels: LABELS(name, 'stage') },
        spec: podSpec(
          'worker',
          ['worker', p.stages.join(',')],
          {
            resources: {
              // docs/benchmarks.md: a model process peaks at about 150-425 MB (preprocess+classify 424 MB,
              // the three extractors together 419 MB); requests above that, limits with room for a larger hub model.
              requests: { cpu: String(options.threads), memory: `${384 + 128 * models}Mi` },
              limits: { memory: `${512 + 256 * models}Mi` },
            },
            // Progress, not just a process. Start-up: `pipeline health` (this pod's consumer has a live
            // marker in Redis), once. Then the progress file's age, by sh (progressProbeArgs).
            startupProbe: probe(healthArgs(stages, false), 10, 60),
            readinessProbe: probe(progressProbeArgs(stages, true), 30, 2),
            livenessProbe: probe(progressProbeArgs(stages, false), 30, 4),
          },
          { terminationGracePeriodSeconds: graceSeconds({ name: p.name, drainTimeoutMs: options.drainTimeoutMs }) },
          k8sSecretName(config.pipeline, stages[0]!.name),
          others,
        ),
      },
    },
  };
}

/** The TriggerAuthentication every ScaledObject's triggers name. */
export const KEDA_AUTH = 'pipeline-redis';

/**
 * KEDA's login to Redis, read by the operator from the `pipeline-redis` Secret: host:port, user and
 * password (in production a user that may only read group information, `pipeline acl`'s `observer`).
 * A TriggerAuthentication rather than `*FromEnv`, so no worker pod carries that password in its env.
 * `parameters`: KEDA's auth parameter → the Secret's key (the cluster render swaps `address` for `addresses`).
 */
export function kedaAuthentication(
  parameters: Record<string, string> = { address: 'address', username: 'username', password: 'password' },
): Record<string, unknown> {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: KEDA_AUTH, labels: LABELS(KEDA_AUTH, 'redis') },
    spec: { secretTargetRef: Object.entries(parameters).map(([parameter, key]) => ({ parameter, name: 'pipeline-redis', key })) },
  };
}

/** KEDA scales a process on each of its stages' lag (one trigger per stage: the highest wins), within processOptions' bounds. */
function scaledObject(config: ResolvedConfig, p: ResolvedProcess): Record<string, unknown> {
  const { stages, options } = processStages(config, p);
  const name = deploymentName(config, p.name);
  const cooldown = Math.ceil(options.scaleDownIdleMs / 1000);
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, labels: LABELS(name, 'stage') },
    spec: {
      scaleTargetRef: { name },
      minReplicaCount: options.minWorkers,
      maxReplicaCount: options.maxWorkers,
      pollingInterval: Math.ceil(options.autoscaleIntervalMs / 1000),
      cooldownPeriod: cooldown,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            // Like `pipeline up`: lag held for scaleUpAfterMs before adding; one pod at a time down after an idle window.
            scaleUp: { stabilizationWindowSeconds: Math.ceil(options.scaleUpAfterMs / 1000) },
            scaleDown: { stabilizationWindowSeconds: cooldown, policies: [{ type: 'Pods', value: 1, periodSeconds: cooldown }] },
          },
        },
      },
      triggers: stages.flatMap((stage) => {
        const on = { stream: new Keys(config.pipeline).stream(stage.input), consumerGroup: stage.name };
        const lag = {
          type: 'redis-streams',
          authenticationRef: { name: KEDA_AUTH },
          metadata: {
            ...on,
            // Lag (XINFO GROUPS, Redis 7+): the only redis-streams mode that scales to and from zero.
            lagCount: String(stage.scaleUpLag),
            // Active above 0: one undelivered message wakes a stage scaled to zero.
            activationLagCount: '0',
          },
        };
        // A process that may scale to zero also stays up while its group has pending entries: delivered
        // to a pod that crashed or outlived drainTimeoutMs, they are lag 0 and would wait for new input.
        // (`pipeline up` keeps the last worker while anything is pending, for the same reason.)
        if (options.minWorkers > 0) return [lag];
        return [lag, { type: 'redis-streams', authenticationRef: { name: KEDA_AUTH }, metadata: { ...on, pendingEntriesCount: String(stage.scaleUpLag) } }];
      }),
    },
  };
}

export function k8sManifests(config: ResolvedConfig, rawConfig: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'pipeline-config', labels: LABELS('pipeline-config', 'config') },
      data: { 'pipeline.json': rawConfig },
    },
  ];
  docs.push(kedaAuthentication());
  const names = new Set<string>();
  for (const p of config.processes) {
    const name = deploymentName(config, p.name);
    if (names.has(name)) throw new ConfigError(`stages.${p.stages[0]}`, `its Kubernetes name ${name} is taken by another stage or process (rename one)`);
    names.add(name);
    docs.push(stageDeployment(config, p), scaledObject(config, p));
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
  // `pipeline webhooks`, only when the config has webhooks (the shipped config renders none).
  const webhooks = webhooksDeployment(config);
  if (webhooks) {
    if (names.has(webhooks.metadata.name))
      throw new ConfigError('webhooks', `its Kubernetes name ${webhooks.metadata.name} is taken by a stage or process (rename it)`);
    docs.push(webhooks);
  }
  docs.push(
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'statsd-mapping', labels: LABELS('statsd-exporter', 'metrics') },
      data: { 'mapping.yml': yaml(statsdMapping(config)) },
    },
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

/** The HTTP API: a Deployment (2 replicas: each holds two Redis connections, whatever its clients) and a Service. Tokens from Secret `pipeline-api`, key `tokens`; its Redis URL from `<pipeline>-api-redis` (render-secrets.ts). */
function apiManifests(config: ResolvedConfig): Record<string, unknown>[] {
  const name = dnsName(`${config.pipeline}-api`);
  const apiSecret = k8sSecretName(config.pipeline, 'api');
  const http = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: API_PORT },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
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
          spec: podSpec(
            'api',
            API_ARGS,
            {
              // The API user's own Secret (`pipeline acl`'s `<pipeline>-api`): PIPELINE_API_REDIS_URL, which `pipeline serve`
              // takes over REDIS_URL; REDIS_URL from it too, so the pod holds no other Redis credential.
              env: [
                ...k8sEnv(apiSecret),
                { name: API_REDIS_URL_ENV, valueFrom: { secretKeyRef: { name: apiSecret, key: 'url' } } },
                { name: 'API_TOKENS', valueFrom: { secretKeyRef: { name: 'pipeline-api', key: 'tokens' } } },
              ],
              ports: [{ name: 'http', containerPort: API_PORT }],
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: http('/readyz', 10, 2),
              livenessProbe: http('/healthz', 20, 3),
            },
            { terminationGracePeriodSeconds: API_GRACE_SECONDS },
          ),
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
