/**
 * Bench child: the model baseline, a bare in-process loop over the same models and routes as the
 * model pipeline, no Redis. Records wait in one in-memory queue per stage; a stage runs on batches
 * of `batch` (the pipeline's batch size) as soon as its queue has one, and on what is left at the
 * end. Classify and extract call lib/models directly (tokenizer + model per batch) and turn the
 * predictions into outputs with the stages' own functions (`classificationOutput`,
 * `extractionFields` with the extract stage's identifier rules); preprocess is the real preprocess
 * code. Both sides do the same work: the bench compares their outputs record by record
 * (bench/model-outputs.ts) when the 5th argument is `outputs`: the loop then keeps every record's
 * outputs to the end (otherwise they are dropped as each record is done, as a real loop would).
 * argv: CONFIG RECORDS BATCH THREADS [outputs]
 */
import { resolveConfig } from '../lib/config/load.js';
import type { Message, ProductRecord } from '../lib/stream/codec.js';
import { newEnvelope } from '../lib/stream/codec.js';
import { silentLogger } from '../lib/observe/logger.js';
import { noopMetrics } from '../lib/observe/metrics.js';
import { loadClassifier, loadExtractor } from '../lib/models/index.js';
import { Keys } from '../lib/redis/keys.js';
import { compileRoutes } from '../lib/stream/router.js';
import type { ResolvedStage } from '../lib/config/types.js';
import type { StageContext } from '../lib/worker/stage.js';
import { extractionFields } from '../stages/extract.js';
import { classificationOutput } from '../stages/classify.js';
import { categoryWeightsOf } from '../stages/domain/category-weights.js';
import { identifierRules } from '../stages/domain/identifier-rules.js';
import { modelsDirOf, modelText } from '../stages/domain/model-options.js';
import { attributeNames } from '../stages/domain/model-labels.js';
import { IDENTIFIER_TYPES } from '../stages/domain/attribute-spans.js';
import { outputDigest } from './model-outputs.js';
import { join } from 'node:path';
import { createPreprocess } from '../stages/preprocess.js';
import { parseGroups } from '../lib/stream/category-groups.js';
import { identifiersIn, latestValues } from '../stages/domain/summary.js';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { leave, readyThenGo, report } from './gate.js';
import { devTitles } from './records.js';
import { REST_STAGE } from './transport-config.js';

const [configPath, recordsArg, batchArg, threadsArg, outputsArg] = process.argv.slice(2);
if (!configPath || !recordsArg || !batchArg || !threadsArg) throw new Error('usage: bare-models.ts CONFIG RECORDS BATCH THREADS [outputs]');
const batch = Number(batchArg);
const threads = Number(threadsArg);
const config = resolveConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath, { env: {} });
const routers = compileRoutes(config.routes, config.stages, config.streams.terminal);

type Item = { record: ProductRecord; outputs: Record<string, unknown> };
type Run = (items: Item[]) => Promise<Record<string, unknown>[]>;

async function runnerFor(stage: ResolvedStage): Promise<Run> {
  const opts = { threads, localModelPath: typeof stage.settings.modelsDir === 'string' ? stage.settings.modelsDir : process.env.MODELS_DIR };
  const texts = (items: Item[]) => items.map((i) => modelText(i.outputs, i.record.title));
  switch (stage.kind) {
    case 'preprocess': {
      // Preprocess never touches Redis; the bare loop has no connection to give it.
      const ctx = {
        config,
        stage,
        keys: new Keys(config.pipeline),
        redis: undefined as unknown as Redis,
        logger: silentLogger,
        metrics: noopMetrics,
      } satisfies StageContext;
      const impl = createPreprocess(ctx);
      return async (items) => {
        const msgs: Message[] = items.map((i, n) => ({ id: String(n), stream: stage.input, envelope: newEnvelope(i.record) }));
        return (await impl.process(msgs)).map((r) => (r.ok ? r.output : { error: r.error.message }));
      };
    }
    case 'classify': {
      // The stage's category weights too (settings.categoryWeights), as the classify stage loads it.
      const model = await loadClassifier(stage.model, { ...opts, categoryWeights: categoryWeightsOf(stage) });
      // Routes may name the category's group (settings.groups), as the classify stage outputs it.
      const groups = parseGroups(`stages.${stage.name}.settings.groups`, stage.settings.groups);
      return async (items) => (await model.classify(texts(items))).map((p) => classificationOutput(p, groups));
    }
    case 'extract': {
      const model = await loadExtractor(stage.model!, opts);
      const rules = identifierRules(`stages.${stage.name}.settings`, stage.settings, join(modelsDirOf(stage), stage.model!));
      const attributes = attributeNames(model.labels, IDENTIFIER_TYPES);
      return async (items) => {
        const ts = texts(items);
        // A barcode the text cleaner found (preprocess's `gtin`), read as the stage reads it from the envelope.
        const ruleGtin = (i: Item) => identifiersIn(latestValues(Object.values(i.outputs) as Record<string, unknown>[])).gtin;
        return (await model.extract(ts)).map((raw, n) => extractionFields(ts[n]!, raw, rules, ruleGtin(items[n]!), attributes));
      };
    }
    default:
      throw new Error(`bare loop: no runner for stage kind ${stage.kind}`);
  }
}

// The stage standing for the rest of the pipeline (REST_STAGE) is not run: what reaches it is done.
const stages = config.stages.filter((s) => s.name !== REST_STAGE);
const byInput = new Map(stages.map((s) => [s.input, s]));
const runners = new Map<string, Run>();
for (const s of stages) runners.set(s.name, await runnerFor(s));
const queues = new Map<string, Item[]>(stages.map((s) => [s.name, []]));
const records = devTitles(Number(recordsArg));

await readyThenGo({ stage: 'bare' });
const t0 = performance.now();
const items: Item[] | undefined = outputsArg === 'outputs' ? [] : undefined;
queues.get(byInput.get(config.input)!.name)!.push(
  ...records.map((record) => {
    const item: Item = { record, outputs: {} };
    items?.push(item);
    return item;
  }),
);
let done = 0;
const calls: Record<string, number> = {};

/** Run one batch of `stage` and route each output to the next queue (or count it done). */
async function step(stage: ResolvedStage, items: Item[]): Promise<void> {
  calls[stage.name] = (calls[stage.name] ?? 0) + 1;
  const outputs = await runners.get(stage.name)!(items);
  const router = routers.get(stage.name);
  outputs.forEach((out, i) => {
    const item = items[i]!;
    item.outputs[stage.name] = out;
    const targets = router ? router.route(out).targets : [];
    let forwarded = false;
    for (const t of targets) {
      const next = byInput.get(t);
      if (next) {
        queues.get(next.name)!.push(item);
        forwarded = true;
      }
    }
    if (!forwarded) done++;
  });
}

// Full batches first, stage by stage in config order; then whatever is left, until every queue is empty.
for (;;) {
  let ran = false;
  for (const s of stages) {
    const q = queues.get(s.name)!;
    while (q.length >= batch) {
      await step(s, q.splice(0, batch));
      ran = true;
    }
  }
  if (ran) continue;
  const rest = stages.find((s) => queues.get(s.name)!.length > 0);
  if (!rest) break;
  await step(rest, queues.get(rest.name)!.splice(0, batch));
}
const seconds = (performance.now() - t0) / 1000;
// Each record's outputs, after the timing, for the bench to compare with the pipeline's (bench/model-outputs.ts).
await report({ records: records.length, done, seconds, calls, outputs: items && Object.fromEntries(items.map((i) => [i.record.id, outputDigest(i.outputs)])) });
leave();
