import type { Metrics } from '../observe/metrics.js';
import { ProcessStats, type ProcessSample } from '../observe/process-stats.js';

/** The process metrics a worker process sends, by sample field. */
export const PROCESS_GAUGES: Record<keyof ProcessSample, string> = {
  rssMb: 'process.rss_mb',
  heapUsedMb: 'process.heap_used_mb',
  eventLoopP99Ms: 'process.event_loop_p99_ms',
  eventLoopMaxMs: 'process.event_loop_max_ms',
  cpuPercent: 'process.cpu_percent',
};

/**
 * Every `intervalMs`, the process's memory, CPU and event-loop delay as gauges under each stage
 * it runs, tagged with the process's `consumer` name (the name in XINFO CONSUMERS and the logs):
 * replicas of a stage are told apart, and a stall shows under every stage that shares the loop.
 */
export class ProcessGauges {
  private readonly stats = new ProcessStats();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly stages: readonly { metrics: Metrics; stage: { name: string } }[],
    private readonly consumer: string,
    private readonly intervalMs: number,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.send(this.stats.sample()), this.intervalMs);
    this.timer.unref();
    return this;
  }

  send(s: ProcessSample): void {
    for (const w of this.stages) {
      for (const [field, name] of Object.entries(PROCESS_GAUGES) as [keyof ProcessSample, string][]) {
        w.metrics.gauge(name, s[field], { stage: w.stage.name, consumer: this.consumer });
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.stats.close();
  }
}
