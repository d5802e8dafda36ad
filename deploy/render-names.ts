/**
 * Names, ports, probes, YAML output and the statsd mapping the rendered deploy files share
 * (deploy/render.ts: compose and the file list; deploy/render-k8s.ts: the Kubernetes manifests).
 */
import { Document, isScalar, visit } from 'yaml';
import type { ResolvedConfig, ResolvedProcess, ResolvedStage } from '../lib/config/types.js';
import { processOptions } from '../lib/config/processes.js';
import { checkGracePeriod, SHUTDOWN_GRACE_MS } from '../lib/config/checks.js';
import { METRIC_CATALOG, prometheusName } from '../lib/observe/metrics.js';
import { TIMER_BUCKETS_SECONDS } from '../lib/observe/metric-spec.js';

export const IMAGE = 'streamline-enrich:latest';

/** The labels of every rendered Kubernetes object. */
export const LABELS = (instance: string, component: string) => ({
  'app.kubernetes.io/name': 'streamline-enrich',
  'app.kubernetes.io/instance': instance,
  'app.kubernetes.io/component': component,
});
/** Compose services that are not stages; a stage whose name maps to one of these is an error. */
export const INFRA_SERVICES = ['redis', 'monitor', 'producer', 'api', 'statsd-exporter', 'prometheus', 'grafana'] as const;

/** The HTTP API's port in the container (`pipeline serve --port`). */
export const API_PORT = 8080;
/** `pipeline serve` in a container: on every interface, so tokens are required (API_TOKENS). */
export const API_ARGS = ['serve', '--host', '0.0.0.0', '--port', String(API_PORT)];
/** Drain budget of the API: its longest request (`maxWaitMs`, 60 s) plus a margin. */
export const API_GRACE_SECONDS = 75;
export const STATSD_UDP_PORT = 9125;
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A Kubernetes/compose-safe name: lowercase letters, digits and '-', at most 63 characters. */
export function dnsName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** `extract.electronics` → `EXTRACT_ELECTRONICS` (env var names: `<STAGE>_REPLICAS`). */
export function envName(stage: string): string {
  return stage.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The Prometheus name statsd_exporter gives a metric under this mapping: the one function `/metrics` names its series with too. */
export { prometheusName as promName } from '../lib/observe/metrics.js';

/** SIGTERM → exit: the drain, plus time to QUIT and close the stage (a process of several: its longest `drainTimeoutMs`, processOptions). */
export function graceSeconds(stage: Pick<ResolvedStage, 'name' | 'drainTimeoutMs'>): number {
  const grace = Math.ceil(stage.drainTimeoutMs / 1000) + SHUTDOWN_GRACE_MS / 1000;
  checkGracePeriod(`stages.${stage.name}`, stage, grace, 'the rendered grace period (terminationGracePeriodSeconds, stop_grace_period)');
  return grace;
}

export function deploymentName(config: ResolvedConfig, stage: string): string {
  return dnsName(`${config.pipeline}-${stage}`);
}

export function serviceName(stage: string): string {
  return dnsName(stage);
}

/** How long statsd_exporter keeps a per-process series it no longer hears from (every `metrics.gaugeIntervalMs` while the process lives). */
export const PROCESS_SERIES_TTL = '10m';

/** How long statsd_exporter keeps a sampled gauge unheard: 6 sampling intervals, at least a minute. */
export function sampledSeriesTtl(config: ResolvedConfig): string {
  return `${Math.max(60, Math.ceil((6 * config.metrics.gaugeIntervalMs) / 1000))}s`;
}

/** statsd_exporter mapping: one explicit rule per metric (counters `_total`, timers histograms in seconds). */
export function statsdMapping(config: ResolvedConfig): Record<string, unknown> {
  const prefix = config.metrics.prefix.replace(/\.$/, '');
  return {
    defaults: { observer_type: 'histogram', histogram_options: { buckets: [...TIMER_BUCKETS_SECONDS] }, ttl: '0s' },
    mappings: METRIC_CATALOG.map((m) => ({
      match: prefix ? `${prefix}.${m.name}` : m.name,
      name: prometheusName(m, config.metrics.prefix),
      help: m.help,
      match_metric_type: m.type === 'counter' ? 'counter' : m.type === 'gauge' ? 'gauge' : 'observer',
      ...(m.type === 'histogram' ? { observer_type: 'histogram', histogram_options: { buckets: SIZE_BUCKETS } } : {}),
      // Per-process gauges carry the process's `consumer` (a pod's host-pid-n): a replaced pod's
      // series would stay in the dashboards, frozen, forever (ttl 0s); they go after 10 minutes unheard.
      ...(m.name.startsWith('process.') ? { ttl: PROCESS_SERIES_TTL } : {}),
      // The sampler's backlog gauges (lag, pending, DLQ, stored) and `up`'s `workers` are sent every
      // gaugeIntervalMs: when their sender stops (monitor or up gone, Redis down) they go after a few
      // intervals instead of showing the last numbers for ever ("backlog 0" on screen during an outage).
      ...(m.type === 'gauge' && m.from !== 'worker' ? { ttl: sampledSeriesTtl(config) } : {}),
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
export function progressProbeArgs(stages: ResolvedStage | readonly ResolvedStage[], readiness: boolean): string[] {
  const list = Array.isArray(stages) ? (stages as readonly ResolvedStage[]) : [stages as ResolvedStage];
  // A process running several stages: every stage's own file (progressFileFor), each within its stage's limit.
  const checks = list.map((stage) => {
    // progressFileFor in sh: /tmp/progress.json → /tmp/progress.<stage>.json (PROGRESS_FILE ends in .json here).
    const file = list.length === 1 ? '$PROGRESS_FILE' : `\${PROGRESS_FILE%.json}.${stage.name}.json`;
    const maxAgeSeconds = Math.ceil((stage.blockMs + stage.stallTimeoutMs + 2 * stage.watchdogIntervalMs) / 1000);
    const fresh = `test $(( $(date +%s) - $(stat -c %Y "${file}") )) -le ${maxAgeSeconds}`;
    return readiness ? `${fresh} && ! grep -Eq '"waitingFor(Redis|Dependency)":true' "${file}"` : fresh;
  });
  return ['sh', '-c', checks.join(' && ')];
}

/** `pipeline health` for a worker's stages (several: a comma list, every one must progress). */
export function healthArgs(stages: ResolvedStage | readonly ResolvedStage[], liveness: boolean): string[] {
  const names = (Array.isArray(stages) ? (stages as readonly ResolvedStage[]) : [stages as ResolvedStage]).map((s) => s.name).join(',');
  // --pid 1: the image's exec-form ENTRYPOINT makes the worker PID 1, so its consumer is <hostname>-1-0.
  return ['node', 'dist/scripts/cli.js', 'health', '--stage', names, '--pid', '1', ...(liveness ? ['--unknown-ok'] : [])];
}

/** The stages of one worker process, resolved, and its scaling and drain settings (lib/config/processes.ts). */
export function processStages(config: ResolvedConfig, p: ResolvedProcess): { stages: ResolvedStage[]; options: ReturnType<typeof processOptions> } {
  return { stages: config.stages.filter((s) => p.stages.includes(s.name)), options: processOptions(config, p) };
}

/** YAML that compose (YAML 1.1 readers) and kubectl read alike: `yes`/`no` quoted, lists of scalars on one line. */
export function yaml(value: unknown): string {
  const doc = new Document(value, { version: '1.1', aliasDuplicateObjects: false });
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
