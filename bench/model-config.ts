import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PipelineConfig, RouteRule, StageConfig } from '../lib/config/types.js';
import { REST_STAGE, restStage } from './transport-config.js';

/** Stage kinds the model bench keeps from the pipeline config. */
export const MODEL_KINDS = ['preprocess', 'classify', 'extract'];
/** Where the bench's model pipeline ends: extract (and anything routed past it) hands off to `out`, the input of the rest of the pipeline (validate, match, store), which is not run (`restStage`). */
export const MODEL_OUT = 'out';
export const REPO = resolve(import.meta.dirname, '..');
export const DEFAULT_MODEL_CONFIG = resolve(REPO, 'config/pipeline.json');

/**
 * Used when config/pipeline.json has no classify stage yet: the shipped models and the category
 * groups they were trained on (training/labels.ts), every record going through an extractor.
 */
const FALLBACK: PipelineConfig = {
  input: 'in',
  stages: [
    { name: 'preprocess', kind: 'preprocess', input: 'in' },
    { name: 'classify', kind: 'classify', model: 'product-category' },
    { name: 'extract.electronics', kind: 'extract', model: 'extract-electronics' },
    { name: 'extract.computing', kind: 'extract', model: 'extract-computing' },
    { name: 'extract.accessories', kind: 'extract', model: 'extract-accessories' },
  ],
  routes: {
    preprocess: [{ to: 'classify' }],
    classify: [
      { when: { category: { in: ['audio', 'cameras_photo', 'tv_video', 'phones_radios', 'gps_auto', 'security_surveillance'] } }, to: 'extract.electronics' },
      { when: { category: { in: ['computers', 'networking', 'peripherals', 'storage', 'software', 'printers_ink'] } }, to: 'extract.computing' },
      { to: 'extract.accessories' },
    ],
  },
};

export interface ModelBenchConfig {
  config: PipelineConfig;
  /** Where it came from (a file, or the built-in fallback). */
  source: string;
}

/** Process of a model stage: the config's (`colocate` undefined), all in `models` (true), or its own (false). */
function processFor(s: StageConfig, colocate: boolean | undefined): string | undefined {
  if (colocate === undefined) return s.process;
  return colocate ? 'models' : undefined;
}

/**
 * The model part of a pipeline config: its preprocess, classify and extract stages with their
 * routes; any route target outside them (validate, match, store, ...) becomes `out`, the input of
 * a stage standing for the rest of the pipeline that is never started (`REST_STAGE`).
 * Batch size and ONNX threads are the bench's, the same for every stage. Stages share processes as
 * the config's `process` says, unless `colocate` is given: true puts them all in one, false none.
 */
export function modelBenchConfig(pipeline: string, batchSize: number, threads: number, path = DEFAULT_MODEL_CONFIG, colocate?: boolean): ModelBenchConfig {
  let raw: PipelineConfig | undefined;
  let source = path;
  if (existsSync(path)) raw = JSON.parse(readFileSync(path, 'utf8')) as PipelineConfig;
  if (!raw?.stages.some((s) => s.kind === 'classify')) {
    raw = FALLBACK;
    source = `built-in (${path} has no classify stage)`;
  }
  const stages: StageConfig[] = raw.stages
    .filter((s) => MODEL_KINDS.includes(s.kind))
    .map((s) => ({ name: s.name, kind: s.kind, input: s.input, model: s.model, settings: s.settings, batchSize, threads, process: processFor(s, colocate) }));
  const inputs = new Set(stages.map((s) => s.input ?? s.name));
  const terminal = [...new Set(raw.streams?.terminal ?? ['review'])].filter((t) => t !== MODEL_OUT);
  const retarget = (t: string) => (inputs.has(t) || terminal.includes(t) ? t : MODEL_OUT);
  const routes: Record<string, RouteRule[]> = {};
  for (const s of stages) {
    const rules = s.kind === 'extract' ? [{ to: MODEL_OUT }] : (raw.routes[s.name] ?? [{ to: MODEL_OUT }]);
    routes[s.name] = rules.map((r) => {
      const to = [...new Set((typeof r.to === 'string' ? [r.to] : r.to).map(retarget))];
      return { ...r, to: to.length === 1 ? to[0]! : to };
    });
  }
  return {
    source,
    config: {
      pipeline,
      input: raw.input ?? 'in',
      streams: { ...raw.streams, terminal },
      limits: raw.limits,
      stages: [...stages, restStage(MODEL_OUT)],
      routes,
    },
  };
}

/** Folder of a stage's model files (settings.modelsDir, env MODELS_DIR, else <repo>/models). */
export function modelDir(stage: StageConfig): string {
  const dir = typeof stage.settings?.modelsDir === 'string' ? stage.settings.modelsDir : (process.env.MODELS_DIR ?? resolve(REPO, 'models'));
  return resolve(dir, stage.model ?? '');
}

/** Model stages whose model file is missing (empty: everything is built). */
/** The stages the bench runs (all but `REST_STAGE`). */
export const benchStages = (config: PipelineConfig): StageConfig[] => config.stages.filter((s) => s.name !== REST_STAGE);

export function missingModels(config: PipelineConfig): string[] {
  return config.stages.filter((s) => s.model && !existsSync(resolve(modelDir(s), 'onnx/model.onnx'))).map((s) => `${s.name} (${s.model})`);
}
