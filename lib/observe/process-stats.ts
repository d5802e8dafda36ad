import { percentile } from '../core/percentile.js';

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
 * Process figures for the metrics: memory, CPU and event-loop delay. The delay is measured by a
 * timer every `resolutionMs` that records how late it ran; each `sample()` covers the time since
 * the one before and starts a new interval. Not perf_hooks' `monitorEventLoopDelay`: resetting its
 * histogram at a sample also forgot when its timer last ran, so the next delay was not recorded,
 * and a stall that began right after a sample (or ended just as one was due) was never reported
 * (a 150 ms block read as 5 ms: test/workers/process-gauges.test.ts).
 */
export class ProcessStats {
  private readonly ticker: NodeJS.Timeout;
  private lastTick = performance.now();
  /** Each tick's lateness (ms) this interval. */
  private delays: number[] = [];
  private cpu = process.cpuUsage();
  private at = performance.now();

  constructor(private readonly resolutionMs = 10) {
    this.ticker = setInterval(() => this.record(performance.now()), resolutionMs);
    this.ticker.unref();
  }

  private record(now: number): void {
    const late = Math.max(0, now - this.lastTick - this.resolutionMs);
    this.lastTick = now;
    this.delays.push(late);
  }

  sample(): ProcessSample {
    const now = performance.now();
    // A stall that ended just before this call, before the ticker could run, counts here (and
    // not again in the next interval: the ticker measures from now on).
    this.record(now);
    const cpu = process.cpuUsage(this.cpu);
    const mem = process.memoryUsage();
    const tenth = (ms: number) => Math.round(ms * 10) / 10;
    const out: ProcessSample = {
      rssMb: Math.round(mem.rss / MB),
      heapUsedMb: Math.round(mem.heapUsed / MB),
      eventLoopP99Ms: tenth(percentile(this.delays, 99)!),
      eventLoopMaxMs: tenth(percentile(this.delays, 100)!),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.at)) * 1000) / 10,
    };
    this.delays = [];
    this.cpu = process.cpuUsage();
    this.at = now;
    return out;
  }

  close(): void {
    clearInterval(this.ticker);
  }
}
