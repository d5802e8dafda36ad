import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** transformers.js's file suffix of each `transformers.js_config.dtype` (its DEFAULT_DTYPE_SUFFIX_MAPPING). */
const DTYPE_SUFFIX: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

export interface ModelFileProblem {
  /** The file's full path. */
  file: string;
  problem: string;
}

function fileSize(path: string): number | 'missing' | 'not a file' {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : 'not a file';
  } catch {
    return 'missing';
  }
}

function jsonObject(path: string): { value?: Record<string, unknown>; problem?: string } {
  const size = fileSize(path);
  if (typeof size !== 'number') return { problem: size };
  if (size === 0) return { problem: 'empty' };
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { problem: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { problem: 'not a JSON object' };
  return { value: value as Record<string, unknown> };
}

/**
 * The first file of a local model folder that transformers.js would fail on, or undefined: the
 * Hugging Face layout's config.json, tokenizer.json and tokenizer_config.json must be JSON objects,
 * and the ONNX file its config's dtype names (onnx/model.onnx for fp32 or none) must not be empty.
 * (transformers.js said "Cannot read properties of undefined (reading 'tokenizer_class')" or
 * "Unexpected end of JSON input" without a file name, ONNX Runtime a page about protobuf.)
 */
export function modelFileProblem(folder: string): ModelFileProblem | undefined {
  let config: Record<string, unknown> | undefined;
  for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    const file = join(folder, name);
    const { value, problem } = jsonObject(file);
    if (problem) return { file, problem };
    if (name === 'config.json') config = value;
  }
  const dtype = (config?.['transformers.js_config'] as { dtype?: unknown } | undefined)?.dtype ?? 'fp32';
  // A per-file dtype map or one this list does not know: transformers.js picks the file and says what is wrong.
  const suffix = typeof dtype === 'string' ? DTYPE_SUFFIX[dtype] : undefined;
  if (suffix === undefined) return undefined;
  const file = join(folder, 'onnx', `model${suffix}.onnx`);
  const size = fileSize(file);
  if (typeof size !== 'number') return { file, problem: size };
  if (size === 0) return { file, problem: 'empty' };
  return undefined;
}
