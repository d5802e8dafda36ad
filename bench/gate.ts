/**
 * The child side of the bench's start gate: a stage process loads everything it needs, says
 * `ready` over IPC, and starts its work only on `go`, so start-up never counts in a measurement.
 */
import { onShutdownSignal } from '../lib/worker/shutdown.js';
import type { Logger } from '../lib/observe/logger.js';

export function readyThenGo(info: Record<string, unknown> = {}): Promise<void> {
  if (!process.send) throw new Error('bench child started without an IPC channel');
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (m !== 'go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send!({ type: 'ready', pid: process.pid, ...info });
  });
}

/**
 * Send a result to the parent (e.g. the bare model loop's timing); resolves once it is written, so
 * that leaving right after does not cut a large message short.
 */
export function report(data: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return resolve();
    process.send({ type: 'result', ...data }, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

/** Leave once stopped: drop the IPC channel so the event loop can end. */
export function leave(code = 0): never {
  process.exit(code);
}

/**
 * The gate of a process running `n` stages: each stage's `init` awaits the returned function;
 * `ready` is sent once all `n` have arrived (everything loaded), and `go` lets them all start.
 */
export function sharedGate(n: number, info: Record<string, unknown> = {}): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((res) => (release = res));
  return () => {
    if (++arrived === n) void readyThenGo(info).then(release);
    return all;
  };
}

/** Run one real Worker (or a process of several, lib/worker/process.ts) until SIGTERM/SIGINT (it drains), then leave. */
export async function runWorkerThenLeave(worker: { run(): Promise<void>; stop(): Promise<void>; logger: Logger }): Promise<never> {
  onShutdownSignal(() => worker.stop(), worker.logger);
  try {
    await worker.run();
  } finally {
    await worker.stop();
  }
  return leave();
}
