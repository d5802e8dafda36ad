import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Peak resident set (VmHWM) of a process in MB, from /proc; undefined when gone or not Linux. */
export function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc; undefined when gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SEC;
  } catch {
    return undefined;
  }
}

/** Redis server CPU seconds so far (INFO cpu: used_cpu_user + used_cpu_sys). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = (await redis.info('cpu')) as string;
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/** Samples VmHWM of a set of processes every `everyMs` and keeps each one's highest value. */
export class RssSampler {
  private readonly peaks = new Map<number, number>();
  private readonly cpu = new Map<number, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly pids: readonly number[],
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  sample(): void {
    for (const pid of this.pids) {
      const c = cpuSeconds(pid);
      if (c !== undefined) this.cpu.set(pid, c);
      const mb = peakRssMb(pid);
      if (mb !== undefined) this.peaks.set(pid, Math.max(mb, this.peaks.get(pid) ?? 0));
    }
  }

  /** CPU seconds each process had used at its last sample. */
  cpuSeconds(): Map<number, number> {
    return this.cpu;
  }

  /** Stop sampling (after a last sample) and return pid → peak MB. */
  stop(): Map<number, number> {
    this.sample();
    clearInterval(this.timer);
    return this.peaks;
  }
}

/**
 * Connections per process from CLIENT LIST, by connection name `stage:consumer:role` (consumer =
 * host-pid-n): pid → number of connections. Names that carry no pid are ignored.
 */
export async function connectionsByPid(redis: Redis): Promise<Map<number, number>> {
  const list = (await redis.client('LIST')) as string;
  const out = new Map<number, number>();
  for (const line of list.split('\n')) {
    const name = / name=(\S*)/.exec(line)?.[1];
    const pid = name ? /-(\d+)-\d+:[^:]+$/.exec(name)?.[1] : undefined;
    if (pid) out.set(Number(pid), (out.get(Number(pid)) ?? 0) + 1);
  }
  return out;
}

/** Per command since the last CONFIG RESETSTAT: calls and total microseconds (INFO commandstats). */
export async function redisCommandStats(redis: Redis): Promise<Record<string, { calls: number; usec: number }>> {
  const info = (await redis.info('commandstats')) as string;
  const out: Record<string, { calls: number; usec: number }> = {};
  for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}
