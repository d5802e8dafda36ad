import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** What one process looked like over the last interval. */
export interface ProcessSample {
  /** Resident set size now, MB. */
  rssMb: number;
  /** V8 heap in use now, MB. */
  heapUsedMb: number;
  /** How late the event loop ran timers over the interval, p99 and worst, ms: a stalled loop delays every stage of the process. */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** CPU (user + system) over the interval, % of one core. */
  cpuPercent: number;
}

const MB = 1024 * 1024;

/**
 * Process figures for the metrics: memory, CPU and event-loop delay (perf_hooks'
 * `monitorEventLoopDelay`, sampling every `resolutionMs`). Each `sample()` covers the time since
 * the one before and starts a new interval.
 */
export class ProcessStats {
  private readonly loop: IntervalHistogram;
  private cpu = process.cpuUsage();
  private at = performance.now();

  constructor(resolutionMs = 10) {
    this.loop = monitorEventLoopDelay({ resolution: resolutionMs });
    this.loop.enable();
  }

  sample(): ProcessSample {
    const now = performance.now();
    const cpu = process.cpuUsage(this.cpu);
    const mem = process.memoryUsage();
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    // With no sample yet (a blocked loop never ran the sampling timer) the histogram reads 0: the interval's length is the honest floor.
    const empty = this.loop.count === 0;
    const out: ProcessSample = {
      rssMb: Math.round(mem.rss / MB),
      heapUsedMb: Math.round(mem.heapUsed / MB),
      eventLoopP99Ms: empty ? Math.round(now - this.at) : ms(this.loop.percentile(99)),
      eventLoopMaxMs: empty ? Math.round(now - this.at) : ms(this.loop.max),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.at)) * 1000) / 10,
    };
    this.loop.reset();
    this.cpu = process.cpuUsage();
    this.at = now;
    return out;
  }

  close(): void {
    this.loop.disable();
  }
}
