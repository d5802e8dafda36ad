/**
 * Loads a model directory through transformers.js: tokenizer plus the ONNX model
 * behind the Auto class for its task. Local files only by default; set
 * `allowRemoteModels` to resolve a Hugging Face hub id instead.
 *
 * A local model is loaded by its folder's absolute path, never by its name under transformers.js's
 * global `env.localModelPath`: transformers.js keys its in-flight loads and its file cache by the id
 * it is given, and reads `env.localModelPath` only after an await, so two models of one name in two
 * folders loaded at once (two stages of one process) had both got the files of the folder set last.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PreTrainedModel, PreTrainedTokenizer, Tensor } from '@huggingface/transformers';
import { ModelFilesError, ModelLoadError } from '../core/errors.js';
import { modelFileProblem } from './model-files.js';
import { DEFAULT_MODEL_PATH } from './provenance.js';
import { tokenizeRows, tokenizerId, type PadOptions, type TokenizedBatch, type TokenRows } from './token-rows.js';
import { transformers } from './transformers.js';

export { DEFAULT_MODEL_PATH, ModelFilesError, ModelLoadError };
export type { TokenizedBatch, TokenRows };

export interface ModelLoadOptions {
  /**
   * Directory that holds one folder per model.
   * @defaultValue `<repo>/models/`
   */
  localModelPath?: string;
  /**
   * Let transformers.js download a model that is not found locally (hub id as the name).
   * @defaultValue false
   */
  allowRemoteModels?: boolean;
  /**
   * ONNX Runtime intra-op threads per session (`session_options.intraOpNumThreads`).
   * @defaultValue 1
   */
  threads?: number;
  /**
   * Run one dummy batch after loading so the first real call is not slower.
   * @defaultValue true
   */
  warmup?: boolean;
}

export type ModelTask = 'sequence-classification' | 'token-classification' | 'feature-extraction';

const AUTO_CLASSES = {
  'sequence-classification': 'AutoModelForSequenceClassification',
  'token-classification': 'AutoModelForTokenClassification',
  'feature-extraction': 'AutoModel',
} as const;

export interface LoadedModel {
  name: string;
  tokenizer: PreTrainedTokenizer;
  model: PreTrainedModel;
  /** id2label of the model config (empty for feature extraction). */
  labels: string[];
  /** What the tokenizer does (token-rows.ts): models with the same id can share token rows. */
  tokenizerId: string;
  /**
   * One tokenizer call over the batch: padded, truncated to model_max_length. With `known`
   * (token-rows.ts), only texts without a row are tokenised, and their rows are written into it.
   */
  tokenize(texts: string[], known?: TokenRows): TokenizedBatch;
  /** One model run; returns the named output tensor. */
  run(batch: TokenizedBatch, output: string): Promise<Tensor>;
  close(): Promise<void>;
}

function labelsOf(model: PreTrainedModel): string[] {
  const config = model.config as { id2label?: Record<string, string> };
  const id2label = config.id2label ?? {};
  return Object.keys(id2label)
    .map(Number)
    .sort((a, b) => a - b)
    .map((i) => id2label[String(i)] ?? String(i));
}

/**
 * Why `name` cannot load from `dir` with remote loading off, or undefined when its folder is there
 * with the files transformers.js reads (model-files.ts: the file and what is wrong with it).
 * (transformers.js said only "Cannot read properties of undefined (reading 'tokenizer_class')".)
 */
export function missingModel(name: string, dir: string): string | undefined {
  if (existsSync(join(dir, name, 'config.json'))) {
    const p = modelFileProblem(join(dir, name));
    return p && `${p.file}: ${p.problem}`;
  }
  let here: string[] = [];
  try {
    here = readdirSync(dir).filter((d) => existsSync(join(dir, d, 'config.json')));
  } catch {
    // no such folder: listed as none
  }
  return (
    `no model folder ${join(dir, name)} with a config.json (models in ${dir}: ${here.join(', ') || 'none'}); ` +
    'a hub model id needs remote loading on (settings.allowRemoteModels, or env ALLOW_REMOTE_MODELS=1)'
  );
}

export async function loadModel(name: string, task: ModelTask, options: ModelLoadOptions = {}): Promise<LoadedModel> {
  const dir = resolve(options.localModelPath ?? DEFAULT_MODEL_PATH);
  const remote = options.allowRemoteModels ?? false;
  const folder = join(dir, name);
  // A local model folder (with remote loading on too: it comes first) is checked here, so a missing or
  // broken file is named; a hub id, no folder here, goes to transformers.js as it is.
  const local = existsSync(join(folder, 'config.json'));
  if (local) {
    const p = modelFileProblem(folder);
    if (p) throw new ModelFilesError(name, p.file, p.problem);
  }
  const missing = local || remote ? undefined : missingModel(name, dir);
  if (missing) throw new ModelLoadError(name, missing);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new ModelLoadError(name, `threads must be a positive integer, got ${threads}`);
  // What transformers.js is given: a local model's absolute folder (no hub id: it reads exactly these
  // files, whatever another load sets in its global env meanwhile), or the hub id; remote loading is
  // per call (`local_files_only`), the global switch only ever turned on, so a concurrent load of a
  // hub model is not turned off by a local one.
  const id = local ? folder : name;
  const from = { local_files_only: local || !remote };
  const { AutoTokenizer, env, [AUTO_CLASSES[task]]: Auto } = await transformers();
  env.allowLocalModels = true;
  if (remote && !local) env.allowRemoteModels = true;
  let tokenizer: PreTrainedTokenizer;
  let model: PreTrainedModel;
  try {
    // In parallel: the tokenizer's JSON is parsed while ONNX Runtime reads and initialises the model.
    [tokenizer, model] = await Promise.all([
      AutoTokenizer.from_pretrained(id, from),
      Auto.from_pretrained(id, {
        ...from,
        session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
      }),
    ]);
  } catch (err) {
    const where = local ? folder : remote ? `${dir} or the hub` : dir;
    throw new ModelLoadError(name, `${err instanceof Error ? err.message : String(err)} (looked in ${where})`, { cause: err });
  }
  const pad: PadOptions = {
    padId: tokenizer.pad_token_id ?? 0,
    side: tokenizer.padding_side === 'left' ? 'left' : 'right',
    typeIds: 'token_type_ids' in (tokenizer('a') as object),
  };
  const loaded: LoadedModel = {
    name,
    tokenizer,
    model,
    labels: labelsOf(model),
    tokenizerId: tokenizerId(tokenizer, name),
    tokenize: (texts, known) => tokenizeRows(tokenizer, texts, pad, known),
    run: async (batch, output) => {
      const out = (await model(batch)) as Record<string, Tensor | undefined>;
      const tensor = out[output];
      if (tensor === undefined) throw new ModelLoadError(name, `model has no output ${output}`);
      return tensor;
    },
    close: async () => {
      await model.dispose();
    },
  };
  if (options.warmup ?? true) {
    const outputName = task === 'feature-extraction' ? 'last_hidden_state' : 'logits';
    await loaded.run(loaded.tokenize(['warm-up title 1', 'a']), outputName);
  }
  return loaded;
}

/** Row-major Float32 data of an output tensor. */
export function floatData(t: Tensor): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new TypeError(`expected a float32 tensor, got ${t.type}`);
  return t.data;
}

/** Number of real (unpadded) tokens of each row of the attention mask. */
export function rowLengths(mask: Tensor): number[] {
  const [batch = 0, seq = 0] = mask.dims;
  const data = mask.data as BigInt64Array;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    let n = 0;
    for (let s = 0; s < seq; s++) if (data[b * seq + s] !== 0n) n++;
    out.push(n);
  }
  return out;
}
