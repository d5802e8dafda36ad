/**
 * Bench child: real `Worker`s running model pipeline stage(s) `argv[3]` (a comma list runs them in
 * one process, lib/worker/process.ts) of the config in `argv[2]`, with the project's stage kinds
 * (stages/). Each stage is wrapped only to wait at the start gate after its `init` (models loaded
 * and warmed), so loading never counts in a measurement.
 */
import { loadConfigFile } from '../lib/config/load.js';
import type { StageFactory } from '../lib/worker/stage.js';
import { StageProcess } from '../lib/worker/process.js';
import { createClassify } from '../stages/classify.js';
import { createExtract } from '../stages/extract.js';
import { STAGES } from '../stages/index.js';
import { runWorkerThenLeave, sharedGate } from './gate.js';

const [configPath, arg] = process.argv.slice(2);
if (!configPath || !arg) throw new Error('usage: model-worker.ts CONFIG STAGE[,STAGE...]');
const stages = arg.split(',');
const gate = sharedGate(stages.length, { stage: arg });

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
        await gate();
      },
      process: (batch) => inner.process(batch),
      close: async () => inner.close?.(),
    };
  };
}

await runWorkerThenLeave(new StageProcess({ config: loadConfigFile(configPath), stages, kinds: gated }));
