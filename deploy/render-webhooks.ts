/**
 * `pipeline webhooks` in the rendered deploy files, when the config has webhooks (docs/webhooks.md#running-it):
 * its stop bound, its secrets' env, and its Kubernetes Deployment (the compose service: deploy/render.ts).
 * No probe: the command serves no HTTP and writes no progress file, so there is nothing to probe
 * but the process itself, which the kubelet and compose's restart policy already watch.
 */
import type { ResolvedConfig } from '../lib/config/types.js';
import { SHUTDOWN_GRACE_MS } from '../lib/config/checks.js';
import { k8sSecretName } from '../lib/ops/acl.js';
import { WEBHOOKS_REDIS_URL_ENV } from '../lib/ops/acl-webhooks.js';
import { LABELS, dnsName } from './render-names.js';
import { k8sEnv, podSpec } from './render-pod.js';

/** The compose service and the args of the container. */
export const WEBHOOKS_SERVICE = 'webhooks';

/** The Secret, created by the user (never rendered: it holds the HMAC secrets), whose keys are the webhooks' `secretEnv` names. */
export function webhookSecretsName(config: ResolvedConfig): string {
  return dnsName(`${config.pipeline}-webhook-secrets`);
}

/** The env var names of the webhooks' secrets, once each (two webhooks may share one). */
export function webhookSecretEnvs(config: ResolvedConfig): string[] {
  return [...new Set(config.webhooks.map((h) => h.secretEnv))];
}

/**
 * SIGTERM → exit, in seconds: docs/webhooks.md's stop bound (3 × the largest `blockMs` + 2 s, Redis
 * down included) plus SHUTDOWN_GRACE_MS for the metrics' flush and the exit; past it a SIGKILL
 * would leave consumers in the groups for `claimMinIdleMs` (their entries still pending, not lost).
 */
export function webhooksGraceSeconds(config: ResolvedConfig): number {
  const blockMs = Math.max(0, ...config.webhooks.map((h) => h.blockMs));
  return Math.ceil((3 * blockMs + 2000) / 1000) + SHUTDOWN_GRACE_MS / 1000;
}

/**
 * The Deployment running `pipeline webhooks` (undefined without webhooks): 1 replica (several share
 * the groups: scale it freely), REDIS_URL and PIPELINE_WEBHOOKS_REDIS_URL from the webhooks user's
 * Secret `<pipeline>-webhooks-redis` (render-secrets.ts; `pipeline acl --format k8s` makes it), each
 * `secretEnv` from the Secret `<pipeline>-webhook-secrets` (key: the variable's name).
 */
export function webhooksDeployment(config: ResolvedConfig): (Record<string, unknown> & { metadata: Record<string, unknown> & { name: string } }) | undefined {
  if (config.webhooks.length === 0) return undefined;
  const name = dnsName(`${config.pipeline}-webhooks`);
  const redisSecret = k8sSecretName(config.pipeline, 'webhooks');
  const fromSecret = (env: string, secret: string, key: string) => ({ name: env, valueFrom: { secretKeyRef: { name: secret, key } } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: LABELS(name, 'webhooks') },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
      template: {
        metadata: { labels: LABELS(name, 'webhooks') },
        spec: podSpec(
          'webhooks',
          [WEBHOOKS_SERVICE],
          {
            env: [
              ...k8sEnv(redisSecret),
              fromSecret(WEBHOOKS_REDIS_URL_ENV, redisSecret, 'url'),
              ...webhookSecretEnvs(config).map((env) => fromSecret(env, webhookSecretsName(config), env)),
            ],
            // Like the monitor's: no model, a few connections (webhooks × shards + 1) and `concurrency` requests in flight per reader.
            resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          },
          { terminationGracePeriodSeconds: webhooksGraceSeconds(config) },
        ),
      },
    },
  };
}
