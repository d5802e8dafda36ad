/**
 * Bench child: one real `Worker` (lib/worker/worker.ts) running stage `argv[3]` of the config in
 * `argv[2]`, with a trivial stage kind registered here (it records the title length). It waits at
 * the start gate inside `init`, so the worker has loaded and connected before timing starts.
 */
import { loadConfigFile } from '../lib/config/load.js';
import { ok, type StageFactory } from '../lib/worker/stage.js';
import { Worker } from '../lib/worker/worker.js';
import { readyThenGo, runWorkerThenLeave } from './gate.js';
import { trivialOutput } from './trivial.js';

const [configPath, stage] = process.argv.slice(2);
if (!configPath || !stage) throw new Error('usage: trivial-worker.ts CONFIG STAGE');

const trivial: StageFactory = (ctx) => ({
  kind: 'trivial',
  async init() {
    await ctx.redis.ping(); // open the command connection before the gate
    await readyThenGo({ stage });
  },
  async process(batch) {
    return batch.map((m) => ok(trivialOutput(m.envelope)));
  },
});

await runWorkerThenLeave(new Worker({ config: loadConfigFile(configPath), stage, stages: { trivial } }));
