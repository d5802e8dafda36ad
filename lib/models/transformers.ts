/**
 * transformers.js (with ONNX Runtime and sharp under it), imported on first use: about 0.25 s of
 * CPU that a process which never loads a model (`pipeline status`, `produce`, a rules-only worker,
 * the API without model stages) would otherwise pay at every start.
 */
type Transformers = typeof import('@huggingface/transformers');

let loaded: Transformers | undefined;

/** The module, imported once. */
export async function transformers(): Promise<Transformers> {
  return (loaded ??= await import('@huggingface/transformers'));
}

/** The module, already imported by `transformers()` (a model loaded): for code that runs after a load, synchronously. */
export function transformersLoaded(): Transformers {
  if (!loaded) throw new Error('transformers.js is used before any model was loaded (await transformers() first)');
  return loaded;
}
