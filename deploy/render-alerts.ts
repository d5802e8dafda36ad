/**
 * The Prometheus alerting rules of the conditions docs/metrics-and-monitoring.md says to alert on,
 * rendered from the config like the statsd mapping (deploy/render-names.ts): the metric names come
 * from METRIC_CATALOG through `prometheusName` (an unknown name fails the render), every selector is
 * narrowed to this pipeline (`pipeline="<name>"`), and the thresholds the config has are taken from
 * it (a stage's `scaleUpLag`; which stages run fused; which processes keep `minWorkers` above 0).
 *
 *   deploy/prometheus/alerts.yml       a rules file, loaded by deploy/prometheus/prometheus.yml (compose)
 *   deploy/k8s/prometheus-rules.yaml   the same groups as a PrometheusRule (the Prometheus Operator's CRD)
 *
 * test/ops/alert-rules.test.ts checks the names and labels against the catalog and runs promtool on them.
 */
import type { ResolvedConfig } from '../lib/config/types.js';
import { fusedRoutes } from '../lib/config/fusion-plan.js';
import { LABELS, processStages } from './render-names.js';
import { ALERT_LEVELS, ALERT_TIMING, ALERTS_DOC, API_ERROR_SHARE, type AlertRule, promql, RELIABILITY, rule, stageRegex } from './alert-rule-parts.js';

export { ALERT_LEVELS, ALERT_TIMING, API_ERROR_SHARE, type AlertRule, type Severity } from './alert-rule-parts.js';

/** Data loss and the refusals that stop a stage until someone acts: each pages. */
function outageRules(config: ResolvedConfig): AlertRule[] {
  const { rose, rising } = promql(config);
  const t = ALERT_TIMING;
  const p = config.pipeline;
  return [
    rule(
      'PipelineRedisDataLost',
      'page',
      rose('redis.data_lost', t.dataLossWindow, 'pipeline, stage, what'),
      `Pipeline ${p}: Redis lost the pipeline's data (stage {{ $labels.stage }}, {{ $labels.what }})`,
      `Redis came back without the data of pipeline ${p} under stage {{ $labels.stage }} (what: {{ $labels.what }}): what was produced, in flight or stored before is gone. Run \`pipeline status\` (when, who saw it), find why Redis restarted empty or failed over without the writes (AOF off, a replica behind), re-produce what was lost, then \`pipeline health --ack-data-loss\`.`,
      `${RELIABILITY}#redis-restarts`,
    ),
    rule(
      'PipelineRedisEvictionPolicy',
      'page',
      rose('redis.eviction_policy', t.eventWindow, 'pipeline, stage, policy'),
      `Pipeline ${p}: Redis may evict the pipeline's keys (maxmemory-policy {{ $labels.policy }})`,
      `A worker of stage {{ $labels.stage }} reads maxmemory-policy {{ $labels.policy }}, set at run time: at maxmemory Redis evicts any key, so streams, pending entries and stored products can vanish without an error. Set \`maxmemory-policy noeviction\` (CONFIG SET and the server's config file); a full Redis then refuses writes and the pipeline waits. Check what was lost with \`pipeline status\`.`,
      `${RELIABILITY}#memory-bounds`,
    ),
    rule(
      'PipelineRedisOOM',
      'page',
      rose('redis.oom', t.eventWindow, 'pipeline, stage'),
      `Pipeline ${p}: Redis is full (OOM), stage {{ $labels.stage }} waits`,
      `Redis refused writes of stage {{ $labels.stage }} with OOM (maxmemory reached under noeviction): its batches wait in place, nothing is dead-lettered, the pipeline stands still. Raise maxmemory or free memory (trim or purge the DLQ, drain the review stream).`,
      `${RELIABILITY}#redis-full-is-an-outage-not-bad-data`,
    ),
    rule(
      'PipelineRedisMisconf',
      'page',
      rose('redis.misconf', t.eventWindow, 'pipeline, stage'),
      `Pipeline ${p}: Redis cannot persist to disk (MISCONF), stage {{ $labels.stage }} waits`,
      `Redis refused writes of stage {{ $labels.stage }} with MISCONF (a failed RDB save or AOF write, e.g. a full disk): its batches wait in place. Free the disk (the Redis log names the error), then BGSAVE.`,
      `${RELIABILITY}#redis-unable-to-persist-misconf-is-an-outage-too`,
    ),
    rule(
      'PipelineRedisNoPermission',
      'page',
      rose('redis.noperm', t.eventWindow, 'pipeline, stage'),
      `Pipeline ${p}: stage {{ $labels.stage }}'s Redis user lacks a permission (NOPERM)`,
      `Redis refused a command or key to the ACL user of stage {{ $labels.stage }}: the step waits in place until it is granted. The worker's \`redis.noperm\` log line (and \`pipeline status\`) names the user, command and key; run \`pipeline acl --apply\` as the admin.`,
      `${RELIABILITY}#a-missing-permission-is-waited-out-never-a-records-fault`,
    ),
    rule(
      'PipelinePostgresNoPermission',
      'page',
      rose('postgres.noperm', t.eventWindow, 'pipeline, stage'),
      `Pipeline ${p}: PostgreSQL refuses stage {{ $labels.stage }}'s database role`,
      `PostgreSQL refused the database role of stage {{ $labels.stage }} (a privilege missing, or its login): the batch waits in place. The \`postgres.permission_denied\` log line (and \`pipeline status\`) names the role, the table and the GRANT to run.`,
      'docs/data-store.md#the-stores-database-role',
    ),
    rule(
      'PipelineRedisUnavailable',
      'page',
      rising('redis.unavailable'),
      `Pipeline ${p}: Redis unavailable to stage {{ $labels.stage }} for ${t.outageFor}`,
      `Redis has answered stage {{ $labels.stage }} with LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY or NOREPLICAS for ${t.outageFor}: the batches wait in place. Check the Redis server (restart or failover stuck, a long script); \`pipeline status\` shows what each stage waits for.`,
      `${RELIABILITY}#a-dependency-outage-says-what-it-waits-for`,
      t.outageFor,
    ),
    rule(
      'PipelinePostgresUnavailable',
      'page',
      rising('postgres.unavailable'),
      `Pipeline ${p}: PostgreSQL unavailable to stage {{ $labels.stage }} for ${t.outageFor}`,
      `The PostgreSQL sink of stage {{ $labels.stage }} has been unreachable, restarting or overloaded for ${t.outageFor}: its batches wait in place and the backlog grows. Check the database; \`pipeline status\` shows the last error.`,
      `${RELIABILITY}#a-dependency-outage-says-what-it-waits-for`,
      t.outageFor,
    ),
    rule(
      'PipelineNetworkUnavailable',
      'ticket',
      rising('network.unavailable'),
      `Pipeline ${p}: stage {{ $labels.stage }}'s dependency connections keep dropping`,
      `A dependency connection of stage {{ $labels.stage }} has dropped or timed out during batches for ${t.outageFor}: waited out in place, but the stage crawls. Check the network between the workers and Redis or the sink; the workers' \`stage.transient_retry\` lines name the error.`,
      `${RELIABILITY}#a-dependency-outage-says-what-it-waits-for`,
      t.outageFor,
    ),
  ];
}

/** Backlog, dead letters, stalls and the workers: per stage, thresholds from the config. */
function flowRules(config: ResolvedConfig): AlertRule[] {
  const { sel, rose, lag } = promql(config);
  const t = ALERT_TIMING;
  const p = config.pipeline;
  // One lag rule per distinct scaleUpLag (the stages sharing it in one regex).
  const byThreshold = new Map<number, string[]>();
  for (const s of config.stages) byThreshold.set(s.scaleUpLag, [...(byThreshold.get(s.scaleUpLag) ?? []), s.name]);
  const lagRules = [...byThreshold].map(([threshold, stages]) =>
    rule(
      'PipelineStageLagHigh',
      'ticket',
      `${sel('group.lag', `stage=~"${stageRegex(stages)}"`)} > ${threshold}`,
      `Pipeline ${p}: stage {{ $labels.stage }} has had more than ${threshold} undelivered entries for ${t.lagFor}`,
      `The lag of stage {{ $labels.stage }} has stayed above its scaleUpLag (${threshold}) for ${t.lagFor}: scaling did not catch up. Check its workers (maxWorkers reached? \`pipeline top\`), its batch time (batch.process_ms) and what it waits for (\`pipeline status\`); raise maxWorkers or fix the slow dependency.`,
      ALERTS_DOC,
      t.lagFor,
    ),
  );
  // A fused stage's group reads 0 consumers while its workers run (docs/metrics-and-monitoring.md): not alerted on.
  const fused = new Set(fusedRoutes(config).map((r) => r.to));
  const read = config.stages.filter((s) => !fused.has(s.name)).map((s) => s.name);
  const kept = config.processes.flatMap((proc) => {
    const { stages, options } = processStages(config, proc);
    return options.minWorkers > 0 ? stages.map((s) => s.name) : [];
  });
  return [
    ...lagRules,
    rule(
      'PipelineStageNoConsumers',
      'page',
      `${sel('group.consumers', `stage=~"${stageRegex(read)}"`)} == 0 and on (pipeline, stage) ${lag} > 0`,
      `Pipeline ${p}: stage {{ $labels.stage }} has a backlog and no consumer`,
      `Stage {{ $labels.stage }} has had entries waiting and no consumer in its group for ${t.noConsumersFor}: nothing processes it. Check its Deployment / compose service (crash loop, image, Secret) or \`pipeline up\`; KEDA should have woken a stage scaled to zero. (Stages run fused after another are left out: their group reads 0 while their workers run.)`,
      ALERTS_DOC,
      t.noConsumersFor,
    ),
    ...(kept.length
      ? [
          rule(
            'PipelineStageNoWorkers',
            'page',
            `${sel('workers', `stage=~"${stageRegex(kept)}"`)} == 0`,
            `Pipeline ${p}: \`pipeline up\` runs no worker for stage {{ $labels.stage }}`,
            `\`pipeline up\` has run no worker process for stage {{ $labels.stage }} (minWorkers above 0) for ${t.noWorkersFor}: they keep crashing (supervisor.restarts) or cannot start. Read the workers' last log lines.`,
            ALERTS_DOC,
            t.noWorkersFor,
          ),
        ]
      : []),
    rule(
      'PipelineWatchdogStalls',
      'ticket',
      rose('watchdog.stalls', t.eventWindow, 'pipeline, stage, phase'),
      `Pipeline ${p}: stage {{ $labels.stage }}'s read loop stalled ({{ $labels.phase }})`,
      `The read loop of stage {{ $labels.stage }} made no progress for blockMs + stallTimeoutMs in phase {{ $labels.phase }} (a half-open connection, a hung model call). The watchdog resets the connection (watchdog.recoveries) and the probes restart a pod that stays stuck; find the cause in the \`watchdog.stall\` log lines.`,
      `${RELIABILITY}#progress-not-only-liveness`,
    ),
    rule(
      'PipelineDeadLettered',
      'ticket',
      // Not a purge's: an operator chose it (`pipeline purge`, the console); the DLQ rule still says the DLQ grew.
      rose('messages.dead_lettered', t.eventWindow, 'pipeline, stage, reason', 'reason!="purged"'),
      `Pipeline ${p}: stage {{ $labels.stage }} dead-lettered messages ({{ $labels.reason }})`,
      `Stage {{ $labels.stage }} sent messages to the DLQ (reason {{ $labels.reason }}). Look at them with \`pipeline dlq list\`, fix the cause (bad input, a failing model, a route), then replay them.`,
      `${RELIABILITY}#dead-letters`,
    ),
    rule(
      'PipelineDeadLetterQueueGrowing',
      'ticket',
      `delta(${sel('dlq.length')}[${t.dlqWindow}]) > 0`,
      `Pipeline ${p}: the dead-letter queue grew in the last ${t.dlqWindow}`,
      `The DLQ of pipeline ${p} has grown over the last ${t.dlqWindow} (PipelineDeadLettered names the stages and reasons). Review it with \`pipeline dlq list\`, fix the cause, replay or purge.`,
      `${RELIABILITY}#dead-letters`,
    ),
    rule(
      'PipelineStreamTrimmedByAge',
      'ticket',
      rose('stream.trimmed_by_age', t.eventWindow, 'pipeline, stream'),
      `Pipeline ${p}: entries of {{ $labels.stream }} were removed for their age`,
      `The sampler removed entries of {{ $labels.stream }} older than streams.terminalMaxAgeMs / dlqMaxAgeMs before anyone looked at them. Read the DLQ / review stream sooner, or raise the cap.`,
      `${RELIABILITY}#memory-bounds`,
    ),
    rule(
      'PipelineSamplerMissing',
      'ticket',
      `absent(${lag})`,
      `Pipeline ${p}: no backlog gauges (pipeline monitor or up not sending)`,
      `No group.lag of pipeline ${p} has reached Prometheus for ${t.samplerMissingFor}: the one sampler (\`pipeline monitor\` or \`pipeline up\`) is down, cannot reach Redis, or StatsD is not configured, and the lag, consumer and DLQ alerts are blind. Check the monitor's Deployment / compose service and its logs.`,
      ALERTS_DOC,
      t.samplerMissingFor,
    ),
  ];
}

/** `pipeline webhooks` (docs/webhooks.md): completions an application never got. Only for a config with webhooks. */
function webhookRules(config: ResolvedConfig): AlertRule[] {
  const { rose, sel } = promql(config);
  const t = ALERT_TIMING;
  const p = config.pipeline;
  const cap = config.limits.doneMaxLen;
  const threshold = Math.floor(ALERT_LEVELS.webhookLagShare * cap);
  return [
    rule(
      'PipelineWebhookLagHigh',
      'page',
      `${sel('webhooks.lag')} > ${threshold}`,
      `Pipeline ${p}: webhook {{ $labels.webhook }} is more than ${threshold} completions behind (trimmed unread past ${cap})`,
      `Webhook {{ $labels.webhook }} has had more than ${threshold} completions waiting in its group on {p}:done (${ALERT_LEVELS.webhookLagShare * 100}% of limits.doneMaxLen, ${cap}) for ${t.webhookLagFor}: its receiver is down or slow (webhooks.retries; the \`webhook.retry\` log lines say why), or too few \`pipeline webhooks\` run. Past limits.doneMaxLen the oldest are trimmed before it reads them and its application never gets them (PipelineWebhookMissed). Fix the receiver, run more \`pipeline webhooks\` processes, or raise doneMaxLen.`,
      'docs/webhooks.md#sizing',
      t.webhookLagFor,
    ),
    rule(
      'PipelineWebhookMissed',
      'page',
      rose('webhooks.missed', t.dataLossWindow, 'pipeline, webhook'),
      `Pipeline ${p}: webhook {{ $labels.webhook }} missed completions (trimmed before it read them)`,
      `Webhook {{ $labels.webhook }} fell behind {p}:done by more than limits.doneMaxLen: completions were trimmed before it read them and its application never got them (the \`webhook.missed\` log line counts them). Find the products through \`GET /v1/products/{id}\` or \`pipeline export\`, then raise doneMaxLen or run more \`pipeline webhooks\` processes.`,
      'docs/webhooks.md#sizing',
    ),
    rule(
      'PipelineWebhookDeadLettered',
      'ticket',
      rose('webhooks.dead_lettered', t.eventWindow, 'pipeline, webhook, reason'),
      `Pipeline ${p}: webhook {{ $labels.webhook }} gave up on completions ({{ $labels.reason }})`,
      `Webhook {{ $labels.webhook }} wrote completions to {p}:webhooks:dlq (reason {{ $labels.reason }}: refused, its receiver answered a 4xx; attempts, maxAttempts used up). Fix the receiver; the entries hold the last status and error.`,
      'docs/webhooks.md#answers-retries-dead-letters',
    ),
  ];
}

/** The HTTP API (`pipeline serve`): clients refused for the server's own trouble, not their input. */
function apiRules(config: ResolvedConfig): AlertRule[] {
  const { sel } = promql(config);
  const t = ALERT_TIMING;
  const rate = (matchers = '') => `sum by (pipeline) (rate(${sel('api.requests', matchers)}[${t.outageRateWindow}]))`;
  return [
    rule(
      'PipelineApiErrors',
      'page',
      `${rate('status=~"5.."')} / ${rate()} > ${API_ERROR_SHARE}`,
      `Pipeline ${config.pipeline}: more than ${API_ERROR_SHARE * 100}% of the HTTP API's answers are 5xx`,
      `For ${t.apiErrorsFor}, more than ${API_ERROR_SHARE * 100}% of the answers of \`pipeline serve\` have been 5xx (503: Redis unreachable or evicting, the data store down, an outcome unknown; 500: an internal error, logged as api.error): clients cannot submit or read. The dashboard's HTTP API row shows which routes; \`/readyz\` and the server's \`api.*\` log lines say why.`,
      'docs/api.md#errors',
      t.apiErrorsFor,
    ),
  ];
}

/** The rule groups: Prometheus's `groups:`, and a PrometheusRule's `spec.groups`. */
export function alertGroups(config: ResolvedConfig): { name: string; rules: AlertRule[] }[] {
  return [
    { name: `${config.pipeline}-outages`, rules: outageRules(config) },
    { name: `${config.pipeline}-flow`, rules: flowRules(config) },
    { name: `${config.pipeline}-api`, rules: apiRules(config) },
    ...(config.webhooks.length ? [{ name: `${config.pipeline}-webhooks`, rules: webhookRules(config) }] : []),
  ];
}

/** deploy/prometheus/alerts.yml: a Prometheus rules file. */
export function alertRulesFile(config: ResolvedConfig): Record<string, unknown> {
  return { groups: alertGroups(config) };
}

/**
 * deploy/k8s/prometheus-rules.yaml: the same groups for the Prometheus Operator. Not in the
 * kustomization: `kubectl apply -k deploy/k8s` would fail where the CRD is not installed.
 */
export function prometheusRule(config: ResolvedConfig): Record<string, unknown> {
  const name = `${config.pipeline}-alerts`;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name, labels: LABELS(name, 'alerts') },
    spec: { groups: alertGroups(config) },
  };
}
