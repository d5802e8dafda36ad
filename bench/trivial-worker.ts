/**
 * Bench child: real `Worker`s (lib/worker/worker.ts) running stage(s) `argv[3]` (a comma list runs
 * them in one process, lib/worker/process.ts) of the config in `argv[2]`, with a trivial stage
 * kind registered here (it records the title length). Every stage waits at the start gate inside
 * `init`, so the process has loaded and connected before timing starts.
 */
import { loadConfigFile } from '../lib/config/load.js';
import { ok, type StageFactory } from '../lib/worker/stage.js';
import { StageProcess } from '../lib/worker/process.js';
import { runWorkerThenLeave, sharedGate } from './gate.js';
import { trivialOutput } from './trivial.js';

const [configPath, arg] = process.argv.slice(2);
if (!configPath || !arg) throw new Error('usage: trivial-worker.ts CONFIG STAGE[,STAGE...]');
const stages = arg.split(',');
const gate = sharedGate(stages.length, { stage: arg });

const trivial: StageFactory = (ctx) => ({
  kind: 'trivial',
  async init() {
    await ctx.redis.ping(); // open the command connection before the gate
    await gate();
  },
  async process(batch) {
    return batch.map((m) => ok(trivialOutput(m.envelope)));
  },
});

await runWorkerThenLeave(new StageProcess({ config: loadConfigFile(configPath), stages, kinds: { trivial } }));
