/** The container and pod spec every rendered pipeline Deployment shares (deploy/render-k8s.ts, deploy/render-webhooks.ts): env, security context, config and /tmp volumes. */
import { PROGRESS_FILE, STATSD_UDP_PORT, IMAGE } from './render-names.js';

/**
 * A container's env. `redisSecret`: the Secret whose `url` is REDIS_URL (a stage's own user,
 * `k8sSecretName`); KEDA's address and password stay on `pipeline-redis`.
 */
export function k8sEnv(redisSecret = 'pipeline-redis', stageSecrets: [string, string][] = []): Record<string, unknown>[] {
  const secret = (name: string, key: string, from = 'pipeline-redis', optional = false) => ({
    name,
    valueFrom: { secretKeyRef: { name: from, key, ...(optional ? { optional } : {}) } },
  });
  return [
    { name: 'PIPELINE_CONFIG', value: '/etc/pipeline/pipeline.json' },
    secret('REDIS_URL', 'url', redisSecret),
    // The other stages of a process running several: each its own user (REDIS_URL_<STAGE>); equal URLs share one command connection.
    ...stageSecrets.map(([env, from]) => secret(env, 'url', from)),
    { name: 'STATSD_HOST', value: 'statsd-exporter' },
    { name: 'STATSD_PORT', value: String(STATSD_UDP_PORT) },
    { name: 'LOG_LEVEL', value: 'info' },
    { name: 'PROGRESS_FILE', value: PROGRESS_FILE },
  ];
}

export function podSpec(
  containerName: string,
  args: string[],
  extra: Record<string, unknown>,
  podExtra: Record<string, unknown> = {},
  redisSecret?: string,
  stageSecrets?: [string, string][],
): Record<string, unknown> {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
    ...podExtra,
    containers: [
      {
        name: containerName,
        image: IMAGE,
        args,
        env: k8sEnv(redisSecret, stageSecrets),
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
