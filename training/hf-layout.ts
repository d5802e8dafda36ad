/** Writes one self-contained model directory in the Hugging Face layout transformers.js loads. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OnnxGraph } from './onnx-writer.js';
import { MODEL_MAX_LENGTH, PAD_ID, tokenizerConfigJson, tokenizerJson, type Vocab } from './tokenizer.js';

export const PRODUCER = 'streamline-enrich scripts/models';

export type Architecture = 'BertForSequenceClassification' | 'BertForTokenClassification' | 'BertModel';

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  vocab: Vocab;
  /** id2label for classification heads. */
  labels?: readonly string[];
  /** Human-readable summary of the actual (non-transformer) network. */
  description: string;
}

function configJson(c: ModelConfig): object {
  const labels = c.labels ?? [];
  return {
    model_type: 'bert',
    architectures: [c.architecture],
    hidden_size: c.hiddenSize,
    vocab_size: c.vocab.tokens.length,
    max_position_embeddings: MODEL_MAX_LENGTH,
    pad_token_id: PAD_ID,
    ...(labels.length > 0
      ? {
          id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
          label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
        }
      : {}),
    description: c.description,
    'transformers.js_config': { dtype: 'fp32' },
  };
}

const json = (v: object): string => `${JSON.stringify(v, null, 2)}\n`;

/** Returns the paths written, relative to the model directory. */
export function writeModelDir(dir: string, config: ModelConfig, graph: OnnxGraph): string[] {
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  const files: Record<string, string | Uint8Array> = {
    'config.json': json(configJson(config)),
    'tokenizer.json': json(tokenizerJson(config.vocab)),
    'tokenizer_config.json': json(tokenizerConfigJson()),
    'onnx/model.onnx': graph.toBytes(PRODUCER),
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return Object.keys(files);
}
