import type { ChildProcess } from 'node:child_process';
import { backoffMs } from '../core/backoff.js';
import type { Logger } from '../observe/logger.js';

export interface SupervisorOptions {
  /** Starts one worker process for a stage. */
  spawn: (stage: string) => ChildProcess;
  logger: Logger;
  /** First restart delay after a crash; doubles per consecutive crash. @defaultValue 500 */
  restartBaseMs?: number;
  /** @defaultValue 10000 */
  restartMaxMs?: number;
  /** A worker that ran this long before crashing restarts without delay growth. @defaultValue 30000 */
  stableAfterMs?: number;
  /** SIGKILL workers still alive this long after SIGTERM (at stop() or when retired by scale()). @defaultValue 60000 */
  killAfterMs?: number;
  /** Called on every start, exit and restart (for metrics and tests); exits carry the code or signal. */
  onEvent?: (event: 'start' | 'exit' | 'restart', stage: string, pid?: number, exit?: { code: number | null; signal: NodeJS.Signals | null }) => void;
}

interface Slot {
  stage: string;
  child?: ChildProcess;
  startedAt: number;
  crashes: number;
  retiring: boolean;
  timer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
}

/**
 * Keeps N worker processes per stage: starts them, restarts a crashed one with backoff, retires
 * extras gracefully (SIGTERM: they drain and ack what is in flight), and stops them all on stop().
 */
export class Supervisor {
  private readonly slots = new Map<string, Slot[]>();
  private stopping = false;
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {}

  /** Live (not retiring) workers of a stage. */
  count(stage: string): number {
    return (this.slots.get(stage) ?? []).filter((s) => !s.retiring).length;
  }

  pids(stage?: string): number[] {
    const all = stage ? (this.slots.get(stage) ?? []) : [...this.slots.values()].flat();
    return all.flatMap((s) => (s.child?.pid && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : []));
  }

  /** Start or retire workers until `stage` has `n`. */
  scale(stage: string, n: number): void {
    if (this.stopping) return;
    const slots = this.slots.get(stage) ?? [];
    this.slots.set(stage, slots);
    while (this.count(stage) < n) {
      const slot: Slot = { stage, startedAt: 0, crashes: 0, retiring: false };
      slots.push(slot);
      this.launch(slot);
    }
    // Retire the newest first; SIGTERM lets each drain its batch, SIGKILL if it hangs.
    for (const slot of slots.filter((s) => !s.retiring).slice(n)) {
      slot.retiring = true;
      clearTimeout(slot.timer);
      const child = slot.child;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        slot.killTimer = setTimeout(() => child.kill('SIGKILL'), this.opts.killAfterMs ?? 60_000);
        slot.killTimer.unref();
      } else {
        this.remove(slot); // crashed and waiting for its restart: nothing to stop
      }
    }
  }

  private remove(slot: Slot): void {
    const list = this.slots.get(slot.stage) ?? [];
    const i = list.indexOf(slot);
    if (i >= 0) list.splice(i, 1);
  }

  private launch(slot: Slot): void {
    const { logger } = this.opts;
    const child = this.opts.spawn(slot.stage);
    slot.child = child;
    slot.startedAt = Date.now();
    this.opts.onEvent?.('start', slot.stage, child.pid);
    logger.info('supervisor.started', { stage: slot.stage, pid: child.pid });
    // A spawn or signal failure: log it (an unhandled 'error' would crash the supervisor); 'exit' follows a failed spawn.
    child.on('error', (err) => logger.error('supervisor.child_error', { stage: slot.stage, pid: child.pid, err }));
    child.on('exit', (code, signal) => {
      clearTimeout(slot.killTimer);
      this.opts.onEvent?.('exit', slot.stage, child.pid, { code, signal });
      if (this.stopping || slot.retiring) {
        this.remove(slot);
        logger.info('supervisor.exited', { stage: slot.stage, pid: child.pid, code, signal });
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      slot.crashes = ranMs > (this.opts.stableAfterMs ?? 30_000) ? 1 : slot.crashes + 1;
      const delay = backoffMs(slot.crashes, this.opts.restartBaseMs ?? 500, this.opts.restartMaxMs ?? 10_000);
      logger.warn('supervisor.crashed', { stage: slot.stage, pid: child.pid, code, signal, ranMs, restartInMs: delay });
      this.restarts++;
      slot.timer = setTimeout(() => {
        if (this.stopping || slot.retiring) return this.remove(slot);
        this.opts.onEvent?.('restart', slot.stage);
        this.launch(slot);
      }, delay);
    });
  }

  /** SIGTERM every worker, wait for all to exit (SIGKILL after `killAfterMs`). */
  async stop(): Promise<void> {
    this.stopping = true;
    const children: ChildProcess[] = [];
    for (const slot of [...this.slots.values()].flat()) {
      clearTimeout(slot.timer);
      if (slot.child && slot.child.exitCode === null && slot.child.signalCode === null) children.push(slot.child);
    }
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((res) => {
            const kill = setTimeout(() => c.kill('SIGKILL'), this.opts.killAfterMs ?? 60_000);
            c.once('exit', () => {
              clearTimeout(kill);
              res();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}
