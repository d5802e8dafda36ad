/**
 * The Redis users' Secrets the rendered Deployments read their URL from (key `url`), named as
 * `pipeline acl --format k8s` names them (`k8sSecretName`), so its output replaces them one for one:
 * per stage `<pipeline>-<stage>-redis` (REDIS_URL of the stage's process), `<pipeline>-api-redis`
 * (PIPELINE_API_REDIS_URL of the API Deployment, `pipeline serve`'s user `<pipeline>-api`), and, when
 * the config has webhooks, `<pipeline>-webhooks-redis` (PIPELINE_WEBHOOKS_REDIS_URL, the user `<pipeline>-webhooks`).
 */
import { ConfigError } from '../lib/core/errors.js';
import type { ResolvedConfig } from '../lib/config/types.js';
import { k8sSecretName } from '../lib/ops/acl.js';
import { LABELS, deploymentName, dnsName } from './render-names.js';

/** Where the rendered Secrets point by default: the development Redis (deploy/k8s/redis.yaml), its default user. */
export const DEV_REDIS_URL = 'redis://redis:6379';

function userSecret(name: string, instance: string, user: string, url: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, labels: LABELS(instance, 'redis-user'), annotations: { ...annotations, 'streamline-enrich/redis-user': user } },
    type: 'Opaque',
    stringData: { url },
  };
}

/**
 * One Secret per stage (`k8sSecretName`) whose `url` is that stage's REDIS_URL. Rendered with the
 * development Redis's URL; in production replace them with the stage users' URLs:
 * `pipeline acl --apply --format k8s --show-secrets | kubectl apply -f -`.
 */
export function k8sStageSecrets(config: ResolvedConfig, url = DEV_REDIS_URL): Record<string, unknown>[] {
  return config.stages.map((stage) =>
    userSecret(k8sSecretName(config.pipeline, stage.name), deploymentName(config, stage.name), `${config.pipeline}-${stage.name}`, url, {
      'streamline-enrich/stage': stage.name,
    }),
  );
}

/** The API server's Secret, `<pipeline>-api-redis`: its `url` is the API Deployment's PIPELINE_API_REDIS_URL (the user `<pipeline>-api` in production). */
export function k8sApiSecret(config: ResolvedConfig, url = DEV_REDIS_URL): Record<string, unknown> {
  return userSecret(k8sSecretName(config.pipeline, 'api'), dnsName(`${config.pipeline}-api`), `${config.pipeline}-api`, url);
}

/** The webhooks user's Secret, `<pipeline>-webhooks-redis` (its `url`: PIPELINE_WEBHOOKS_REDIS_URL of `pipeline webhooks`); none without webhooks. */
export function k8sWebhooksSecrets(config: ResolvedConfig, url = DEV_REDIS_URL): Record<string, unknown>[] {
  if (config.webhooks.length === 0) return [];
  return [userSecret(k8sSecretName(config.pipeline, 'webhooks'), dnsName(`${config.pipeline}-webhooks`), `${config.pipeline}-webhooks`, url)];
}

/** Every rendered user Secret: the stages', the API's and the webhooks' (a stage whose Secret would be named like one of the others is a config error). */
export function k8sUserSecrets(config: ResolvedConfig, url = DEV_REDIS_URL): Record<string, unknown>[] {
  const others = [k8sApiSecret(config, url), ...k8sWebhooksSecrets(config, url)];
  for (const other of others) {
    const name = (other.metadata as { name: string }).name;
    const clash = config.stages.find((s) => k8sSecretName(config.pipeline, s.name) === name);
    if (clash)
      throw new ConfigError(
        `stages.${clash.name}`,
        `its Redis Secret ${name} is the ${name.endsWith('-api-redis') ? "API server's" : "webhooks'"} (rename the stage)`,
      );
  }
  return [...k8sStageSecrets(config, url), ...others];
}
