import type { ChildProcess } from 'node:child_process';
import { backoffMs } from '../core/backoff.js';
import { SUPERVISOR_DEFAULTS } from '../config/defaults.js';
import type { Logger } from '../observe/logger.js';

export type SupervisorEvent = 'start' | 'exit' | 'restart' | 'stop';

export interface SupervisorOptions {
  /** Starts one worker process for a stage. */
  spawn: (stage: string) => ChildProcess;
  logger: Logger;
  /** First restart delay after a crash; doubles per consecutive crash. @defaultValue 500 (config `supervisor.*`, SUPERVISOR_DEFAULTS) */
  restartBaseMs?: number;
  /** @defaultValue 10000 */
  restartMaxMs?: number;
  /** A worker that ran this long before crashing restarts without delay growth; a crash sooner is a fast crash. @defaultValue 30000 */
  stableAfterMs?: number;
  /** After this many fast crashes in a row a slot logs `supervisor.crash_loop` (error; again each time as many more follow). @defaultValue 5 */
  crashLoopAfter?: number;
  /**
   * SIGKILL workers still alive this long after SIGTERM (at stop() or when retired by scale()),
   * logged as `supervisor.killed` (warn); per stage when a function (`pipeline up`: the
   * process's `drainTimeoutMs` + 10 s, the deploy files' grace period). @defaultValue 60000
   */
  killAfterMs?: number | ((stage: string) => number);
  /** Each child leads its own process group (spawned `detached`): kill() signals the whole group. @defaultValue false */
  processGroups?: boolean;
  /** Called on every start, exit and restart, and per stage at the end of stop() (for metrics and tests); exits carry the code or signal. */
  onEvent?: (event: SupervisorEvent, stage: string, pid?: number, exit?: { code: number | null; signal: NodeJS.Signals | null }) => void;
  /**
   * Called once a worker process is gone (its 'exit' event: reaped, so none of its code runs any
   * more), whatever its exit, with `performance.now()` at the exit: `pipeline up` hands the dead
   * process's pending entries over (lib/ops/dead-handover.ts). stop() waits for the calls in
   * flight; a rejection is the callee's to log. @defaultValue none
   */
  afterExit?: (stage: string, pid: number, exit: { code: number | null; signal: NodeJS.Signals | null }, exitedAt: number) => Promise<unknown>;
}

interface Slot {
  stage: string;
  child?: ChildProcess;
  startedAt: number;
  crashes: number;
  crashedAt?: number;
  retiring: boolean;
  timer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
}

const alive = (c: ChildProcess | undefined): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null;

/**
 * Keeps N worker processes per stage: starts them, restarts a crashed one with backoff, retires
 * extras gracefully (SIGTERM: they drain and ack what is in flight), and stops them all on stop().
 */
export class Supervisor {
  private readonly slots = new Map<string, Slot[]>();
  private stopping = false;
  private readonly afterExits = new Set<Promise<unknown>>();
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {}

  /** Live (not retiring) worker slots of a stage, a crashed one waiting for its restart included. */
  count(stage: string): number {
    return (this.slots.get(stage) ?? []).filter((s) => !s.retiring).length;
  }

  /** Worker processes of a stage that are running now (draining ones included, crashed ones not). */
  running(stage: string): number {
    return this.pids(stage).length;
  }

  /** Whether a worker of the stage crashed less than `stableAfterMs` ago (the autoscaler adds none then). */
  crashedRecently(stage: string, now = Date.now()): boolean {
    const stable = this.opts.stableAfterMs ?? SUPERVISOR_DEFAULTS.stableAfterMs;
    return (this.slots.get(stage) ?? []).some((s) => s.crashedAt !== undefined && now - s.crashedAt < stable);
  }

  /**
   * Stages with a worker slot in a crash loop now: `crashLoopAfter` or more fast crashes in a row
   * (what `supervisor.crash_loop` logs), and not running stably since. `pipeline eval`/`start` stop on it.
   */
  crashLooping(now = Date.now()): { stage: string; crashes: number }[] {
    const loopAfter = this.opts.crashLoopAfter ?? SUPERVISOR_DEFAULTS.crashLoopAfter;
    const stable = this.opts.stableAfterMs ?? SUPERVISOR_DEFAULTS.stableAfterMs;
    return [...this.slots.values()]
      .flat()
      .filter((s) => !s.retiring && s.crashes >= loopAfter && !(alive(s.child) && now - s.startedAt >= stable))
      .map((s) => ({ stage: s.stage, crashes: s.crashes }));
  }

  pids(stage?: string): number[] {
    const all = stage ? (this.slots.get(stage) ?? []) : [...this.slots.values()].flat();
    return all.flatMap((s) => (alive(s.child) && s.child.pid ? [s.child.pid] : []));
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
      if (alive(child)) {
        child.kill('SIGTERM');
        slot.killTimer = this.killLater(stage, child);
        slot.killTimer.unref();
      } else {
        this.remove(slot); // crashed and waiting for its restart: nothing to stop
      }
    }
  }

  /** No worker is started or restarted from now on (a shutdown has begun; stop() follows). */
  hold(): void {
    this.stopping = true;
    for (const slot of [...this.slots.values()].flat()) clearTimeout(slot.timer);
  }

  /** SIGKILL every worker now, with its process group when they lead one (the forced exit of a second Ctrl-C). Synchronous. */
  kill(): void {
    this.hold();
    for (const slot of [...this.slots.values()].flat()) {
      const c = slot.child;
      if (!alive(c) || !c.pid) continue;
      try {
        if (this.opts.processGroups) process.kill(-c.pid, 'SIGKILL');
        else c.kill('SIGKILL');
      } catch {
        c.kill('SIGKILL'); // the group is gone already (ESRCH): the child alone
      }
    }
  }

  private killAfter(stage: string): number {
    const k = this.opts.killAfterMs ?? 60_000;
    return typeof k === 'function' ? k(stage) : k;
  }

  private killLater(stage: string, child: ChildProcess): NodeJS.Timeout {
    const afterMs = this.killAfter(stage);
    return setTimeout(() => {
      if (!alive(child)) return;
      this.opts.logger.warn('supervisor.killed', { stage, pid: child.pid, afterMs, why: 'still running after SIGTERM' });
      child.kill('SIGKILL');
    }, afterMs);
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
      this.handOver(slot.stage, child.pid, { code, signal });
      if (this.stopping || slot.retiring) {
        // Removed before the event: a listener counting workers no longer sees this one.
        this.remove(slot);
        this.opts.onEvent?.('exit', slot.stage, child.pid, { code, signal });
        logger.info('supervisor.exited', { stage: slot.stage, pid: child.pid, code, signal });
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      slot.crashes = ranMs > (this.opts.stableAfterMs ?? SUPERVISOR_DEFAULTS.stableAfterMs) ? 1 : slot.crashes + 1;
      slot.crashedAt = Date.now();
      this.opts.onEvent?.('exit', slot.stage, child.pid, { code, signal });
      const delay = backoffMs(
        slot.crashes,
        this.opts.restartBaseMs ?? SUPERVISOR_DEFAULTS.restartBaseMs,
        this.opts.restartMaxMs ?? SUPERVISOR_DEFAULTS.restartMaxMs,
      );
      logger.warn('supervisor.crashed', { stage: slot.stage, pid: child.pid, code, signal, ranMs, restartInMs: delay });
      const loopAfter = this.opts.crashLoopAfter ?? SUPERVISOR_DEFAULTS.crashLoopAfter;
      if (slot.crashes % loopAfter === 0) {
        logger.error('supervisor.crash_loop', { stage: slot.stage, crashes: slot.crashes, lastRanMs: ranMs, code, signal, restartInMs: delay });
      }
      this.restarts++;
      slot.timer = setTimeout(() => {
        if (this.stopping || slot.retiring) return this.remove(slot);
        this.opts.onEvent?.('restart', slot.stage);
        this.launch(slot);
      }, delay);
    });
  }

  /** `afterExit` for a process that is gone, tracked until it settles (stop() waits for it). */
  private handOver(stage: string, pid: number | undefined, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (!this.opts.afterExit || pid === undefined) return; // a spawn that failed ran nothing
    const p = this.opts.afterExit(stage, pid, exit, performance.now()).catch(() => undefined);
    this.afterExits.add(p);
    void p.finally(() => this.afterExits.delete(p));
  }

  /** SIGTERM every worker, wait for all to exit (SIGKILL after `killAfterMs`, logged). */
  async stop(): Promise<void> {
    this.hold();
    const children: [string, ChildProcess][] = [];
    for (const slot of [...this.slots.values()].flat()) if (alive(slot.child)) children.push([slot.stage, slot.child]);
    await Promise.all(
      children.map(
        ([stage, c]) =>
          new Promise<void>((res) => {
            const kill = this.killLater(stage, c);
            c.once('exit', () => {
              clearTimeout(kill);
              res();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    // The hand-overs of the workers that just exited (each bounded by its own deadline).
    await Promise.all([...this.afterExits]);
    for (const [stage, slots] of this.slots) {
      slots.length = 0; // crashed ones waiting for a restart are gone too
      this.opts.onEvent?.('stop', stage);
    }
  }
}
