/**
 * Bench child: one real `Worker` running a model pipeline stage (`argv[3]`) of the config in
 * `argv[2]`, with the project's stage kinds (stages/). Each stage is wrapped only to wait at the
 * start gate after its `init` (models loaded and warmed), so loading never counts in a measurement.
 */
import { loadConfigFile } from '../lib/config/load.js';
import type { StageFactory } from '../lib/worker/stage.js';
import { Worker } from '../lib/worker/worker.js';
import { createClassify } from '../stages/classify.js';
import { createExtract } from '../stages/extract.js';
import { STAGES } from '../stages/index.js';
import { readyThenGo, runWorkerThenLeave } from './gate.js';

const [configPath, stage] = process.argv.slice(2);
if (!configPath || !stage) throw new Error('usage: model-worker.ts CONFIG STAGE');

const kinds: Record<string, StageFactory> = { classify: createClassify, extract: createExtract, ...STAGES };
const gated: Record<string, StageFactory> = {};
for (const [kind, factory] of Object.entries(kinds)) {
  gated[kind] = (ctx) => {
    const inner = factory(ctx);
    return {
      kind: inner.kind,
      model: inner.model,
      sink: inner.sink,
      async init() {
        await inner.init?.();
        await ctx.redis.ping();
        await readyThenGo({ stage });
      },
      process: (batch) => inner.process(batch),
      close: async () => inner.close?.(),
    };
  };
}

await runWorkerThenLeave(new Worker({ config: loadConfigFile(configPath), stage, stages: gated }));
