import { ConfigError } from '../../lib/errors.js';
import type { StageContext } from '../../lib/stage.js';

/** How a model stage loads its model: name from config, local models/ dir unless remote loading is allowed. */
export interface ModelStageOptions {
  name: string;
  /** ONNX Runtime intra-op threads (stage option `threads`). */
  threads: number;
  /** Let transformers.js fetch hub model ids (settings.allowRemoteModels or env ALLOW_REMOTE_MODELS=1). @defaultValue false */
  allowRemote: boolean;
  /** Folder holding <name>/ model dirs (settings.modelsDir or env MODELS_DIR). @defaultValue <repo>/models */
  modelsDir?: string;
}

export function modelOptions(ctx: StageContext): ModelStageOptions {
  const { stage } = ctx;
  if (!stage.model) throw new ConfigError(`stages.${stage.name}.model`, `stage kind ${stage.kind} needs a model`);
  const s = stage.settings;
  return {
    name: stage.model,
    threads: stage.threads,
    allowRemote: s.allowRemoteModels === true || process.env.ALLOW_REMOTE_MODELS === '1',
    modelsDir: typeof s.modelsDir === 'string' ? s.modelsDir : process.env.MODELS_DIR,
  };
}

/** The text a model stage reads: preprocess's cleaned text, else the raw title. */
export function modelText(outputs: Record<string, unknown>, title: string): string {
  for (const o of Object.values(outputs)) {
    const t = (o as { text?: unknown } | undefined)?.text;
    if (typeof t === 'string' && t) return t;
  }
  return title;
}
