import { onShutdownSignal } from '../../lib/shutdown.js';
import { Worker } from '../../lib/worker.js';
import { STAGES } from '../../stages/index.js';
import { loadConfig, type GlobalOptions } from '../common.js';

/** `pipeline worker <stage>`: one stage consumer; SIGTERM drains and exits 0. */
export async function workerCommand(stage: string, opts: GlobalOptions): Promise<void> {
  const config = loadConfig(opts);
  const worker = new Worker({ config, stage, stages: STAGES });
  onShutdownSignal(() => worker.stop(), worker.logger);
  try {
    await worker.run();
  } finally {
    await worker.stop();
  }
}
