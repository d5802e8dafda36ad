/**
 * The child side of the bench's start gate: a stage process loads everything it needs, says
 * `ready` over IPC, and starts its work only on `go`, so start-up never counts in a measurement.
 */
import { onShutdownSignal } from '../lib/worker/shutdown.js';
import type { Worker } from '../lib/worker/worker.js';

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

/** Send a result to the parent (e.g. the bare model loop's timing). */
export function report(data: Record<string, unknown>): void {
  process.send?.({ type: 'result', ...data });
}

/** Leave once stopped: drop the IPC channel so the event loop can end. */
export function leave(code = 0): never {
  process.exit(code);
}

/** Run one real Worker until SIGTERM/SIGINT (it drains), then leave. */
export async function runWorkerThenLeave(worker: Worker): Promise<never> {
  onShutdownSignal(() => worker.stop(), worker.logger);
  try {
    await worker.run();
  } finally {
    await worker.stop();
  }
  return leave();
}
