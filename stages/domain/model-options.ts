import type { ResolvedConfig, ResolvedStage } from '../../lib/config/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { missingModel, type ModelLoadOptions } from '../../lib/models/loader.js';
import { modelVersion } from '../../lib/models/provenance.js';
import { modelsDirOf } from './model-labels.js';
import { categoryWeightsHash, categoryWeightsOf } from './category-weights.js';
import type { StageContext } from '../../lib/worker/stage.js';

/**
 * How a model stage loads its model: the name from config (a folder in models/, or a hub id),
 * ONNX Runtime threads from the stage option `threads`, remote loading only when
 * `settings.allowRemoteModels` or env ALLOW_REMOTE_MODELS=1 allows it (default off), and the
 * models folder from `settings.modelsDir` (relative to the config file) or env MODELS_DIR (default <repo>/models).
 */
export interface ModelStageOptions {
  name: string;
  load: ModelLoadOptions;
}

export function modelOptions(ctx: StageContext): ModelStageOptions {
  const { stage } = ctx;
  if (!stage.model) throw new ConfigError(`stages.${stage.name}.model`, `stage kind ${stage.kind} needs a model`);
  const s = stage.settings;
  const allowRemote = s.allowRemoteModels === true || process.env.ALLOW_REMOTE_MODELS === '1';
  const modelsDir = typeof s.modelsDir === 'string' ? s.modelsDir : process.env.MODELS_DIR;
  return { name: stage.model, load: { threads: stage.threads, allowRemoteModels: allowRemote, localModelPath: modelsDir } };
}

/** Throws ConfigError naming the stage when its model is not a folder here and remote loading is off (`pipeline up` checks before starting). */
export function checkModelFolder(stage: ResolvedStage, env: NodeJS.ProcessEnv = process.env): void {
  if (!stage.model || stage.settings.allowRemoteModels === true || env.ALLOW_REMOTE_MODELS === '1') return;
  const missing = missingModel(stage.model, modelsDirOf(stage, env));
  if (missing) throw new ConfigError(`stages.${stage.name}.model`, missing);
}

/**
 * checkModelFolder on every stage of `config`, each failure kept: what `pipeline status` warns of
 * and `deploy render` refuses, in the words `up`, `start` and `eval` refuse to start with.
 */
export function modelFolderErrors(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const stage of config.stages) {
    try {
      checkModelFolder(stage, env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
  return errors;
}

export { modelsDirOf };

/**
 * The `modelVersion` a stage writes with the models this process sees (`<name>@sha256:<16 hex>`,
 * the bare name for a model whose files are not local), plus `+weights:<8 hex>` for a classify stage's
 * `settings.categoryWeights`; undefined for a stage without a model.
 */
export function stageModelVersion(stage: ResolvedStage, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!stage.model) return undefined;
  const version = modelVersion(stage.model, modelsDirOf(stage, env));
  const weights = categoryWeightsOf(stage);
  // Category weights change what the model answers: `pipeline reprocess` sees records classified under other weights as another version.
  // No weight other than 1 (or none at all): the model answers as it does alone, the same version.
  if (weights === undefined || Object.values(weights).every((w) => w === 1)) return version;
  return `${version}+weights:${categoryWeightsHash(weights)}`;
}

/** Every model stage's current version, by stage name (what `pipeline reprocess` compares stored provenance with). */
export function currentModelVersions(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const stage of config.stages) {
    const v = stageModelVersion(stage, env);
    if (v !== undefined) out[stage.name] = v;
  }
  return out;
}

/** The text a model stage reads: preprocess's cleaned text, else the raw title. */
export function modelText(outputs: Record<string, unknown>, title: string): string {
  for (const o of Object.values(outputs)) {
    const t = (o as { text?: unknown } | undefined)?.text;
    if (typeof t === 'string' && t) return t;
  }
  return title;
}
